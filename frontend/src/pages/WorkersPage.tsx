import { useQuery } from '@apollo/client';
import { EmptyState, ErrorMessage, Loading } from '../components/Status';
import { WORKERS_POLL_MS } from '../config';
import { formatAge, formatInteger, formatNumber } from '../format';
import { STATS, WORKERS } from '../graphql/operations';
import type { WorkerInfo } from '../graphql/types';
import { useNow } from '../hooks/useNow';
import { SeriesChart, type SeriesRow } from '../results/SeriesChart';

/** Minutes of throughput shown. */
const THROUGHPUT_MINUTES = 15;

/** The server's status, as a badge class suffix (only known words pick a colour). */
function badgeOf(status: string): string {
  return /^[a-z-]+$/.test(status) ? `badge--worker-${status}` : 'badge--muted';
}

function WorkerRow({ worker: w, now }: { worker: WorkerInfo; now: number }) {
  return (
    <tr>
      <th scope="row" data-label="Worker">
        {w.name}
        {w.hostname && (
          <div className="muted">
            {w.hostname}
            {w.pid ? ` · pid ${w.pid}` : ''}
          </div>
        )}
      </th>
      <td data-label="Status">
        <span className={`badge ${badgeOf(w.status)}`}>{w.status}</span>
        {w.problem && <div className="muted">{w.problem}</div>}
      </td>
      <td data-label="In flight">
        {formatInteger(w.active)}
        {w.concurrency ? ` of ${w.concurrency}` : ''}
      </td>
      <td data-label="Processed">{formatInteger(w.processed)}</td>
      <td data-label="Queues">{w.queues.length ? w.queues.join(', ') : '—'}</td>
      <td data-label="Partitions">{w.partitions.length ? w.partitions.join(', ') : '—'}</td>
      <td data-label="Lag">{w.lag === null ? '—' : formatInteger(w.lag)}</td>
      <td data-label="Pool">{w.pool ?? '—'}</td>
      <td data-label="Up since">{formatAge(w.startedAt, now)}</td>
      <td data-label="Last heartbeat">{formatAge(w.lastSeen, now)}</td>
    </tr>
  );
}

/** Workers and throughput, polled: heartbeats and counters have no push channel. */
export function WorkersPage() {
  const workers = useQuery(WORKERS, { pollInterval: WORKERS_POLL_MS });
  const stats = useQuery(STATS, { variables: { minutes: THROUGHPUT_MINUTES }, pollInterval: WORKERS_POLL_MS });
  const now = useNow(5000);
  const list = workers.data?.workers ?? [];
  const throughput: SeriesRow[] = (stats.data?.stats.throughput ?? []).map((b) => ({
    date: new Date(b.minute).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' }),
    succeeded: b.succeeded,
    failed: b.failed,
  }));

  return (
    <>
      <h1>Workers</h1>
      <p className="muted">Refreshed every {WORKERS_POLL_MS / 1000} seconds.</p>
      {workers.error && <ErrorMessage title="Could not load workers" error={workers.error} retry={() => void workers.refetch()} />}
      {!workers.data && workers.loading && <Loading what="Asking the workers" />}
      {workers.data && list.length === 0 && (
        <EmptyState title="No workers are running.">
          <p>Jobs wait in Kafka until one starts (manage.py worker).</p>
        </EmptyState>
      )}
      {list.length > 0 && (
        <div className="table-scroll">
          <table className="data-table">
            <caption className="visually-hidden">Workers</caption>
            <thead>
              <tr>
                <th scope="col">Worker</th>
                <th scope="col">Status</th>
                <th scope="col">In flight</th>
                <th scope="col">Processed</th>
                <th scope="col">Queues</th>
                <th scope="col">Partitions</th>
                <th scope="col">Lag</th>
                <th scope="col">Pool</th>
                <th scope="col">Up since</th>
                <th scope="col">Last heartbeat</th>
              </tr>
            </thead>
            <tbody>
              {list.map((w) => (
                <WorkerRow key={w.name} worker={w} now={now} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <section aria-labelledby="throughput-h">
        <h2 id="throughput-h">Throughput</h2>
        {stats.error && <ErrorMessage title="Could not load statistics" error={stats.error} />}
        {stats.data && (
          <p>
            {formatNumber(stats.data.stats.finishedPerMinute, 1)} jobs finished per minute over the last {THROUGHPUT_MINUTES} minutes.
          </p>
        )}
        {stats.data && throughput.length === 0 && <p className="muted">No jobs finished in the last minutes.</p>}
        {throughput.length > 0 && (
          <SeriesChart
            title="Jobs finished per minute"
            rows={throughput}
            series={[
              { key: 'succeeded', label: 'Succeeded', color: '#1a7f37', kind: 'bar' },
              { key: 'failed', label: 'Failed', color: '#cf222e', kind: 'bar' },
            ]}
            height={220}
          />
        )}
      </section>
    </>
  );
}
