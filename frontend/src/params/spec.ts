/**
 * A provider's parameters as the form needs them, read from the JSON Schema
 * document the server sends (`Provider.paramsSchema`, providers/schema.py):
 * `properties` become fields, `description` the help, `examples[0]` the
 * placeholder. Validation uses the document itself (validate.ts, ajv); this
 * is only the form's view of it. Parsed defensively: this is server input and
 * the form must not crash on a field kind it does not know (it falls back to
 * a JSON text box).
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
  /** The JSON Schema document itself, for the validator. */
  document: Record<string, unknown>;
}

type Raw = Record<string, unknown>;

function isObject(value: unknown): value is Raw {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
const strings = (v: unknown) =>
  Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined;

function parseField(raw: Raw, name: string, required: boolean): FieldSpec {
  const examples = Array.isArray(raw.examples) ? raw.examples : [];
  const base: BaseSpec = {
    name,
    required,
    help: str(raw.description),
    example: examples[0],
    default: raw.default ?? undefined,
  };
  switch (raw.type) {
    case 'string': {
      const messages = isObject(raw['x-messages']) ? raw['x-messages'] : {};
      return {
        ...base,
        type: 'string',
        minLength: num(raw.minLength),
        maxLength: num(raw.maxLength),
        pattern: str(raw.pattern),
        format: str(raw.format),
        patternMessage: str(messages.pattern),
        enum: strings(raw.enum),
        minimum: str(raw.formatMinimum),
        maximum: raw['x-notAfterToday'] === true ? 'today' : str(raw.formatMaximum),
      };
    }
    case 'integer':
    case 'number':
      return { ...base, type: raw.type, minimum: num(raw.minimum), maximum: num(raw.maximum) };
    case 'boolean':
      return { ...base, type: 'boolean' };
    case 'array':
      return {
        ...base,
        type: 'array',
        items: parseField(isObject(raw.items) ? raw.items : {}, 'item', false),
        minItems: num(raw.minItems),
        maxItems: num(raw.maxItems),
        uniqueItems: raw.uniqueItems === true,
      };
    case 'object':
      return { ...base, type: 'object', fields: parseFields(raw), rules: strings(raw['x-rules']) };
    default:
      return { ...base, type: 'unknown', declaredType: String(raw.type ?? 'unknown') };
  }
}

/** The fields of an object schema, in declaration order. */
function parseFields(raw: Raw): FieldSpec[] {
  const properties = isObject(raw.properties) ? raw.properties : {};
  const required = strings(raw.required) ?? [];
  return Object.entries(properties)
    .filter((entry): entry is [string, Raw] => isObject(entry[1]))
    .map(([name, field]) => parseField(field, name, required.includes(name)));
}

/** A ParamSchema from a JSON Schema document (a value or its JSON text). */
export function parseParamSchema(raw: unknown): ParamSchema {
  const value = typeof raw === 'string' ? (JSON.parse(raw) as unknown) : raw;
  if (!isObject(value)) return { fields: [], rules: [], document: { type: 'object' } };
  return {
    fields: parseFields(value),
    rules: strings(value['x-rules']) ?? [],
    maxBytes: num(value['x-maxBytes']),
    document: value,
  };
}

/** Dates are strings with format "date". */
export function isDateSpec(spec: FieldSpec): boolean {
  return spec.type === 'string' && spec.format === 'date';
}
