import type { JobState } from '../graphql/types';

/** Words for states, so a badge reads as a sentence fragment and not as an enum. */
export const STATE_LABELS: Record<JobState, string> = {
  PENDING: 'Pending',
  RECEIVED: 'Received',
  STARTED: 'Started',
  PROGRESS: 'Running',
  RETRY: 'Retrying',
  SUCCESS: 'Succeeded',
  FAILURE: 'Failed',
  REVOKED: 'Cancelled',
};

export function StateBadge({ state }: { state: JobState }) {
  return <span className={`badge badge--${state.toLowerCase()}`}>{STATE_LABELS[state] ?? state}</span>;
}
