/**
 * The state of a generated parameter form: the draft, which fields the
 * person touched, the client's errors (recomputed on every keystroke) and
 * the server's errors (kept until the field they name is edited).
 */
import { useCallback, useMemo, useState } from 'react';
import { cleanParams, type ClientFieldError } from './clean';
import { initialParams, setAt, type Draft, type DraftObject } from './draft';
import { pathKey, pathsOverlap, type PathPart } from './paths';
import type { ParamSchema } from './spec';

export interface ParamFormState {
  schema: ParamSchema;
  draft: DraftObject;
  setValue(path: readonly PathPart[], value: Draft): void;
  /** Marks a field as visited (on blur), so its error shows even if unchanged. */
  touch(path: readonly PathPart[]): void;
  /** The error to show at a path: the server's, else the client's once touched. */
  errorAt(path: string): string | undefined;
  /** Errors of the whole document (size, or server errors with no field). */
  formErrors: string[];
  /** The parameters to send, or null while some field is invalid. */
  params: Record<string, unknown> | null;
  clientErrors: ClientFieldError[];
  /** Shows every error (after a submit attempt). */
  revealAll(): void;
  setServerErrors(errors: { path: string; message: string }[], formErrors?: string[]): void;
  reset(): void;
}

export function useParamForm(schema: ParamSchema): ParamFormState {
  const [draft, setDraft] = useState<DraftObject>(() => initialParams(schema));
  const [touched, setTouched] = useState<ReadonlySet<string>>(new Set());
  const [showAll, setShowAll] = useState(false);
  const [server, setServer] = useState<{ path: string; message: string }[]>([]);
  const [serverForm, setServerForm] = useState<string[]>([]);

  const { params, errors } = useMemo(() => cleanParams(schema, draft), [schema, draft]);

  const clientByPath = useMemo(() => {
    const map = new Map<string, string>();
    for (const e of errors) if (!map.has(e.path)) map.set(e.path, e.message);
    return map;
  }, [errors]);

  const setValue = useCallback((path: readonly PathPart[], value: Draft) => {
    const key = pathKey(path);
    setDraft((d) => setAt(d, path, value) as DraftObject);
    setTouched((t) => (t.has(key) ? t : new Set(t).add(key)));
    // A server error about this field (or its list/row) no longer describes what is typed.
    setServer((s) => s.filter((e) => !pathsOverlap(e.path, key)));
    setServerForm([]);
  }, []);

  const touch = useCallback((path: readonly PathPart[]) => {
    const key = pathKey(path);
    setTouched((t) => (t.has(key) ? t : new Set(t).add(key)));
  }, []);

  const errorAt = useCallback(
    (path: string) => {
      const fromServer = server.find((e) => e.path === path);
      if (fromServer) return fromServer.message;
      if (showAll || touched.has(path)) return clientByPath.get(path);
      return undefined;
    },
    [server, showAll, touched, clientByPath],
  );

  const formErrors = useMemo(() => {
    const root = showAll ? errors.filter((e) => e.path === '').map((e) => e.message) : [];
    return [...serverForm, ...root];
  }, [errors, serverForm, showAll]);

  return {
    schema,
    draft,
    setValue,
    touch,
    errorAt,
    formErrors,
    params,
    clientErrors: errors,
    revealAll: useCallback(() => setShowAll(true), []),
    setServerErrors: useCallback((list, form = []) => {
      setServer(list);
      setServerForm(form);
    }, []),
    reset: useCallback(() => {
      setDraft(initialParams(schema));
      setTouched(new Set());
      setShowAll(false);
      setServer([]);
      setServerForm([]);
    }, [schema]),
  };
}
