/**
 * Live job events into the Apollo cache. Every query that shows a job reads
 * it from the normalized cache (Job:<id>), so writing the event there
 * updates the table row, the detail page and the progress bar at once,
 * without a refetch.
 */
import { useApolloClient, useSubscription, type ApolloCache } from '@apollo/client';
import { JOB_EVENTS, JOB_LIVE_FIELDS, JOB_UPDATED } from '../graphql/operations';
import type { JobLive } from '../graphql/types';

export interface LiveChange {
  job: JobLive;
  /** The cache did not hold this job (e.g. submitted in another tab). */
  isNew: boolean;
  /** Its state differs from the one the cache held. */
  stateChanged: boolean;
}

/** Writes an event as the Job it describes, whatever type name the server gives events. */
export function applyJobEvent(cache: ApolloCache<unknown>, event: JobLive): LiveChange {
  const id = cache.identify({ __typename: 'Job', id: event.id });
  const before = cache.readFragment<JobLive>({ id, fragment: JOB_LIVE_FIELDS });
  const job = { ...event, __typename: 'Job' as const };
  cache.writeFragment({ id, fragment: JOB_LIVE_FIELDS, data: job });
  return { job, isNew: before === null, stateChanged: before?.state !== event.state };
}

/** Subscribes to all the viewer's jobs (optionally of one provider). */
export function useJobEvents(provider: string | null, onChange?: (change: LiveChange) => void) {
  const client = useApolloClient();
  return useSubscription(JOB_EVENTS, {
    variables: { provider },
    // Written by applyJobEvent instead, so the event lands on Job:<id>.
    fetchPolicy: 'no-cache',
    onData: ({ data }) => {
      const event = data.data?.jobEvents;
      if (event) onChange?.(applyJobEvent(client.cache, event));
    },
  });
}

/** Subscribes to one job; the server sends its current state first. */
export function useJobUpdates(id: string, onChange?: (change: LiveChange) => void) {
  const client = useApolloClient();
  return useSubscription(JOB_UPDATED, {
    variables: { id },
    fetchPolicy: 'no-cache',
    onData: ({ data }) => {
      const event = data.data?.jobUpdated;
      if (event) onChange?.(applyJobEvent(client.cache, event));
    },
  });
}
