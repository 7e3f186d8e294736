/**
 * The parameter schema of a provider, as `Provider.describe()['params']`
 * (providers/schema.py) sends it: fields with JSON Schema keyword names.
 * Parsed defensively: this is server input and the form must not crash on
 * a field kind it does not know (it falls back to a JSON text box).
 */

interface BaseSpec {
  name: string;
  required: boolean;
  help?: string;
  example?: unknown;
  default?: unknown;
}

export interface StringSpec extends BaseSpec {
  type: 'string';
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  /** e.g. "date", "slug", "iso-4217", "owner/repo". */
  format?: string;
  /** A message for a pattern mismatch, when the server gives one. */
  patternMessage?: string;
  enum?: string[];
  /** Dates: an ISO date, or "today" for the maximum. */
  minimum?: string;
  maximum?: string;
}

export interface NumberSpec extends BaseSpec {
  type: 'integer' | 'number';
  minimum?: number;
  maximum?: number;
}

export interface BooleanSpec extends BaseSpec {
  type: 'boolean';
}

export interface ArraySpec extends BaseSpec {
  type: 'array';
  items: FieldSpec;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
}

export interface ObjectSpec extends BaseSpec {
  type: 'object';
  fields: FieldSpec[];
  /** Cross-field rules, in words (checked by the server only). */
  rules?: string[];
}

/** A field of a kind the form does not know: edited as JSON text. */
export interface UnknownSpec extends BaseSpec {
  type: 'unknown';
  declaredType: string;
}

export type FieldSpec =
  | StringSpec
  | NumberSpec
  | BooleanSpec
  | ArraySpec
  | ObjectSpec
  | UnknownSpec;

export interface ParamSchema {
  fields: FieldSpec[];
  rules: string[];
  maxBytes?: number;
}

type Raw = Record<string, unknown>;

function isObject(value: unknown): value is Raw {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
const strings = (v: unknown) =>
  Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined;

function parseField(raw: Raw, name: string): FieldSpec {
  const base: BaseSpec = {
    name,
    required: raw.required === true,
    help: str(raw.help),
    example: raw.example,
    default: raw.default ?? undefined,
  };
  switch (raw.type) {
    case 'string':
      return {
        ...base,
        type: 'string',
        minLength: num(raw.minLength),
        maxLength: num(raw.maxLength),
        pattern: str(raw.pattern),
        format: str(raw.format),
        patternMessage: str(raw.patternMessage),
        enum: strings(raw.enum),
        minimum: str(raw.minimum),
        maximum: str(raw.maximum),
      };
    case 'integer':
    case 'number':
      return { ...base, type: raw.type, minimum: num(raw.minimum), maximum: num(raw.maximum) };
    case 'boolean':
      return { ...base, type: 'boolean' };
    case 'array':
      return {
        ...base,
        type: 'array',
        items: parseField(isObject(raw.items) ? raw.items : {}, 'item'),
        minItems: num(raw.minItems),
        maxItems: num(raw.maxItems),
        uniqueItems: raw.uniqueItems === true,
      };
    case 'object':
      return { ...base, type: 'object', fields: parseFields(raw.fields), rules: strings(raw.rules) };
    default:
      return { ...base, type: 'unknown', declaredType: String(raw.type ?? 'unknown') };
  }
}

function parseFields(raw: unknown): FieldSpec[] {
  if (!Array.isArray(raw)) return [];
  return raw
    .filter(isObject)
    .filter((f) => typeof f.name === 'string')
    .map((f) => parseField(f, f.name as string));
}

/** A ParamSchema from describe() JSON (a value or its JSON text). */
export function parseParamSchema(raw: unknown): ParamSchema {
  const value = typeof raw === 'string' ? (JSON.parse(raw) as unknown) : raw;
  if (!isObject(value)) return { fields: [], rules: [] };
  return {
    fields: parseFields(value.fields),
    rules: strings(value.rules) ?? [],
    maxBytes: num(value.maxBytes),
  };
}

/** Dates are strings with format "date" in describe(). */
export function isDateSpec(spec: FieldSpec): boolean {
  return spec.type === 'string' && spec.format === 'date';
}
