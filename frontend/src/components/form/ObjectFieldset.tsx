import type { ObjectSpec } from '../../params/spec';
import { pathKey, type PathPart } from '../../params/paths';
import { FieldErrorText } from './FieldShell';
import { useParamFormContext } from './FormContext';
import { ParamField } from './ParamField';

interface Props {
  spec: ObjectSpec;
  path: PathPart[];
  label: string;
}

/** A nested object (a weather place): its fields, its rules in words, and errors about it as a whole. */
export function ObjectFieldset({ spec, path, label }: Props) {
  const form = useParamFormContext();
  const error = form.errorAt(pathKey(path));
  return (
    <fieldset className={`field-object${error ? ' field--invalid' : ''}`}>
      <legend>{label}</legend>
      {spec.help && <p className="field__help">{spec.help}</p>}
      {spec.rules?.map((rule) => (
        <p key={rule} className="field__help">
          Rule: {rule}.
        </p>
      ))}
      {error && <FieldErrorText>{error}</FieldErrorText>}
      <div className="field-object__fields">
        {spec.fields.map((field) => (
          <ParamField key={field.name} spec={field} path={[...path, field.name]} />
        ))}
      </div>
    </fieldset>
  );
}
