/**
 * Every GraphQL operation the UI sends, typed once. Names of fields and
 * arguments are the contract of issues 5 and 7 (see schema.graphql).
 */
import { gql, type TypedDocumentNode } from '@apollo/client';
import type {
  FieldError,
  JobConnection,
  JobDetail,
  JobExtras,
  JobLive,
  JobRow,
  JobState,
  ProviderInfo,
  Stats,
  SubmitJobInput,
  Viewer,
  WorkerInfo,
} from './types';

/** The fields a subscription event updates; kept identical in every query so the cache merges them. */
export const JOB_LIVE_FIELDS: TypedDocumentNode<JobLive> = gql`
  fragment JobLiveFields on Job {
    id
    state
    progress {
      current
      total
      percent
      message
    }
    attempts
    error
    createdAt
    startedAt
    finishedAt
    worker
  }
`;

export const VIEWER: TypedDocumentNode<{ viewer: Viewer | null }, Record<string, never>> = gql`
  query Viewer {
    viewer {
      username
      isStaff
    }
  }
`;

export const PROVIDERS: TypedDocumentNode<{ providers: ProviderInfo[] }, Record<string, never>> = gql`
  query Providers {
    providers {
      name
      title
      description
      paramsSchema
      sandbox
    }
  }
`;

export interface JobsVars {
  state?: JobState | null;
  provider?: string | null;
  search?: string | null;
  first: number;
  after?: string | null;
}

export const JOBS: TypedDocumentNode<{ jobs: JobConnection }, JobsVars> = gql`
  query Jobs($state: JobState, $provider: String, $search: String, $first: Int, $after: String) {
    jobs(state: $state, provider: $provider, search: $search, first: $first, after: $after) {
      totalCount
      edges {
        cursor
        node {
          ...JobLiveFields
          provider
        }
      }
      pageInfo {
        endCursor
        hasNextPage
      }
    }
  }
  ${JOB_LIVE_FIELDS}
`;

export const JOB: TypedDocumentNode<{ job: JobDetail | null }, { id: string }> = gql`
  query Job($id: ID!) {
    job(id: $id) {
      ...JobLiveFields
      provider
      params
      result
    }
  }
  ${JOB_LIVE_FIELDS}
`;

/**
 * Fields the UI asked to add to the contract, in their own query: if the
 * server lacks them the detail page still works and says what is missing.
 */
export const JOB_EXTRAS: TypedDocumentNode<{ job: JobExtras | null }, { id: string }> = gql`
  query JobExtras($id: ID!) {
    job(id: $id) {
      id
      # Lets the cache tell an older answer from a newer one (see api/apollo.ts).
      state
      attempts
      priority
      queuedAt
      traceback
      attemptHistory {
        attempt
        state
        worker
        error
        startedAt
        finishedAt
        runtime
        redelivered
      }
    }
  }
`;

export const STATS: TypedDocumentNode<{ stats: Stats }, { minutes?: number }> = gql`
  query Stats($minutes: Int) {
    stats(minutes: $minutes) {
      total
      byState {
        state
        count
      }
      throughput {
        minute
        succeeded
        failed
      }
      finishedPerMinute
    }
  }
`;

export const WORKERS: TypedDocumentNode<{ workers: WorkerInfo[] }, Record<string, never>> = gql`
  query Workers {
    workers {
      name
      hostname
      pid
      queues
      pool
      concurrency
      active
      processed
      startedAt
      lastSeen
      status
      problem
      partitions
      lag
    }
  }
`;

export interface SubmitJobData {
  submitJob: { job: JobRow | null; errors: FieldError[] };
}

export const SUBMIT_JOB: TypedDocumentNode<SubmitJobData, { input: SubmitJobInput }> = gql`
  mutation SubmitJob($input: SubmitJobInput!) {
    submitJob(input: $input) {
      job {
        ...JobLiveFields
        provider
      }
      errors {
        field
        rule
        message
      }
    }
  }
  ${JOB_LIVE_FIELDS}
`;

export interface SubmitJobsData {
  submitJobs: { jobs: { id: string }[]; errors: FieldError[] };
}

export const SUBMIT_JOBS: TypedDocumentNode<
  SubmitJobsData,
  { input: { jobs: SubmitJobInput[] } }
> = gql`
  mutation SubmitJobs($input: SubmitJobsInput!) {
    submitJobs(input: $input) {
      jobs {
        id
      }
      errors {
        field
        rule
        message
      }
    }
  }
`;

export interface JobActionData {
  job: JobLive | null;
  errors: FieldError[];
}

export const CANCEL_JOB: TypedDocumentNode<{ cancelJob: JobActionData }, { id: string }> = gql`
  mutation CancelJob($id: ID!) {
    cancelJob(id: $id) {
      job {
        ...JobLiveFields
      }
      errors {
        field
        rule
        message
      }
    }
  }
  ${JOB_LIVE_FIELDS}
`;

export const RETRY_JOB: TypedDocumentNode<{ retryJob: JobActionData }, { id: string }> = gql`
  mutation RetryJob($id: ID!) {
    retryJob(id: $id) {
      job {
        ...JobLiveFields
      }
      errors {
        field
        rule
        message
      }
    }
  }
  ${JOB_LIVE_FIELDS}
`;

export const JOB_UPDATED: TypedDocumentNode<{ jobUpdated: JobLive | null }, { id: string }> = gql`
  subscription JobUpdated($id: ID!) {
    jobUpdated(id: $id) {
      ...JobLiveFields
    }
  }
  ${JOB_LIVE_FIELDS}
`;

export const JOB_EVENTS: TypedDocumentNode<
  { jobEvents: (JobLive & { provider: string }) | null },
  { provider?: string | null }
> = gql`
  subscription JobEvents($provider: String) {
    jobEvents(provider: $provider) {
      ...JobLiveFields
      provider
    }
  }
  ${JOB_LIVE_FIELDS}
`;

/** Every operation, for the schema check. */
export const ALL_OPERATIONS = {
  VIEWER,
  PROVIDERS,
  JOBS,
  JOB,
  JOB_EXTRAS,
  STATS,
  WORKERS,
  SUBMIT_JOB,
  SUBMIT_JOBS,
  CANCEL_JOB,
  RETRY_JOB,
  JOB_UPDATED,
  JOB_EVENTS,
};
