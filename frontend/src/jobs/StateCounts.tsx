import { STATE_LABELS } from '../components/StateBadge';
import { JOB_STATES, type JobState, type StateCount } from '../graphql/types';

interface Props {
  counts: StateCount[] | undefined;
  selected: JobState | null;
  onSelect(state: JobState | null): void;
}

/** Counts by state; each is also a filter toggle. */
export function StateCounts({ counts, selected, onSelect }: Props) {
  const byState = new Map(counts?.map((c) => [c.state, c.count]));
  const total = counts?.reduce((sum, c) => sum + c.count, 0);
  return (
    <ul className="state-counts" aria-label="Jobs by state">
      <li>
        <button type="button" className="count-chip" aria-pressed={selected === null} onClick={() => onSelect(null)}>
          <span className="count-chip__n">{total ?? '…'}</span> All
        </button>
      </li>
      {JOB_STATES.map((state) => (
        <li key={state}>
          <button
            type="button"
            className={`count-chip count-chip--${state.toLowerCase()}`}
            aria-pressed={selected === state}
            onClick={() => onSelect(selected === state ? null : state)}
          >
            <span className="count-chip__n">{counts ? (byState.get(state) ?? 0) : '…'}</span> {STATE_LABELS[state]}
          </button>
        </li>
      ))}
    </ul>
  );
}
