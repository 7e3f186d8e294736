import type { JobState, Progress } from '../graphql/types';

/** The percent to draw: the server's, else current/total, else full once succeeded. */
export function percentOf(progress: Progress | null, state: JobState): number | null {
  if (state === 'SUCCESS') return 100;
  if (!progress) return null;
  if (progress.percent !== null && progress.percent !== undefined) return progress.percent;
  if (progress.total) return (100 * (progress.current ?? 0)) / progress.total;
  return null;
}

/** A labelled progress bar with the worker's message; indeterminate before the first tick. */
export function ProgressBar({ progress, state, label }: { progress: Progress | null; state: JobState; label: string }) {
  const percent = percentOf(progress, state);
  const clamped = percent === null ? null : Math.max(0, Math.min(100, percent));
  const steps = progress?.total ? `${progress.current ?? 0}/${progress.total}` : null;
  return (
    <div className={`progress progress--${state.toLowerCase()}`}>
      <div
        className="progress__track"
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={clamped === null ? undefined : Math.round(clamped)}
        aria-valuetext={clamped === null ? 'not started' : `${Math.round(clamped)}%${progress?.message ? `, ${progress.message}` : ''}`}
      >
        <div className="progress__fill" style={{ width: `${clamped ?? 0}%` }} />
      </div>
      <div className="progress__text">
        <span className="progress__percent">{clamped === null ? '—' : `${Math.round(clamped)}%`}</span>
        {steps && <span className="muted"> ({steps})</span>}
        {progress?.message && <span className="progress__message"> {progress.message}</span>}
      </div>
    </div>
  );
}
