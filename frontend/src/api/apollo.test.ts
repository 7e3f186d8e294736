import { JOB, JOBS } from '../graphql/operations';
import type { JobDetail, JobState } from '../graphql/types';
import { applyJobEvent } from '../hooks/useLiveJobs';
import { createCache, isStaleJob } from './apollo';

const ID = '6f1c2a52-94a4-4b8e-9a47-0c7d1f1b2e01';

function job(state: JobState, attempts = 1, extra: Partial<JobDetail> = {}): JobDetail & { __typename: 'Job' } {
  const final = state === 'SUCCESS' || state === 'FAILURE' || state === 'REVOKED';
  return {
    __typename: 'Job',
    id: ID,
    state,
    progress: { __typename: 'Progress', current: final ? 3 : 1, total: 3, percent: final ? 100 : 33, message: null } as JobDetail['progress'],
    attempts,
    error: null,
    createdAt: '2025-01-01T00:00:00Z',
    startedAt: '2025-01-01T00:00:01Z',
    finishedAt: final ? '2025-01-01T00:00:02Z' : null,
    worker: 'w1',
    provider: 'quote',
    params: '{}',
    result: state === 'SUCCESS' ? '{"quotes":[]}' : null,
    ...extra,
  };
}

function readJob(cache: ReturnType<typeof createCache>) {
  return cache.readQuery({ query: JOB, variables: { id: ID } })?.job;
}

describe('the Job cache policy', () => {
  it('keeps a final state when an older query answer arrives after it', () => {
    const cache = createCache();
    cache.writeQuery({ query: JOB, variables: { id: ID }, data: { job: job('SUCCESS') } });
    cache.writeQuery({ query: JOB, variables: { id: ID }, data: { job: job('PROGRESS') } });
    const now = readJob(cache);
    expect(now?.state).toBe('SUCCESS');
    expect(now?.finishedAt).toBe('2025-01-01T00:00:02Z');
    expect(now?.progress?.percent).toBe(100);
    expect(now?.result).toBe('{"quotes":[]}');
    expect(now?.provider).toBe('quote');
  });

  it('keeps the final state of a websocket event over a late query answer', () => {
    const cache = createCache();
    cache.writeQuery({ query: JOB, variables: { id: ID }, data: { job: job('STARTED') } });
    const { result: _r, params: _p, provider: _v, ...event } = job('SUCCESS');
    applyJobEvent(cache, event);
    cache.writeQuery({ query: JOB, variables: { id: ID }, data: { job: job('PROGRESS') } });
    expect(readJob(cache)?.state).toBe('SUCCESS');
  });

  it('keeps the query complete when the event came before any query answer', () => {
    const cache = createCache();
    const { result: _r, params: _p, provider: _v, ...event } = job('SUCCESS');
    applyJobEvent(cache, event);
    cache.writeQuery({ query: JOB, variables: { id: ID }, data: { job: job('STARTED') } });
    const now = readJob(cache);
    expect(now?.state).toBe('SUCCESS');
    expect(now?.finishedAt).toBe('2025-01-01T00:00:02Z');
    // The cache had no result: the answer's (older) one fills the gap, until the refetch.
    expect(now?.result).toBeNull();
  });

  it('keeps a final state when the answer overwrites (a refetch)', () => {
    const cache = createCache();
    cache.writeQuery({ query: JOB, variables: { id: ID }, data: { job: job('FAILURE') } });
    cache.writeQuery({ query: JOB, variables: { id: ID }, data: { job: job('STARTED') }, overwrite: true });
    expect(readJob(cache)?.state).toBe('FAILURE');
  });

  it('keeps a final state for the job as a row of the jobs list', () => {
    const cache = createCache();
    cache.writeQuery({ query: JOB, variables: { id: ID }, data: { job: job('REVOKED') } });
    const { params: _p, result: _r, ...row } = job('PENDING');
    cache.writeQuery({
      query: JOBS,
      variables: { first: 20 },
      data: {
        jobs: {
          __typename: 'JobConnection',
          totalCount: 1,
          edges: [{ __typename: 'JobEdge', cursor: 'a', node: row }],
          pageInfo: { __typename: 'PageInfo', endCursor: 'a', hasNextPage: false },
        },
      } as never,
    });
    expect(readJob(cache)?.state).toBe('REVOKED');
  });

  it('lets a higher attempt replace a final state', () => {
    const cache = createCache();
    cache.writeQuery({ query: JOB, variables: { id: ID }, data: { job: job('FAILURE', 1) } });
    cache.writeQuery({ query: JOB, variables: { id: ID }, data: { job: job('STARTED', 2) } });
    expect(readJob(cache)?.state).toBe('STARTED');
    expect(readJob(cache)?.attempts).toBe(2);
  });

  it('never lets a lower attempt replace a higher one', () => {
    const cache = createCache();
    cache.writeQuery({ query: JOB, variables: { id: ID }, data: { job: job('STARTED', 2) } });
    cache.writeQuery({ query: JOB, variables: { id: ID }, data: { job: job('FAILURE', 1) } });
    expect(readJob(cache)?.state).toBe('STARTED');
    expect(readJob(cache)?.attempts).toBe(2);
  });

  it('moves forward normally: non-final states follow each other, then the final one', () => {
    const cache = createCache();
    for (const state of ['PENDING', 'STARTED', 'PROGRESS', 'SUCCESS'] as const) {
      cache.writeQuery({ query: JOB, variables: { id: ID }, data: { job: job(state) } });
      expect(readJob(cache)?.state).toBe(state);
    }
  });

  it('isStaleJob: the rule in one place', () => {
    expect(isStaleJob({ state: 'SUCCESS', attempts: 1 }, { state: 'PROGRESS', attempts: 1 })).toBe(true);
    expect(isStaleJob({ state: 'SUCCESS', attempts: 1 }, { state: 'RETRY', attempts: 2 })).toBe(false);
    expect(isStaleJob({ state: 'STARTED', attempts: 2 }, { state: 'SUCCESS', attempts: 1 })).toBe(true);
    expect(isStaleJob({ state: 'PROGRESS', attempts: 1 }, { state: 'SUCCESS', attempts: 1 })).toBe(false);
    expect(isStaleJob({ state: 'SUCCESS' }, { state: 'STARTED' })).toBe(true);
    expect(isStaleJob({ state: 'SUCCESS', attempts: 1 }, { attempts: 1 })).toBe(false);
  });
});

