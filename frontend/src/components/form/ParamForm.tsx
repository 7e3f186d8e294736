import type { ParamFormState } from '../../params/useParamForm';
import { FieldErrorText } from './FieldShell';
import { ParamFormContext } from './FormContext';
import { ParamField } from './ParamField';

interface Props {
  form: ParamFormState;
  /** Prefix of the DOM ids, unique per form on the page. */
  idPrefix?: string;
}

/** The fields generated from a provider's parameter schema. */
export function ParamForm({ form, idPrefix = 'param' }: Props) {
  const { schema } = form;
  return (
    <ParamFormContext.Provider value={{ ...form, idPrefix }}>
      <div className="param-form">
        {schema.fields.length === 0 && <p className="muted">This provider takes no parameters.</p>}
        {schema.fields.map((field) => (
          <ParamField key={field.name} spec={field} path={[field.name]} />
        ))}
        {schema.rules.length > 0 && (
          <ul className="param-form__rules" aria-label="Rules across fields">
            {schema.rules.map((rule) => (
              <li key={rule}>{rule}</li>
            ))}
          </ul>
        )}
        {form.formErrors.map((message) => (
          <FieldErrorText key={message}>{message}</FieldErrorText>
        ))}
      </div>
    </ParamFormContext.Provider>
  );
}
