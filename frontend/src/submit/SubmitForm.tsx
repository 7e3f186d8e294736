/**
 * The submit form of one provider: generated parameters, options, and the
 * submitJob / submitJobs mutations with their field errors put back where
 * they belong.
 */
import { useMutation } from '@apollo/client';
import { useMemo, useRef, useState, type FormEvent } from 'react';
import { Link, useNavigate } from 'react-router';
import { describeError } from '../api/errors';
import { ParamForm } from '../components/form/ParamForm';
import { SUBMIT_JOB, SUBMIT_JOBS } from '../graphql/operations';
import type { FieldError, ProviderInfo, SubmitJobInput } from '../graphql/types';
import { targetOfServerField } from '../params/paths';
import { parseParamSchema } from '../params/spec';
import { useParamForm } from '../params/useParamForm';
import { newIdempotencyKey } from './idempotency';
import { INITIAL_OPTIONS, optionErrors, SubmitOptions, type OptionsDraft } from './SubmitOptions';

type Outcome = { kind: 'bulk'; count: number } | { kind: 'error'; text: string } | null;

export function SubmitForm({ provider }: { provider: ProviderInfo }) {
  const schema = useMemo(() => parseParamSchema(provider.paramsSchema), [provider.paramsSchema]);
  const form = useParamForm(schema);
  const navigate = useNavigate();
  const [options, setOptions] = useState<OptionsDraft>(INITIAL_OPTIONS);
  const [serverOptionErrors, setServerOptionErrors] = useState<Partial<Record<keyof OptionsDraft, string>>>({});
  const [showOptionErrors, setShowOptionErrors] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const keyRef = useRef(newIdempotencyKey());
  const formRef = useRef<HTMLFormElement>(null);
  const [submitOne, one] = useMutation(SUBMIT_JOB);
  const [submitMany, many] = useMutation(SUBMIT_JOBS);
  const busy = one.loading || many.loading;

  const clientOptionErrors = optionErrors(options);
  const shownOptionErrors = { ...(showOptionErrors ? clientOptionErrors : {}), ...serverOptionErrors };

  const applyServerErrors = (errors: FieldError[]) => {
    const names = schema.fields.map((f) => f.name);
    const params: { path: string; message: string }[] = [];
    const whole: string[] = [];
    const opts: Partial<Record<keyof OptionsDraft, string>> = {};
    for (const error of errors) {
      const target = targetOfServerField(error.field, names);
      if (target.kind === 'param') params.push({ path: target.path, message: error.message });
      else if (target.kind === 'option' && target.field === 'priority') opts.priority = error.message;
      else if (target.kind === 'option' && target.field === 'countdown') opts.delay = error.message;
      else whole.push(error.field && target.kind === 'form' && error.field !== 'params' ? `${error.field}: ${error.message}` : error.message);
    }
    form.setServerErrors(params, whole);
    setServerOptionErrors(opts);
    focusFirstInvalid();
  };

  const focusFirstInvalid = () =>
    // After React has rendered the messages.
    requestAnimationFrame(() => formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus());

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setOutcome(null);
    form.revealAll();
    setShowOptionErrors(true);
    if (!form.params || Object.keys(clientOptionErrors).length > 0) {
      focusFirstInvalid();
      return;
    }
    const count = Number(options.count);
    const input: SubmitJobInput = {
      provider: provider.name,
      params: form.params,
      priority: options.priority,
      countdown: options.delay.trim() ? Number(options.delay) : null,
      idempotencyKey: keyRef.current,
    };
    try {
      if (count === 1) {
        const { data } = await submitOne({ variables: { input } });
        const payload = data?.submitJob;
        if (payload?.errors.length) return applyServerErrors(payload.errors);
        if (payload?.job) {
          keyRef.current = newIdempotencyKey();
          navigate(`/jobs/${encodeURIComponent(payload.job.id)}`);
        }
      } else {
        const jobs = Array.from({ length: count }, (_, i) => ({ ...input, idempotencyKey: `${keyRef.current}-${i}` }));
        const { data } = await submitMany({ variables: { input: { jobs } } });
        const payload = data?.submitJobs;
        if (payload?.errors.length) return applyServerErrors(payload.errors);
        keyRef.current = newIdempotencyKey();
        setOutcome({ kind: 'bulk', count: payload?.jobs.length ?? 0 });
      }
    } catch (error) {
      setOutcome({ kind: 'error', text: describeError(error) });
    }
  };

  const invalidCount = form.clientErrors.length + Object.keys(clientOptionErrors).length;
  return (
    <form ref={formRef} className="form submit-form" onSubmit={submit} noValidate aria-describedby="provider-description">
      <fieldset className="params">
        <legend>Parameters</legend>
        <ParamForm form={form} idPrefix={`p-${provider.name}`} />
      </fieldset>
      <SubmitOptions
        options={options}
        errors={shownOptionErrors}
        onChange={(next) => {
          setOptions(next);
          setServerOptionErrors({});
        }}
      />
      <div className="form__actions">
        <button type="submit" className="button" disabled={busy}>
          {busy ? 'Submitting…' : Number(options.count) > 1 ? `Submit ${options.count} jobs` : 'Submit job'}
        </button>
        <button type="button" className="button button--secondary" onClick={() => { form.reset(); setOptions(INITIAL_OPTIONS); setOutcome(null); }}>
          Reset
        </button>
        {showOptionErrors && invalidCount > 0 && (
          <span className="field__error" role="alert">
            Fix the {invalidCount === 1 ? 'marked field' : `${invalidCount} marked fields`} first.
          </span>
        )}
      </div>
      <div role="status" aria-live="polite">
        {outcome?.kind === 'bulk' && (
          <p className="notice notice--ok">
            Queued {outcome.count} jobs. <Link to={`/jobs?provider=${encodeURIComponent(provider.name)}`}>Watch them</Link>.
          </p>
        )}
        {outcome?.kind === 'error' && <p className="error-box">{outcome.text}</p>}
      </div>
    </form>
  );
}
