import { StateBadge } from '../components/StateBadge';
import { formatDateTime } from '../format';
import type { JobDetail, JobEvent, JobExtras } from '../graphql/types';

interface Entry {
  at: string;
  title: string;
  badge?: JobEvent['state'];
  detail?: string | null;
}

/**
 * Entries from the attempt history when the server gives one, else from
 * the job's own timestamps (created, queued, started, finished).
 */
export function timelineEntries(job: JobDetail, extras: JobExtras | null | undefined): Entry[] {
  const history = extras?.history;
  if (history && history.length > 0) {
    return history.map((e) => ({
      at: e.at,
      title: `Attempt ${e.attempt}`,
      badge: e.state,
      detail: [e.worker && `on ${e.worker}`, e.error].filter(Boolean).join(' · ') || null,
    }));
  }
  const entries: (Entry | null)[] = [
    { at: job.createdAt, title: 'Submitted' },
    extras?.queuedAt ? { at: extras.queuedAt, title: 'Queued in Kafka' } : null,
    job.startedAt ? { at: job.startedAt, title: `Started (attempt ${Math.max(job.attempts, 1)})`, detail: job.worker ? `on ${job.worker}` : null } : null,
    job.finishedAt ? { at: job.finishedAt, title: 'Finished', badge: job.state, detail: job.error } : null,
  ];
  return entries.filter((e): e is Entry => e !== null);
}

export function Timeline({ job, extras }: { job: JobDetail; extras: JobExtras | null | undefined }) {
  const entries = timelineEntries(job, extras);
  return (
    <ol className="timeline">
      {entries.map((entry, i) => (
        <li key={`${entry.at}-${i}`} className="timeline__entry">
          <time dateTime={entry.at}>{formatDateTime(entry.at)}</time>
          <span className="timeline__title">
            {entry.title} {entry.badge && <StateBadge state={entry.badge} />}
          </span>
          {entry.detail && <span className="timeline__detail">{entry.detail}</span>}
        </li>
      ))}
    </ol>
  );
}
