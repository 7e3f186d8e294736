import { useEffect, useRef, useState } from 'react';

interface Props {
  label: string;
  /** The question asked before acting, e.g. "Cancel this job?". */
  question: string;
  confirmLabel: string;
  onConfirm: () => void | Promise<void>;
  busy?: boolean;
  danger?: boolean;
}

/**
 * A button that asks before acting, inline (no modal): focus moves to the
 * confirm button, Escape or "Keep" goes back.
 */
export function ConfirmAction({ label, question, confirmLabel, onConfirm, busy, danger }: Props) {
  const [asking, setAsking] = useState(false);
  const confirmRef = useRef<HTMLButtonElement>(null);
  const openerRef = useRef<HTMLButtonElement>(null);
  const wasAsking = useRef(false);

  useEffect(() => {
    if (asking) confirmRef.current?.focus();
    else if (wasAsking.current) openerRef.current?.focus();
    wasAsking.current = asking;
  }, [asking]);

  if (!asking) {
    return (
      <button ref={openerRef} type="button" className={`button${danger ? ' button--danger' : ''}`} onClick={() => setAsking(true)} disabled={busy}>
        {busy ? `${label}…` : label}
      </button>
    );
  }
  return (
    <div className="confirm" role="group" aria-label={question} onKeyDown={(e) => e.key === 'Escape' && setAsking(false)}>
      <span className="confirm__question">{question}</span>
      <button
        ref={confirmRef}
        type="button"
        className={`button${danger ? ' button--danger' : ''}`}
        onClick={async () => {
          setAsking(false);
          await onConfirm();
        }}
      >
        {confirmLabel}
      </button>
      <button type="button" className="button button--secondary" onClick={() => setAsking(false)}>
        Keep
      </button>
    </div>
  );
}
