import { Link } from 'react-router';
import { ProgressBar } from '../components/ProgressBar';
import { StateBadge } from '../components/StateBadge';
import { formatAge, formatDuration, secondsBetween } from '../format';
import { useNow } from '../hooks/useNow';
import type { JobRow } from '../graphql/types';

/** A short, still unique-looking id for tables; the full id is on the detail page. */
export function shortId(id: string): string {
  return id.length > 12 ? id.slice(0, 8) : id;
}

/** The jobs of one page. On narrow screens CSS lays each row out as a card (data-label). */
export function JobsTable({ jobs, providerTitle }: { jobs: JobRow[]; providerTitle(name: string): string }) {
  const now = useNow(1000);
  return (
    <div className="table-scroll">
      <table className="data-table jobs-table">
        <caption className="visually-hidden">Your jobs, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Job</th>
            <th scope="col">Provider</th>
            <th scope="col">State</th>
            <th scope="col" className="col-progress">
              Progress
            </th>
            <th scope="col">Attempts</th>
            <th scope="col">Age</th>
            <th scope="col">Runtime</th>
          </tr>
        </thead>
        <tbody>
          {jobs.map((job) => (
            <tr key={job.id}>
              <th scope="row" data-label="Job">
                <Link to={`/jobs/${encodeURIComponent(job.id)}`} title={job.id}>
                  <code>{shortId(job.id)}</code>
                </Link>
              </th>
              <td data-label="Provider">{providerTitle(job.provider)}</td>
              <td data-label="State">
                <StateBadge state={job.state} />
              </td>
              <td data-label="Progress" className="col-progress">
                <ProgressBar progress={job.progress} state={job.state} label={`Progress of job ${shortId(job.id)}`} />
              </td>
              <td data-label="Attempts">{job.attempts}</td>
              <td data-label="Age">
                <time dateTime={job.createdAt} title={job.createdAt}>
                  {formatAge(job.createdAt, now)}
                </time>
              </td>
              <td data-label="Runtime">{formatDuration(secondsBetween(job.startedAt, job.finishedAt, now))}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
