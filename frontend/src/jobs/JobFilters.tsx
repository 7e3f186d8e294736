import { useEffect, useState } from 'react';
import { STATE_LABELS } from '../components/StateBadge';
import { useDebounced } from '../hooks/useDebounced';
import { JOB_STATES, type JobState, type ProviderInfo } from '../graphql/types';

export interface Filters {
  state: JobState | null;
  provider: string | null;
  search: string;
}

interface Props {
  filters: Filters;
  providers: ProviderInfo[];
  onChange(filters: Filters): void;
}

/** State, provider and search filters; the search applies once typing pauses. */
export function JobFilters({ filters, providers, onChange }: Props) {
  const [search, setSearch] = useState(filters.search);
  const settled = useDebounced(search, 300);
  useEffect(() => {
    if (settled !== filters.search) onChange({ ...filters, search: settled });
    // Only the settled text triggers a change; the other filters change through their selects.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [settled]);

  return (
    <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
      <div className="field field--inline">
        <label htmlFor="filter-state">State</label>
        <select id="filter-state" value={filters.state ?? ''} onChange={(e) => onChange({ ...filters, state: (e.target.value || null) as JobState | null })}>
          <option value="">All states</option>
          {JOB_STATES.map((s) => (
            <option key={s} value={s}>
              {STATE_LABELS[s]}
            </option>
          ))}
        </select>
      </div>
      <div className="field field--inline">
        <label htmlFor="filter-provider">Provider</label>
        <select id="filter-provider" value={filters.provider ?? ''} onChange={(e) => onChange({ ...filters, provider: e.target.value || null })}>
          <option value="">All providers</option>
          {providers.map((p) => (
            <option key={p.name} value={p.name}>
              {p.title}
            </option>
          ))}
        </select>
      </div>
      <div className="field field--inline field--grow">
        <label htmlFor="filter-search">Search</label>
        <input id="filter-search" type="search" placeholder="Job id or parameters" value={search} onChange={(e) => setSearch(e.target.value)} />
      </div>
    </form>
  );
}
