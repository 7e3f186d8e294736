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

/** GraphQL enum JobPriority (one Kafka queue each). */
export const PRIORITIES = ['HIGH', 'DEFAULT', 'LOW'] as const;
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

/** One attempt of a job, from Mongo's attempt history. */
export interface Attempt {
  attempt: number | null;
  state: string | null;
  worker: string | null;
  error: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  runtime: number | null;
  redelivered: boolean | null;
}

export interface JobExtras {
  __typename?: 'Job';
  id: string;
  state: JobState;
  attempts: number;
  priority: Priority;
  queuedAt: string | null;
  traceback: string | null;
  attemptHistory: Attempt[];
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
  /** The parameters' JSON Schema document (draft 2020-12), as providers/schema.py exports it. */
  paramsSchema: JsonScalar;
  /** Jobs call the offline provider sandbox, not the public API. */
  sandbox: boolean;
}

/** A worker as its Redis heartbeat describes it. */
export interface WorkerInfo {
  name: string;
  hostname: string | null;
  pid: number | null;
  queues: string[];
  pool: string | null;
  concurrency: number | null;
  /** Jobs in flight. */
  active: number | null;
  processed: number | null;
  startedAt: string | null;
  lastSeen: string | null;
  /** The server's word: online (answered its control service), unhealthy, unreachable, or no-control. */
  status: string;
  /** Why it holds its work (a store it needs is down); null when healthy. */
  problem: string | null;
  /** Kafka partitions assigned to it, as topic[n]. */
  partitions: string[];
  /** Messages behind on its partitions; null when unknown. */
  lag: number | null;
}

export interface StateCount {
  state: JobState;
  count: number;
}

/** Jobs that finished in the minute starting at `minute`. */
export interface ThroughputBucket {
  minute: string;
  succeeded: number;
  failed: number;
}

export interface Stats {
  total: number;
  byState: StateCount[];
  throughput: ThroughputBucket[];
  finishedPerMinute: number;
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
