/**
 * Client-side validation with the server's rules (providers/schema.py), so
 * people see mistakes as they type. The server stays the judge: cross-field
 * rules (given in words in `rules`) are only checked there.
 *
 * `clean` mirrors `Field.clean`: it turns a draft into the JSON the server
 * gets and records every error with the same path and rule names.
 */
import type { Draft, DraftObject } from './draft';
import { pathKey, type PathPart } from './paths';
import { isDateSpec, type ArraySpec, type FieldSpec, type ObjectSpec, type ParamSchema, type StringSpec } from './spec';

export interface ClientFieldError {
  path: string;
  rule: string;
  message: string;
}

/** An omitted value: the server applies the default. */
const OMIT = Symbol('omit');
/** A value that failed; its error is recorded. */
const INVALID = Symbol('invalid');
type Cleaned = unknown | typeof OMIT | typeof INVALID;

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\x00-\x1f\x7f]/;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
const INTEGER_TEXT = /^[+-]?\d+$/;

/** Messages for pattern formats, as the providers word them (describe() does not send them yet). */
const FORMAT_MESSAGES: Record<string, string> = {
  'iso-4217': 'must be an ISO 4217 currency code in capitals, such as USD',
  slug: 'must be a tag slug: lower-case letters, digits and hyphens',
  'owner/repo': 'must be owner/repo, such as octocat/Hello-World',
};

class Errors {
  readonly items: ClientFieldError[] = [];
  add(path: readonly PathPart[], rule: string, message: string): typeof INVALID {
    this.items.push({ path: pathKey(path), rule, message });
    return INVALID;
  }
}

/** Today's date in UTC, as the server counts it. */
export function todayUtc(now: Date = new Date()): string {
  return now.toISOString().slice(0, 10);
}

/** A pattern the server matches with re.fullmatch; null if JS cannot compile it. */
function fullMatcher(pattern: string): RegExp | null {
  try {
    return new RegExp(`^(?:${pattern})$`);
  } catch {
    return null;
  }
}

function cleanDate(spec: StringSpec, value: string, path: PathPart[], errors: Errors, today: string): Cleaned {
  const day = new Date(`${value}T00:00:00Z`);
  if (!ISO_DATE.test(value) || Number.isNaN(day.getTime()) || day.toISOString().slice(0, 10) !== value) {
    return errors.add(path, 'format', 'must be a date written YYYY-MM-DD');
  }
  if (spec.minimum && value < spec.minimum) {
    return errors.add(path, 'minimum', `must be on or after ${spec.minimum}`);
  }
  if (spec.maximum === 'today' && value > today) {
    return errors.add(path, 'maximum', 'must not be in the future');
  }
  return value;
}

function cleanString(spec: StringSpec, draft: Draft, path: PathPart[], errors: Errors, today: string): Cleaned {
  const value = typeof draft === 'string' ? draft.trim() : '';
  if (value === '') return OMIT;
  if (CONTROL.test(value)) return errors.add(path, 'characters', 'must not contain control characters');
  if (isDateSpec(spec)) return cleanDate(spec, value, path, errors, today);
  if (spec.minLength !== undefined && value.length < spec.minLength) {
    return errors.add(path, 'min_length', `must be at least ${spec.minLength} characters long`);
  }
  if (spec.maxLength !== undefined && value.length > spec.maxLength) {
    return errors.add(path, 'max_length', `must be at most ${spec.maxLength} characters long`);
  }
  if (spec.enum && !spec.enum.includes(value)) {
    return errors.add(path, 'choices', `must be one of: ${spec.enum.join(', ')}`);
  }
  const matcher = spec.pattern ? fullMatcher(spec.pattern) : null;
  if (matcher && !matcher.test(value)) {
    const message =
      spec.patternMessage ?? FORMAT_MESSAGES[spec.format ?? ''] ?? `must match ${spec.pattern}`;
    return errors.add(path, spec.format ? 'format' : 'pattern', message);
  }
  return value;
}

function cleanNumber(
  spec: FieldSpec & { type: 'integer' | 'number' },
  draft: Draft,
  path: PathPart[],
  errors: Errors,
): Cleaned {
  const text = typeof draft === 'string' ? draft.trim() : '';
  if (text === '') return OMIT;
  const value = Number(text);
  if (!Number.isFinite(value)) {
    return errors.add(path, 'type', spec.type === 'integer' ? 'must be a whole number' : 'must be a number');
  }
  if (spec.type === 'integer' && !INTEGER_TEXT.test(text)) {
    return errors.add(path, 'type', 'must be a whole number');
  }
  if (spec.minimum !== undefined && value < spec.minimum) {
    return errors.add(path, 'minimum', `must be at least ${spec.minimum}`);
  }
  if (spec.maximum !== undefined && value > spec.maximum) {
    return errors.add(path, 'maximum', `must be at most ${spec.maximum}`);
  }
  return value;
}

function cleanArray(spec: ArraySpec, draft: Draft, path: PathPart[], errors: Errors, today: string): Cleaned {
  const drafts = Array.isArray(draft) ? draft : [];
  const before = errors.items.length;
  // Empty rows are left out, as a person would expect of a blank line.
  const values = drafts
    .map((d, i) => ({ value: cleanField(spec.items, d, [...path, i], errors, today), i }))
    .filter((x) => x.value !== OMIT);
  if (errors.items.length > before) return INVALID;
  if (values.length === 0 && !spec.required) return OMIT;
  if (spec.minItems !== undefined && values.length < spec.minItems) {
    return errors.add(path, 'min_items', `must have at least ${spec.minItems} item(s)`);
  }
  if (spec.maxItems !== undefined && values.length > spec.maxItems) {
    return errors.add(path, 'max_items', `must have at most ${spec.maxItems} item(s)`);
  }
  if (spec.uniqueItems) {
    const seen = new Set<string>();
    for (const { value, i } of values) {
      const key = stableJson(value);
      if (seen.has(key)) return errors.add([...path, i], 'unique', 'repeats an earlier item');
      seen.add(key);
    }
  }
  return values.map((x) => x.value);
}

function cleanObject(
  fields: readonly FieldSpec[],
  draft: Draft,
  path: PathPart[],
  errors: Errors,
  today: string,
  omitEmpty: boolean,
): Cleaned {
  const object = (typeof draft === 'object' && draft !== null && !Array.isArray(draft) ? draft : {}) as DraftObject;
  const before = errors.items.length;
  const out: Record<string, unknown> = {};
  for (const field of fields) {
    const value = cleanField(field, object[field.name] ?? null, [...path, field.name], errors, today);
    if (value === OMIT) {
      if (field.required) errors.add([...path, field.name], 'required', 'is required');
    } else if (value !== INVALID) {
      out[field.name] = value;
    }
  }
  if (errors.items.length > before) return INVALID;
  return omitEmpty && Object.keys(out).length === 0 ? OMIT : out;
}

function cleanUnknown(draft: Draft, path: PathPart[], errors: Errors): Cleaned {
  const text = typeof draft === 'string' ? draft.trim() : '';
  if (text === '') return OMIT;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return errors.add(path, 'type', 'must be valid JSON');
  }
}

function cleanField(spec: FieldSpec, draft: Draft, path: PathPart[], errors: Errors, today: string): Cleaned {
  switch (spec.type) {
    case 'string':
      return cleanString(spec, draft, path, errors, today);
    case 'integer':
    case 'number':
      return cleanNumber(spec, draft, path, errors);
    case 'boolean':
      return typeof draft === 'boolean' ? draft : OMIT;
    case 'array':
      return cleanArray(spec, draft, path, errors, today);
    case 'object':
      // An empty row of a list (e.g. a place with nothing typed) is left out.
      return cleanObject((spec as ObjectSpec).fields, draft, path, errors, today, true);
    case 'unknown':
      return cleanUnknown(draft, path, errors);
  }
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export interface CleanResult {
  /** The parameters to send; null when some field is invalid. */
  params: Record<string, unknown> | null;
  errors: ClientFieldError[];
}

/** Validates a whole draft the way Schema.validate does (fields, then size). */
export function cleanParams(schema: ParamSchema, draft: DraftObject, now: Date = new Date()): CleanResult {
  const errors = new Errors();
  const cleaned = cleanObject(schema.fields, draft, [], errors, todayUtc(now), false);
  if (cleaned === INVALID || cleaned === OMIT) return { params: null, errors: errors.items };
  const params = cleaned as Record<string, unknown>;
  const size = new TextEncoder().encode(JSON.stringify(params)).length;
  if (schema.maxBytes !== undefined && size > schema.maxBytes) {
    errors.add([], 'size', `parameters are ${size} bytes; the limit is ${schema.maxBytes}`);
    return { params: null, errors: errors.items };
  }
  return { params, errors: [] };
}
