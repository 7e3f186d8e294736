/**
 * The websocket's state as a tiny external store, so React components can
 * show it (useSyncExternalStore) without the client knowing about React.
 */

export type ConnectionState =
  /** No subscription is open, so no socket (the client is lazy). */
  | 'idle'
  | 'connecting'
  | 'connected'
  /** The socket dropped; the client is retrying with backoff. */
  | 'reconnecting'
  /** The server refused us for good (e.g. signed out); no more retries. */
  | 'failed';

export interface ConnectionStore {
  get(): ConnectionState;
  set(state: ConnectionState): void;
  subscribe(listener: () => void): () => void;
}

export function createConnectionStore(initial: ConnectionState = 'idle'): ConnectionStore {
  let state = initial;
  const listeners = new Set<() => void>();
  return {
    get: () => state,
    set(next) {
      if (next === state) return;
      state = next;
      for (const listener of listeners) listener();
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
