/**
 * From what the person typed to the JSON the server gets: text is trimmed,
 * empty fields and empty list rows are left out (the server applies the
 * defaults), numbers are parsed. The result is then checked against the
 * provider's JSON Schema with ajv (validate.ts); the server stays the judge
 * and also checks the rules across fields.
 */
import type { Draft, DraftObject } from './draft';
import { pathKey, type PathPart } from './paths';
import type { ArraySpec, FieldSpec, ParamSchema } from './spec';
import { validateParams, type ClientFieldError } from './validate';

export type { ClientFieldError } from './validate';
export { todayUtc } from './validate';

/** An omitted value: the server applies the default. */
const OMIT = Symbol('omit');
/** Text that is no value of its field (a number field holding "east"). */
const UNREADABLE = Symbol('unreadable');
type Converted = unknown | typeof OMIT | typeof UNREADABLE;

const INTEGER_TEXT = /^[+-]?\d+$/;

/** What typing got wrong before any schema rule applies: text that is no number. */
type Unreadable = ClientFieldError[];

function convertNumber(spec: FieldSpec & { type: 'integer' | 'number' }, draft: Draft, path: PathPart[], unreadable: Unreadable): Converted {
  const text = typeof draft === 'string' ? draft.trim() : '';
  if (text === '') return OMIT;
  const value = Number(text);
  const whole = spec.type === 'integer';
  if (!Number.isFinite(value) || (whole && !INTEGER_TEXT.test(text))) {
    unreadable.push({ path: pathKey(path), rule: 'type', message: whole ? 'must be a whole number' : 'must be a number' });
    return UNREADABLE;
  }
  return value;
}

function convertArray(spec: ArraySpec, draft: Draft, path: PathPart[], unreadable: Unreadable): Converted {
  const drafts = Array.isArray(draft) ? draft : [];
  // Empty rows are left out, as a person would expect of a blank line.
  const values = drafts.map((d, i) => convertField(spec.items, d, [...path, i], unreadable)).filter((v) => v !== OMIT);
  if (values.length === 0 && !spec.required) return OMIT;
  return values;
}

function convertObject(fields: readonly FieldSpec[], draft: Draft, path: PathPart[], unreadable: Unreadable, omitEmpty: boolean): Converted {
  const object = (typeof draft === 'object' && draft !== null && !Array.isArray(draft) ? draft : {}) as DraftObject;
  const out: Record<string, unknown> = {};
  for (const field of fields) {
    const value = convertField(field, object[field.name] ?? null, [...path, field.name], unreadable);
    if (value !== OMIT) out[field.name] = value;
  }
  return omitEmpty && Object.keys(out).length === 0 ? OMIT : out;
}

function convertUnknown(draft: Draft, path: PathPart[], unreadable: Unreadable): Converted {
  const text = typeof draft === 'string' ? draft.trim() : '';
  if (text === '') return OMIT;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    unreadable.push({ path: pathKey(path), rule: 'type', message: 'must be valid JSON' });
    return UNREADABLE;
  }
}

function convertField(spec: FieldSpec, draft: Draft, path: PathPart[], unreadable: Unreadable): Converted {
  switch (spec.type) {
    case 'string': {
      const text = typeof draft === 'string' ? draft.trim() : '';
      return text === '' ? OMIT : text;
    }
    case 'integer':
    case 'number':
      return convertNumber(spec, draft, path, unreadable);
    case 'boolean':
      return typeof draft === 'boolean' ? draft : OMIT;
    case 'array':
      return convertArray(spec, draft, path, unreadable);
    case 'object':
      // An empty row of a list (e.g. a place with nothing typed) is left out.
      return convertObject(spec.fields, draft, path, unreadable, true);
    case 'unknown':
      return convertUnknown(draft, path, unreadable);
  }
}

export interface CleanResult {
  /** The parameters to send; null when some field is invalid. */
  params: Record<string, unknown> | null;
  errors: ClientFieldError[];
}

/** The parameters a draft stands for, checked against the provider's JSON Schema. */
export function cleanParams(schema: ParamSchema, draft: DraftObject, now: Date = new Date()): CleanResult {
  const unreadable: Unreadable = [];
  const params = convertObject(schema.fields, draft, [], unreadable, false) as Record<string, unknown>;
  // The schema judges the rest of the document; what it says about unreadable text is moot.
  const judged = validateParams(schema.document, stripUnreadable(params), now).filter(
    (e) => !unreadable.some((u) => e.path === u.path || e.path.startsWith(`${u.path}.`) || e.path.startsWith(`${u.path}[`)),
  );
  const errors = [...unreadable, ...judged];
  return errors.length > 0 ? { params: null, errors } : { params, errors };
}

function stripUnreadable(value: unknown): Record<string, unknown> {
  const strip = (v: unknown): unknown => {
    // null keeps the positions of the other items (their paths) as typed.
    if (Array.isArray(v)) return v.map((x) => (x === UNREADABLE ? null : strip(x)));
    if (typeof v === 'object' && v !== null) {
      return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== UNREADABLE).map(([k, x]) => [k, strip(x)]));
    }
    return v;
  };
  return strip(value) as Record<string, unknown>;
}
