/**
 * Field paths in the server's notation (providers/schema.py): `places[1].latitude`.
 * The form keys its errors and touched state by these strings, so server
 * errors land next to the right input without translation.
 */

export type PathPart = string | number;

export function pathKey(parts: readonly PathPart[]): string {
  let out = '';
  for (const part of parts) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${part}` : part;
  }
  return out;
}

/** A DOM id for a path (ids may not contain brackets or dots usefully in CSS). */
export function pathId(prefix: string, parts: readonly PathPart[]): string {
  return [prefix, ...parts].join('-').replace(/[^A-Za-z0-9_-]/g, '_');
}

/** Whether one path is the other or contains it (`places` and `places[0].name`). */
export function pathsOverlap(a: string, b: string): boolean {
  if (a === b) return true;
  const [short, long] = a.length < b.length ? [a, b] : [b, a];
  return short === '' || long.startsWith(`${short}.`) || long.startsWith(`${short}[`);
}

/** The submit options that are not parameters, as the mutation input names them. */
export const OPTION_FIELDS = ['provider', 'priority', 'countdown', 'idempotencyKey'] as const;
export type OptionField = (typeof OPTION_FIELDS)[number];

export type ServerErrorTarget =
  | { kind: 'param'; path: string }
  | { kind: 'option'; field: OptionField }
  | { kind: 'form' };

/**
 * Where a server field error belongs. The server may name parameter errors
 * `params.places[0].name`, `input.params...`, `jobs[3].params...` or just
 * `places[0].name`; `params` alone (e.g. the size rule) is the whole form.
 */
export function targetOfServerField(field: string, paramNames: readonly string[]): ServerErrorTarget {
  const stripped = field.replace(/^input\./, '').replace(/^jobs\[\d+\]\.?/, '');
  if ((OPTION_FIELDS as readonly string[]).includes(stripped)) {
    return { kind: 'option', field: stripped as OptionField };
  }
  if (stripped === 'params' || stripped === '') return { kind: 'form' };
  const path = stripped.replace(/^params\.?/, '');
  const head = path.split(/[.[]/)[0] ?? '';
  return paramNames.includes(head) ? { kind: 'param', path } : { kind: 'form' };
}
