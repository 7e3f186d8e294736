import type { ArraySpec } from '../../params/spec';
import { getAt, initialDraft, type Draft } from '../../params/draft';
import { pathKey, type PathPart } from '../../params/paths';
import { helpText } from './describeLimits';
import { FieldErrorText, humanize } from './FieldShell';
import { useParamFormContext } from './FormContext';
import { ParamField } from './ParamField';

interface Props {
  spec: ArraySpec;
  path: PathPart[];
  label: string;
}

/** A list parameter: one row per item, with add and remove buttons. */
export function ListField({ spec, path, label }: Props) {
  const form = useParamFormContext();
  const current = getAt(form.draft, path);
  const items: Draft[] = Array.isArray(current) ? current : [];
  const error = form.errorAt(pathKey(path));
  const full = spec.maxItems !== undefined && items.length >= spec.maxItems;
  const itemName = singular(label);
  const help = helpText(spec);

  const add = () => form.setValue(path, [...items, initialDraft(spec.items, undefined)]);
  const remove = (index: number) => form.setValue(path, items.filter((_, i) => i !== index));

  return (
    <fieldset className={`field-list${error ? ' field--invalid' : ''}`}>
      <legend>
        {label}
        {spec.required && <span className="required" aria-hidden="true"> *</span>}
      </legend>
      {help && <p className="field__help">{help}</p>}
      {error && <FieldErrorText>{error}</FieldErrorText>}
      {items.length === 0 && <p className="muted">None yet.</p>}
      <ol className="field-list__items">
        {items.map((_, index) => (
          // Rows have no identity but their position; inputs are controlled, so values follow.
          <li key={index} className="field-list__item">
            <ParamField spec={spec.items} path={[...path, index]} label={`${itemName} ${index + 1}`} />
            <button type="button" className="button button--quiet" onClick={() => remove(index)} aria-label={`Remove ${itemName.toLowerCase()} ${index + 1}`}>
              Remove
            </button>
          </li>
        ))}
      </ol>
      <button type="button" className="button button--secondary" onClick={add} disabled={full}>
        Add {itemName.toLowerCase()}
      </button>
      {full && <span className="muted"> (at most {spec.maxItems})</span>}
    </fieldset>
  );
}

/** "Places" -> "Place", "Symbols" -> "Symbol": the label of one row. */
function singular(label: string): string {
  const word = humanize(label);
  if (word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (word.endsWith('s')) return word.slice(0, -1);
  return `${word} item`;
}
