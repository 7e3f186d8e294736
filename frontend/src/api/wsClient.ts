/**
 * The one graphql-ws client of the app: lazy (a socket only while some
 * screen subscribes), reconnecting forever with capped backoff, and
 * reporting its state to a ConnectionStore for the banner.
 */
import { createClient, type Client } from 'graphql-ws';
import type { ConnectionStore } from './connection';

/** Close codes after which retrying cannot help (graphql-transport-ws and ours). */
const FATAL_CLOSE_CODES = new Set([4400, 4401, 4403, 4406, 4409, 4429, 4500]);

/** Normal closure: the lazy client closed an idle socket itself. */
const NORMAL_CLOSURE = 1000;

/** Longest wait between two reconnection attempts, ms. */
const MAX_RETRY_WAIT_MS = 15_000;

/** 0.5 s, 1 s, 2 s ... capped, with jitter so a restarted server is not hit by every tab at once. */
export function retryDelay(retries: number): number {
  const base = Math.min(MAX_RETRY_WAIT_MS, 500 * 2 ** retries);
  return base / 2 + Math.random() * (base / 2);
}

function closeCode(event: unknown): number | undefined {
  return typeof event === 'object' && event !== null && 'code' in event
    ? Number((event as { code: unknown }).code)
    : undefined;
}

export interface WsClientOptions {
  url: string;
  store: ConnectionStore;
  /** Called after a reconnection: events sent while we were away are lost, so refetch. */
  onReconnected?: () => void;
}

export function createWsClient({ url, store, onReconnected }: WsClientOptions): Client {
  return createClient({
    url,
    lazy: true,
    // Keep the socket a little after the last subscription ends, so moving
    // from the jobs table to a job's page does not reconnect.
    lazyCloseTimeout: 3000,
    // Pings reveal a dead connection (laptop sleep, proxy drop) within seconds.
    keepAlive: 10_000,
    retryAttempts: Infinity,
    shouldRetry: (event) => !FATAL_CLOSE_CODES.has(closeCode(event) ?? 0),
    retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, retryDelay(retries))),
    on: {
      connecting: (isRetry) => store.set(isRetry ? 'reconnecting' : 'connecting'),
      connected: (_socket, _payload, wasRetry) => {
        store.set('connected');
        if (wasRetry) onReconnected?.();
      },
      closed: (event) => {
        const code = closeCode(event);
        if (code === NORMAL_CLOSURE) store.set('idle');
        else if (code !== undefined && FATAL_CLOSE_CODES.has(code)) store.set('failed');
        else store.set('reconnecting');
      },
    },
  });
}
