import { isDateSpec, type FieldSpec } from '../../params/spec';
import { pathId, pathKey, type PathPart } from '../../params/paths';
import { helpText } from './describeLimits';
import { FieldShell, humanize } from './FieldShell';
import { useParamFormContext } from './FormContext';
import { CheckboxInput, DateInput, EnumSelect, NumberInput, TextInput } from './inputs';
import { ListField } from './ListField';
import { ObjectFieldset } from './ObjectFieldset';

interface Props {
  spec: FieldSpec;
  path: PathPart[];
  /** Overrides the label (list rows are "Place 2", not "item"). */
  label?: string;
}

/** One generated field: picks the control for the spec's type. */
export function ParamField({ spec, path, label }: Props) {
  const form = useParamFormContext();
  const text = label ?? humanize(spec.name);
  if (spec.type === 'array') return <ListField spec={spec} path={path} label={text} />;
  if (spec.type === 'object') return <ObjectFieldset spec={spec} path={path} label={text} />;

  const id = pathId(form.idPrefix, path);
  return (
    <FieldShell id={id} label={text} required={spec.required} help={helpText(spec)} error={form.errorAt(pathKey(path))}>
      {(aria) => {
        switch (spec.type) {
          case 'integer':
          case 'number':
            return <NumberInput spec={spec} path={path} aria={aria} />;
          case 'boolean':
            return <CheckboxInput spec={spec} path={path} aria={aria} />;
          case 'string':
            if (isDateSpec(spec)) return <DateInput spec={spec} path={path} aria={aria} />;
            if (spec.enum) return <EnumSelect spec={spec} path={path} aria={aria} />;
            return <TextInput spec={spec} path={path} aria={aria} />;
          default:
            return <TextInput spec={spec} path={path} aria={aria} />;
        }
      }}
    </FieldShell>
  );
}
