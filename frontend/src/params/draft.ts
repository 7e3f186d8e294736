/**
 * What the person is typing, before it is JSON. Numbers stay text while
 * typed ("-", "1.") so an input never fights the keyboard; `clean` turns a
 * draft into parameters.
 */
import { isDateSpec, type FieldSpec, type ParamSchema } from './spec';
import type { PathPart } from './paths';

export type Draft = string | boolean | null | Draft[] | { [name: string]: Draft };
export type DraftObject = { [name: string]: Draft };

/** The draft of a field: its default, else empty. */
export function initialDraft(spec: FieldSpec, value: unknown = spec.default): Draft {
  switch (spec.type) {
    case 'string':
      return typeof value === 'string' ? value : '';
    case 'integer':
    case 'number':
      return typeof value === 'number' ? String(value) : '';
    case 'boolean':
      return typeof value === 'boolean' ? value : null;
    case 'array': {
      const items = Array.isArray(value) ? value : [];
      const list = items.map((v) => initialDraft(spec.items, v));
      // A required list starts with one empty row so the form shows what to fill.
      if (list.length === 0 && spec.required) list.push(initialDraft(spec.items, undefined));
      return list;
    }
    case 'object':
      return initialObject(spec.fields, value);
    case 'unknown':
      return value === undefined || value === null ? '' : JSON.stringify(value);
  }
}

export function initialObject(fields: readonly FieldSpec[], value?: unknown): DraftObject {
  const given = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  return Object.fromEntries(fields.map((f) => [f.name, initialDraft(f, given[f.name] ?? f.default)]));
}

export function initialParams(schema: ParamSchema): DraftObject {
  return initialObject(schema.fields);
}

/** A copy of `draft` with the value at `path` replaced (drafts are immutable React state). */
export function setAt(draft: Draft, path: readonly PathPart[], value: Draft): Draft {
  if (path.length === 0) return value;
  const [head, ...rest] = path;
  if (typeof head === 'number') {
    const list = Array.isArray(draft) ? [...draft] : [];
    list[head] = setAt(list[head] ?? null, rest, value);
    return list;
  }
  const object = (typeof draft === 'object' && draft !== null && !Array.isArray(draft) ? draft : {}) as DraftObject;
  return { ...object, [head as string]: setAt(object[head as string] ?? null, rest, value) };
}

export function getAt(draft: Draft, path: readonly PathPart[]): Draft {
  let node: Draft | undefined = draft;
  for (const part of path) {
    if (node === null || typeof node !== 'object') return null;
    node = (node as Record<string | number, Draft>)[part as never];
  }
  return node ?? null;
}

/** Whether the spec is edited as plain text (for callers that pick an input). */
export function isTextual(spec: FieldSpec): boolean {
  return spec.type === 'string' && !isDateSpec(spec) && !spec.enum;
}
