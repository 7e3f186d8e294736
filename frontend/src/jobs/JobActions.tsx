import { useMutation } from '@apollo/client';
import { useState } from 'react';
import { useNavigate } from 'react-router';
import { describeError } from '../api/errors';
import { ConfirmAction } from '../components/ConfirmAction';
import { CANCEL_JOB, RETRY_JOB, type JobActionData } from '../graphql/operations';
import { FINAL_STATES, type JobState } from '../graphql/types';

type Feedback = { kind: 'ok' | 'error'; text: string } | null;

function feedbackOf(payload: JobActionData | undefined, done: string): Feedback {
  if (!payload) return { kind: 'error', text: 'The server gave no answer.' };
  if (payload.errors.length > 0) return { kind: 'error', text: payload.errors.map((e) => e.message).join(' ') };
  return { kind: 'ok', text: done };
}

/** Cancel (while not final) and Retry (after a failure or a cancel), each confirmed first. */
export function JobActions({ id, state }: { id: string; state: JobState }) {
  const navigate = useNavigate();
  const [feedback, setFeedback] = useState<Feedback>(null);
  const [cancel, cancelling] = useMutation(CANCEL_JOB);
  const [retry, retrying] = useMutation(RETRY_JOB);

  const run = async (action: 'cancel' | 'retry') => {
    setFeedback(null);
    try {
      if (action === 'cancel') {
        const { data } = await cancel({ variables: { id } });
        setFeedback(feedbackOf(data?.cancelJob, 'Cancel requested. The job stops at its next checkpoint.'));
      } else {
        const { data } = await retry({ variables: { id } });
        const fb = feedbackOf(data?.retryJob, 'Retry queued.');
        setFeedback(fb);
        // A retry may be a new job: follow it.
        const newId = data?.retryJob.job?.id;
        if (fb?.kind === 'ok' && newId && newId !== id) navigate(`/jobs/${encodeURIComponent(newId)}`);
      }
    } catch (error) {
      setFeedback({ kind: 'error', text: describeError(error) });
    }
  };

  const final = FINAL_STATES.has(state);
  return (
    <div className="job-actions">
      {!final && (
        <ConfirmAction label="Cancel job" question="Cancel this job?" confirmLabel="Yes, cancel it" danger busy={cancelling.loading} onConfirm={() => run('cancel')} />
      )}
      {(state === 'FAILURE' || state === 'REVOKED') && (
        <ConfirmAction label="Retry" question="Run this job again?" confirmLabel="Yes, retry" busy={retrying.loading} onConfirm={() => run('retry')} />
      )}
      <div role="status" aria-live="polite">
        {feedback && <p className={feedback.kind === 'ok' ? 'notice notice--ok' : 'error-box'}>{feedback.text}</p>}
      </div>
    </div>
  );
}
