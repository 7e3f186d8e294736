import { FieldShell } from '../components/form/FieldShell';
import { MAX_BULK } from '../config';
import { PRIORITIES, type Priority } from '../graphql/types';

export interface OptionsDraft {
  priority: Priority;
  /** Seconds, as typed. */
  delay: string;
  /** Number of jobs, as typed. */
  count: string;
}

export const INITIAL_OPTIONS: OptionsDraft = { priority: 'DEFAULT', delay: '', count: '1' };

const WHOLE = /^\d+$/;

/** The options' errors, by field; `count` and `delay` are whole numbers. */
export function optionErrors(options: OptionsDraft): Partial<Record<keyof OptionsDraft, string>> {
  const errors: Partial<Record<keyof OptionsDraft, string>> = {};
  const delay = options.delay.trim();
  if (delay && !WHOLE.test(delay)) errors.delay = 'must be a whole number of seconds';
  const count = options.count.trim();
  if (!WHOLE.test(count) || Number(count) < 1) errors.count = 'must be a whole number, at least 1';
  else if (Number(count) > MAX_BULK) errors.count = `must be at most ${MAX_BULK}`;
  return errors;
}

interface Props {
  options: OptionsDraft;
  onChange(options: OptionsDraft): void;
  /** Client and server errors by option. */
  errors: Partial<Record<keyof OptionsDraft, string>>;
}

export function SubmitOptions({ options, onChange, errors }: Props) {
  return (
    <fieldset className="options">
      <legend>Options</legend>
      <FieldShell id="opt-priority" label="Priority" help="High-priority queues are polled more often." error={errors.priority}>
        {(aria) => (
          <select {...aria} value={options.priority} onChange={(e) => onChange({ ...options, priority: e.target.value as Priority })}>
            {PRIORITIES.map((p) => (
              <option key={p} value={p}>
                {p.toLowerCase()}
              </option>
            ))}
          </select>
        )}
      </FieldShell>
      <FieldShell id="opt-delay" label="Delay (seconds)" help="Wait this long before running (empty: run now)." error={errors.delay}>
        {(aria) => <input {...aria} type="text" inputMode="numeric" placeholder="0" value={options.delay} onChange={(e) => onChange({ ...options, delay: e.target.value })} />}
      </FieldShell>
      <FieldShell id="opt-count" label="Number of jobs" help={`Submit this many identical jobs at once (up to ${MAX_BULK}), for demos and load.`} error={errors.count}>
        {(aria) => <input {...aria} type="text" inputMode="numeric" value={options.count} onChange={(e) => onChange({ ...options, count: e.target.value })} />}
      </FieldShell>
    </fieldset>
  );
}
