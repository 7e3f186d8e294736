import { formatDateTime, formatDuration, secondsBetween } from '../format';
import { useNow } from '../hooks/useNow';
import type { JobDetail, JobExtras } from '../graphql/types';

/** When, where and how many times: the job's facts as a description list. */
export function JobFacts({ job, extras }: { job: JobDetail; extras: JobExtras | null | undefined }) {
  const now = useNow(1000);
  const facts: [string, string][] = [
    ['Submitted', formatDateTime(job.createdAt)],
    ['Started', formatDateTime(job.startedAt)],
    ['Finished', formatDateTime(job.finishedAt)],
    ['Runtime', formatDuration(secondsBetween(job.startedAt, job.finishedAt, now))],
    ['Attempts', String(job.attempts)],
    ['Worker', job.worker || '—'],
  ];
  if (extras?.priority) facts.push(['Priority', extras.priority.toLowerCase()]);
  return (
    <dl className="facts">
      {facts.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}
