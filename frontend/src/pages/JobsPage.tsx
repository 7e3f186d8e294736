import { useQuery } from '@apollo/client';
import { useCallback, useMemo, useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { EmptyState, ErrorMessage, Loading } from '../components/Status';
import { PAGE_SIZE } from '../config';
import { JOBS, PROVIDERS, STATS } from '../graphql/operations';
import { JOB_STATES, type JobRow, type JobState } from '../graphql/types';
import { useCoalesced } from '../hooks/useDebounced';
import { useJobEvents, type LiveChange } from '../hooks/useLiveJobs';
import { JobFilters, type Filters } from '../jobs/JobFilters';
import { JobsTable } from '../jobs/JobsTable';
import { Pager } from '../jobs/Pager';
import { StateCounts } from '../jobs/StateCounts';

/** Filters live in the URL, so a filtered view can be reloaded and shared. */
function useUrlFilters(): [Filters, (f: Filters) => void] {
  const [params, setParams] = useSearchParams();
  const state = params.get('state');
  const filters: Filters = {
    state: state && (JOB_STATES as readonly string[]).includes(state) ? (state as JobState) : null,
    provider: params.get('provider') || null,
    search: params.get('q') ?? '',
  };
  const setFilters = useCallback(
    (next: Filters) => {
      const out = new URLSearchParams();
      if (next.state) out.set('state', next.state);
      if (next.provider) out.set('provider', next.provider);
      if (next.search) out.set('q', next.search);
      setParams(out, { replace: true });
    },
    [setParams],
  );
  return [filters, setFilters];
}

export function JobsPage() {
  const [filters, setFilters] = useUrlFilters();
  // Cursors of the pages before this one; reset whenever the filters change.
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const filterKey = `${filters.state}|${filters.provider}|${filters.search}`;
  const [cursorKey, setCursorKey] = useState(filterKey);
  if (cursorKey !== filterKey) {
    setCursorKey(filterKey);
    setCursors([null]);
  }
  const after = cursors[cursors.length - 1] ?? null;

  const providers = useQuery(PROVIDERS);
  const stats = useQuery(STATS);
  const jobs = useQuery(JOBS, {
    variables: { state: filters.state, provider: filters.provider, search: filters.search || null, first: PAGE_SIZE, after },
    notifyOnNetworkStatusChange: true,
  });

  const refetchStats = useCoalesced(() => void stats.refetch(), 1000);
  const refetchJobs = useCoalesced(() => void jobs.refetch(), 1000);
  const onLive = useCallback(
    ({ isNew, stateChanged }: LiveChange) => {
      if (stateChanged) refetchStats();
      // A job not on screen appeared (first page only: later pages would jump),
      // or a state filter may now exclude or include a row.
      if ((isNew && cursors.length === 1) || (stateChanged && filters.state)) refetchJobs();
    },
    [refetchStats, refetchJobs, cursors.length, filters.state],
  );
  useJobEvents(filters.provider, onLive);

  const titles = useMemo(() => new Map(providers.data?.providers.map((p) => [p.name, p.title])), [providers.data]);
  const providerTitle = useCallback((name: string) => titles.get(name) ?? name, [titles]);

  const connection = jobs.data?.jobs;
  const rows = (connection?.edges ?? []).map((e) => e?.node).filter((n): n is JobRow => Boolean(n));
  const filtered = Boolean(filters.state || filters.provider || filters.search);

  return (
    <>
      <div className="page-title">
        <h1>Jobs</h1>
        <Link className="button" to="/submit">
          Submit a job
        </Link>
      </div>
      <StateCounts counts={stats.data?.stats.byState} selected={filters.state} onSelect={(state) => setFilters({ ...filters, state })} />
      <JobFilters filters={filters} providers={providers.data?.providers ?? []} onChange={setFilters} />
      {jobs.error && <ErrorMessage title="Could not load jobs" error={jobs.error} retry={() => void jobs.refetch()} />}
      {!connection && jobs.loading && <Loading what="Loading jobs" />}
      {connection && rows.length === 0 && (
        <EmptyState title={filtered ? 'No jobs match these filters.' : 'No jobs yet.'}>
          {filtered ? (
            <button type="button" className="button button--secondary" onClick={() => setFilters({ state: null, provider: null, search: '' })}>
              Clear filters
            </button>
          ) : (
            <Link to="/submit">Submit your first job.</Link>
          )}
        </EmptyState>
      )}
      {rows.length > 0 && (
        <>
          <p className="muted" aria-live="polite">
            {connection!.totalCount} job{connection!.totalCount === 1 ? '' : 's'}
            {jobs.loading ? ' · refreshing…' : ''}
          </p>
          <JobsTable jobs={rows} providerTitle={providerTitle} />
          <Pager
            page={cursors.length}
            pageCount={connection ? Math.max(1, Math.ceil(connection.totalCount / PAGE_SIZE)) : null}
            hasNext={Boolean(connection?.pageInfo.hasNextPage)}
            onPrevious={() => setCursors((c) => (c.length > 1 ? c.slice(0, -1) : c))}
            onNext={() => connection?.pageInfo.endCursor && setCursors((c) => [...c, connection.pageInfo.endCursor])}
          />
        </>
      )}
    </>
  );
}
