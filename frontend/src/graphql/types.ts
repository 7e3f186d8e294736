/**
 * TypeScript shapes of the GraphQL types the UI reads, written once by hand
 * from schema.graphql (the schema is not final yet; operations.test.ts keeps
 * operations and schema in step).
 */

export const JOB_STATES = [
  'PENDING',
  'RECEIVED',
  'STARTED',
  'PROGRESS',
  'RETRY',
  'SUCCESS',
  'FAILURE',
  'REVOKED',
] as const;
export type JobState = (typeof JOB_STATES)[number];

/** Final states: nothing replaces them (taskqueue.states.READY_STATES). */
export const FINAL_STATES: ReadonlySet<JobState> = new Set(['SUCCESS', 'FAILURE', 'REVOKED']);

export const PRIORITIES = ['high', 'default', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];

/** A JSON scalar: a value, or (graphene JSONString) its JSON text. Read with `parseJsonScalar`. */
export type JsonScalar = unknown;

export interface Progress {
  current: number | null;
  total: number | null;
  percent: number | null;
  message: string | null;
}

/** What changes while a job runs: the fields every subscription event carries. */
export interface JobLive {
  __typename?: 'Job';
  id: string;
  state: JobState;
  progress: Progress | null;
  attempts: number;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  worker: string | null;
}

export interface JobRow extends JobLive {
  provider: string;
}

export interface JobDetail extends JobRow {
  params: JsonScalar;
  result: JsonScalar;
}

export interface JobEvent {
  attempt: number;
  state: JobState;
  at: string;
  worker: string | null;
  error: string | null;
}

export interface JobExtras {
  __typename?: 'Job';
  id: string;
  priority: string | null;
  queuedAt: string | null;
  traceback: string | null;
  history: JobEvent[] | null;
}

export interface PageInfo {
  hasNextPage: boolean;
  endCursor: string | null;
}

export interface JobConnection {
  totalCount: number;
  edges: ({ cursor: string; node: JobRow | null } | null)[];
  pageInfo: PageInfo;
}

export interface ProviderInfo {
  name: string;
  title: string;
  description: string;
  params: JsonScalar;
}

export interface WorkerInfo {
  name: string;
  address: string | null;
  status: string;
  inFlight: number;
  processed: number;
  failed: number | null;
  partitions: string[];
  lag: number | null;
  heartbeatAt: string | null;
}

export interface StateCount {
  state: JobState;
  count: number;
}

export interface ThroughputPoint {
  at: string;
  count: number;
}

export interface Stats {
  counts: StateCount[];
  throughput: ThroughputPoint[];
}

export interface Viewer {
  username: string;
  isStaff: boolean;
}

export interface FieldError {
  field: string;
  rule: string;
  message: string;
}

export interface SubmitJobInput {
  provider: string;
  params: unknown;
  priority: Priority;
  countdown: number | null;
  idempotencyKey?: string | null;
}

/** Parses a JSON scalar that a server may send as a value or as JSON text. */
export function parseJsonScalar(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    // A plain string that is not JSON text is itself the value.
    return value;
  }
}
