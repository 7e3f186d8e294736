/**
 * Parameters checked against the provider's JSON Schema document with ajv,
 * the same document the server checks with jsonschema (providers/schema.py),
 * and ajv's errors put in the server's words: the same paths
 * (`places[1].latitude`), rule names (`maximum`) and messages, so an error
 * reads the same whether the browser or the server found it. Cross-field
 * rules (`x-rules`, in words) are checked by the server only.
 */
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { pathKey, type PathPart } from './paths';

export interface ClientFieldError {
  path: string;
  rule: string;
  message: string;
}

/** Today's date in UTC, as the server counts it. */
export function todayUtc(now: Date = new Date()): string {
  return now.toISOString().slice(0, 10);
}

/**
 * The day `x-notAfterToday` compares with, set for each validation: ajv
 * compiles a schema once, and the date must not go stale in an open tab.
 */
let validationDay = todayUtc();

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: true });
addFormats(ajv, { formats: ['date'], keywords: true });
// Annotations the server adds for people and for the form, not rules.
ajv.addVocabulary(['x-messages', 'x-rules', 'x-maxBytes']);
ajv.addKeyword({
  keyword: 'x-notAfterToday',
  type: 'string',
  schemaType: 'boolean',
  validate: (enabled: boolean, data: string) => !enabled || !ISO_DATE.test(data) || data <= validationDay,
  errors: false,
});

const compiled = new WeakMap<object, ValidateFunction>();

/** Formats named only to describe a pattern ("slug", "owner/repo") are annotations here too. */
function declareFormats(schema: unknown): void {
  if (Array.isArray(schema)) {
    schema.forEach(declareFormats);
    return;
  }
  if (typeof schema !== 'object' || schema === null) return;
  const format = (schema as Record<string, unknown>).format;
  if (typeof format === 'string' && !ajv.formats[format]) ajv.addFormat(format, true);
  Object.values(schema).forEach(declareFormats);
}

function validatorFor(document: Record<string, unknown>): ValidateFunction {
  let validate = compiled.get(document);
  if (!validate) {
    declareFormats(document);
    validate = ajv.compile(document);
    compiled.set(document, validate);
  }
  return validate;
}

/**
 * Keyword -> the rule name the API reports; the order is the priority when
 * one value breaks several keywords (as on the server, only the first shows).
 */
const RULES: Record<string, string> = {
  type: 'type',
  required: 'required',
  additionalProperties: 'unknown',
  minLength: 'min_length',
  maxLength: 'max_length',
  enum: 'choices',
  format: 'format',
  pattern: 'pattern',
  minimum: 'minimum',
  maximum: 'maximum',
  formatMinimum: 'minimum',
  'x-notAfterToday': 'maximum',
  minItems: 'min_items',
  maxItems: 'max_items',
  uniqueItems: 'unique',
};
const PRIORITY = Object.fromEntries(Object.keys(RULES).map((k, i) => [k, i]));

const EXPECTED: Record<string, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
  array: 'an array',
  object: 'an object',
};

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/** `/places/0/latitude` -> ['places', 0, 'latitude'] (JSON Pointer, RFC 6901). */
function pointerParts(pointer: string): PathPart[] {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}

function messageOf(error: ErrorObject, schema: Record<string, unknown>): string {
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'type': {
      const wanted = schema.format === 'date' ? 'a date string' : EXPECTED[String(params.type)];
      return `expected ${wanted ?? String(params.type)}, got ${typeName(error.data)}`;
    }
    case 'minLength':
      return `must be at least ${String(params.limit)} characters long`;
    case 'maxLength':
      return `must be at most ${String(params.limit)} characters long`;
    case 'enum':
      return `must be one of: ${(params.allowedValues as unknown[]).map(String).join(', ')}`;
    case 'format':
      return params.format === 'date' ? 'must be a date written YYYY-MM-DD' : (error.message ?? 'has the wrong format');
    case 'pattern':
      return `must match ${String(params.pattern)}`;
    case 'minimum':
      return `must be at least ${String(params.limit)}`;
    case 'maximum':
      return `must be at most ${String(params.limit)}`;
    case 'formatMinimum':
      return `must be on or after ${String(params.limit)}`;
    case 'x-notAfterToday':
      return 'must not be in the future';
    case 'minItems':
      return `must have at least ${String(params.limit)} item(s)`;
    case 'maxItems':
      return `must have at most ${String(params.limit)} item(s)`;
    case 'uniqueItems':
      return 'repeats an earlier item';
    default:
      return error.message ?? `breaks the ${error.keyword} rule`;
  }
}

/** Equal as JSON, whatever the order of object keys. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function firstRepeat(items: unknown): number {
  const list = Array.isArray(items) ? items : [];
  const seen = new Set<string>();
  for (const [index, item] of list.entries()) {
    const key = stableJson(item);
    if (seen.has(key)) return index;
    seen.add(key);
  }
  return Math.max(list.length - 1, 0);
}

/** One ajv error in the server's words (providers/schema.py `_words`). */
function wordsOf(error: ErrorObject): ClientFieldError {
  const path = pointerParts(error.instancePath);
  const schema = (error.parentSchema ?? {}) as Record<string, unknown>;
  const params = error.params as Record<string, unknown>;
  const messages = (schema['x-messages'] ?? {}) as Record<string, string>;
  const custom = messages[error.keyword];
  switch (error.keyword) {
    case 'required':
      return { path: pathKey([...path, String(params.missingProperty)]), rule: 'required', message: 'is required' };
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const known = Object.keys((schema.properties ?? {}) as object).join(', ');
      const shown = key.length <= 40 ? key : `${key.slice(0, 40)}...`;
      return { path: pathKey([...path, shown]), rule: 'unknown', message: `unknown parameter; expected: ${known}` };
    }
    case 'uniqueItems':
      // ajv scans from the end; the server names the first item equal to an earlier one.
      return { path: pathKey([...path, firstRepeat(error.data)]), rule: 'unique', message: custom ?? messageOf(error, schema) };
  }
  const rule = error.keyword === 'pattern' && 'format' in schema ? 'format' : (RULES[error.keyword] ?? error.keyword);
  return { path: pathKey(path), rule, message: custom ?? messageOf(error, schema) };
}

function within(path: string, parent: string): boolean {
  return path.startsWith(`${parent}.`) || path.startsWith(`${parent}[`);
}

/**
 * ajv's errors as the server reports them: one per field (the first keyword
 * in RULES order), none under a refused list or object.
 */
export function fieldErrors(errors: readonly ErrorObject[]): ClientFieldError[] {
  const best = new Map<string, { rank: number; error: ClientFieldError }>();
  for (const error of errors) {
    const rank = PRIORITY[error.keyword] ?? Object.keys(RULES).length;
    const found = wordsOf(error);
    const own = found.rule === 'required' || found.rule === 'unknown';
    const key = `${found.path}\u0000${own ? found.rule : ''}`;
    const seen = best.get(key);
    if (!seen || rank < seen.rank) best.set(key, { rank, error: found });
  }
  const found = [...best.values()].map((b) => b.error);
  const blocking = found.filter((f) => f.rule !== 'required' && f.rule !== 'unknown' && f.path !== '').map((f) => f.path);
  return found.filter((f) => !blocking.some((p) => p !== f.path && within(f.path, p)));
}

/** Checks parameters as Schema.validate does: the size first, then the document. */
export function validateParams(
  document: Record<string, unknown>,
  params: Record<string, unknown>,
  now: Date = new Date(),
): ClientFieldError[] {
  const maxBytes = document['x-maxBytes'];
  const size = new TextEncoder().encode(JSON.stringify(params)).length;
  if (typeof maxBytes === 'number' && size > maxBytes) {
    return [{ path: '', rule: 'size', message: `parameters are ${size} bytes; the limit is ${maxBytes}` }];
  }
  const validate = validatorFor(document);
  validationDay = todayUtc(now);
  return validate(params) ? [] : fieldErrors(validate.errors ?? []);
}
