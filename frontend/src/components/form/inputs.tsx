/**
 * The leaf controls of the generated form, one per kind of value. Each
 * reads and writes the draft at its path through the form context.
 */
import type { ArraySpec, BooleanSpec, NumberSpec, StringSpec, UnknownSpec } from '../../params/spec';
import { todayUtc } from '../../params/validate';
import { getAt } from '../../params/draft';
import type { PathPart } from '../../params/paths';
import type { AriaProps } from './FieldShell';
import { useParamFormContext } from './FormContext';

interface LeafProps<S> {
  spec: S;
  path: PathPart[];
  aria: AriaProps;
}

function useLeaf(path: PathPart[]) {
  const form = useParamFormContext();
  return {
    value: getAt(form.draft, path),
    set: (value: string | boolean | null) => form.setValue(path, value),
    blur: () => form.touch(path),
  };
}

function placeholderOf(spec: { example?: unknown; default?: unknown }): string | undefined {
  const hint = spec.example ?? spec.default;
  return typeof hint === 'string' || typeof hint === 'number' ? `e.g. ${hint}` : undefined;
}

export function TextInput({ spec, path, aria }: LeafProps<StringSpec | UnknownSpec>) {
  const { value, set, blur } = useLeaf(path);
  const maxLength = spec.type === 'string' ? spec.maxLength : undefined;
  return (
    <input
      {...aria}
      type="text"
      value={typeof value === 'string' ? value : ''}
      // Twice the limit: the browser must not silently cut text the person
      // should see refused with a message.
      maxLength={maxLength ? maxLength * 2 : undefined}
      placeholder={placeholderOf(spec)}
      autoComplete="off"
      spellCheck={false}
      onChange={(e) => set(e.target.value)}
      onBlur={blur}
    />
  );
}

export function DateInput({ spec, path, aria }: LeafProps<StringSpec>) {
  const { value, set, blur } = useLeaf(path);
  return (
    <input
      {...aria}
      type="date"
      value={typeof value === 'string' ? value : ''}
      min={spec.minimum && spec.minimum !== 'today' ? spec.minimum : undefined}
      max={spec.maximum === 'today' ? todayUtc() : spec.maximum}
      onChange={(e) => set(e.target.value)}
      onBlur={blur}
    />
  );
}

export function NumberInput({ spec, path, aria }: LeafProps<NumberSpec>) {
  const { value, set, blur } = useLeaf(path);
  // type="text": a number input hides what was typed when it is not a
  // number, so the person could not see why it is refused.
  return (
    <input
      {...aria}
      type="text"
      inputMode={spec.type === 'integer' ? 'numeric' : 'decimal'}
      value={typeof value === 'string' ? value : ''}
      placeholder={placeholderOf(spec)}
      autoComplete="off"
      onChange={(e) => set(e.target.value)}
      onBlur={blur}
    />
  );
}

export function EnumSelect({ spec, path, aria }: LeafProps<StringSpec>) {
  const { value, set, blur } = useLeaf(path);
  const needsBlank = !spec.required && spec.default === undefined;
  return (
    <select {...aria} value={typeof value === 'string' ? value : ''} onChange={(e) => set(e.target.value)} onBlur={blur}>
      {needsBlank && <option value="">(any)</option>}
      {(spec.enum ?? []).map((choice) => (
        <option key={choice} value={choice}>
          {choice}
        </option>
      ))}
    </select>
  );
}

export function CheckboxInput({ path, aria }: LeafProps<BooleanSpec>) {
  const { value, set, blur } = useLeaf(path);
  return <input {...aria} type="checkbox" checked={value === true} onChange={(e) => set(e.target.checked)} onBlur={blur} />;
}

/** "1 to 10 items, no repeats": the limits of a list in words. */
export function listLimits(spec: ArraySpec): string {
  const parts: string[] = [];
  const { minItems: min = 0, maxItems: max } = spec;
  if (max !== undefined) parts.push(min > 0 ? `${min} to ${max} items` : `up to ${max} items`);
  else if (min > 0) parts.push(`at least ${min} items`);
  if (spec.uniqueItems) parts.push('no repeats');
  return parts.join(', ');
}
