import type { ReactNode } from 'react';

export interface AriaProps {
  id: string;
  'aria-invalid': boolean;
  'aria-describedby'?: string;
  'aria-required'?: boolean;
}

interface Props {
  id: string;
  label: string;
  required?: boolean;
  help?: string;
  error?: string;
  /** Renders the control with the ids that tie label, help and error to it. */
  children: (aria: AriaProps) => ReactNode;
}

/** Label, control, help and error of one field, wired for screen readers. */
export function FieldShell({ id, label, required, help, error, children }: Props) {
  const helpId = help ? `${id}-help` : undefined;
  const errorId = error ? `${id}-error` : undefined;
  const describedBy = [errorId, helpId].filter(Boolean).join(' ') || undefined;
  return (
    <div className={`field${error ? ' field--invalid' : ''}`}>
      <label htmlFor={id}>
        {label}
        {required && <span className="required" aria-hidden="true"> *</span>}
      </label>
      {children({ id, 'aria-invalid': Boolean(error), 'aria-describedby': describedBy, 'aria-required': required || undefined })}
      {help && (
        <p className="field__help" id={helpId}>
          {help}
        </p>
      )}
      {error && <FieldErrorText id={errorId!}>{error}</FieldErrorText>}
    </div>
  );
}

export function FieldErrorText({ id, children }: { id?: string; children: ReactNode }) {
  return (
    <p className="field__error" id={id} role="alert">
      {children}
    </p>
  );
}

/** "forecast_days" -> "Forecast days": schema names made readable. */
export function humanize(name: string): string {
  const words = name.replace(/([a-z])([A-Z])/g, '$1 $2').replace(/[_-]+/g, ' ').trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}
