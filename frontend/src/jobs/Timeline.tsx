import { StateBadge } from '../components/StateBadge';
import { formatDateTime, formatDuration } from '../format';
import { JOB_STATES, type JobDetail, type JobExtras, type JobState } from '../graphql/types';

interface Entry {
  at: string;
  title: string;
  badge?: JobState;
  detail?: string | null;
}

/**
 * Entries from the attempt history when the server gives one, else from
 * the job's own timestamps (created, queued, started, finished).
 */
export function timelineEntries(job: JobDetail, extras: JobExtras | null | undefined): Entry[] {
  const history = extras?.attemptHistory;
  if (history && history.length > 0) {
    const submitted: Entry = { at: job.createdAt, title: 'Submitted' };
    const attempts = history.map((a, i) => ({
      at: a.startedAt ?? a.finishedAt ?? job.createdAt,
      title: `Attempt ${a.attempt ?? i + 1}${a.redelivered ? ' (redelivered)' : ''}`,
      badge: (JOB_STATES as readonly string[]).includes(a.state ?? '') ? (a.state as JobState) : undefined,
      detail:
        [a.worker && `on ${a.worker}`, a.runtime !== null && `${formatDuration(a.runtime)}`, a.error].filter(Boolean).join(' · ') || null,
    }));
    return [submitted, ...attempts];
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
