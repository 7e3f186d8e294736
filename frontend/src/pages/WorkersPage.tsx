import { useQuery } from '@apollo/client';
import { EmptyState, ErrorMessage, Loading } from '../components/Status';
import { WORKERS_POLL_MS } from '../config';
import { formatAge, formatInteger } from '../format';
import { STATS, WORKERS } from '../graphql/operations';
import { useNow } from '../hooks/useNow';
import { SeriesChart, type SeriesRow } from '../results/SeriesChart';

/** Workers and throughput, polled: the gRPC data behind them has no push channel. */
export function WorkersPage() {
  const workers = useQuery(WORKERS, { pollInterval: WORKERS_POLL_MS });
  const stats = useQuery(STATS, { pollInterval: WORKERS_POLL_MS });
  const now = useNow(5000);
  const list = workers.data?.workers ?? [];
  const throughput: SeriesRow[] = (stats.data?.stats.throughput ?? []).map((p) => ({
    date: new Date(p.at).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' }),
    finished: p.count,
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
                <th scope="col">Failed</th>
                <th scope="col">Partitions</th>
                <th scope="col">Lag</th>
                <th scope="col">Last heartbeat</th>
              </tr>
            </thead>
            <tbody>
              {list.map((w) => (
                <tr key={w.name}>
                  <th scope="row" data-label="Worker">
                    {w.name}
                    {w.address && <div className="muted">{w.address}</div>}
                  </th>
                  <td data-label="Status">
                    <span className={`badge badge--worker-${w.status.toLowerCase()}`}>{w.status}</span>
                  </td>
                  <td data-label="In flight">{formatInteger(w.inFlight)}</td>
                  <td data-label="Processed">{formatInteger(w.processed)}</td>
                  <td data-label="Failed">{formatInteger(w.failed)}</td>
                  <td data-label="Partitions">{w.partitions.length ? w.partitions.join(', ') : '—'}</td>
                  <td data-label="Lag">{formatInteger(w.lag)}</td>
                  <td data-label="Last heartbeat">{formatAge(w.heartbeatAt, now)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <section aria-labelledby="throughput-h">
        <h2 id="throughput-h">Throughput</h2>
        {stats.error && <ErrorMessage title="Could not load statistics" error={stats.error} />}
        {stats.data && throughput.length === 0 && <p className="muted">No jobs finished in the last minutes.</p>}
        {throughput.length > 0 && (
          <SeriesChart title="Jobs finished per minute" rows={throughput} series={[{ key: 'finished', label: 'Jobs finished', color: '#1a7f37', kind: 'bar' }]} height={220} />
        )}
      </section>
    </>
  );
}
