/**
 * Apollo Client: queries and mutations over HTTP, subscriptions over the
 * graphql-ws client, one normalized cache so a subscription event for a
 * job updates every screen that shows it.
 */
import { ApolloClient, HttpLink, InMemoryCache, split, type FieldMergeFunction, type Reference, type StoreObject } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition, isReference } from '@apollo/client/utilities';
import type { Client } from 'graphql-ws';
import { endpoints, wsUrl } from '../config';
import { createConnectionStore, type ConnectionStore } from './connection';
import { csrfHeaders } from './csrf';
import { FINAL_STATES, type JobState } from '../graphql/types';
import { createWsClient } from './wsClient';

export interface ApiClients {
  apollo: ApolloClient<unknown>;
  ws: Client;
  connection: ConnectionStore;
}

/** fetch with the CSRF header: Django refuses session-authenticated POSTs without it. */
const csrfFetch: typeof fetch = (input, init) =>
  fetch(input, { ...init, headers: { ...(init?.headers ?? {}), ...csrfHeaders() } });

/**
 * The Job fields that change while a job runs. An answer that describes an
 * older moment of the job (e.g. a query answered before the websocket's
 * final event but delivered after it) must not write them back.
 */
const LIVE_JOB_FIELDS = [
  'state',
  'progress',
  'attempts',
  'error',
  'startedAt',
  'finishedAt',
  'worker',
  'result',
  'traceback',
  'attemptHistory',
] as const;

const isFinal = (state: unknown): boolean => FINAL_STATES.has(state as JobState);

/**
 * True when `incoming` is older than what the cache holds: a higher attempt
 * always wins, a lower one never does, and within one attempt a final state
 * (SUCCESS/FAILURE/REVOKED) is never replaced by a non-final one.
 */
export function isStaleJob(
  existing: { state?: unknown; attempts?: unknown },
  incoming: { state?: unknown; attempts?: unknown },
): boolean {
  const { state: oldState, attempts: oldAttempts } = existing;
  const { state: newState, attempts: newAttempts } = incoming;
  if (typeof oldAttempts === 'number' && typeof newAttempts === 'number' && oldAttempts !== newAttempts) {
    return newAttempts < oldAttempts;
  }
  return newState !== undefined && isFinal(oldState) && !isFinal(newState);
}

/** Field-level merges are what make Apollo call the Job type's merge with the incoming fields. */
const takeIncoming: FieldMergeFunction = (_existing, incoming) => incoming;

export function createCache(): InMemoryCache {
  return new InMemoryCache({
    typePolicies: {
      Job: {
        fields: Object.fromEntries(
          LIVE_JOB_FIELDS.map((name) => [name, name === 'progress' ? { merge: true } : { merge: takeIncoming }]),
        ),
        /**
         * Called twice per write: with the parent field's two References
         * (nothing to decide), and with the entity's Reference and the
         * incoming fields, which are compared with the stored job (read by
         * id, since an overwriting refetch passes no `existing`).
         */
        merge(existing: Reference | StoreObject | undefined, incoming: Reference | StoreObject, { readField, toReference }) {
          if (isReference(incoming)) return incoming;
          const id = incoming.id as string | undefined;
          const stored = existing && isReference(existing) ? existing : id ? toReference({ __typename: 'Job', id }) : undefined;
          if (!stored) return incoming;
          const now = { state: readField('state', stored), attempts: readField('attempts', stored) };
          if (now.state === undefined) return incoming;
          if (!isStaleJob(now, { state: incoming.state, attempts: incoming.attempts })) return incoming;
          // Drop the older values the cache has newer ones of; keep those it
          // lacks (e.g. `result` after an event), or the query reads incomplete.
          const kept: StoreObject = { ...incoming };
          for (const name of LIVE_JOB_FIELDS) {
            if (name in kept && readField(name, stored) !== undefined) delete kept[name];
          }
          return kept;
        },
      },
      // Objects without ids, replaced whole on each update.
      Progress: { merge: true },
      Stats: { merge: true },
      Viewer: { merge: true },
    },
  });
}

export function createApiClients(): ApiClients {
  const connection = createConnectionStore();
  // `apollo` is assigned below; the callback only runs after a reconnect.
  let apollo: ApolloClient<unknown> | undefined;
  const ws = createWsClient({
    url: wsUrl(endpoints.graphqlWs),
    store: connection,
    onReconnected: () => void apollo?.refetchQueries({ include: 'active' }),
  });
  const http = new HttpLink({ uri: endpoints.graphql, credentials: 'same-origin', fetch: csrfFetch });
  const link = split(
    ({ query }) => {
      const definition = getMainDefinition(query);
      return definition.kind === 'OperationDefinition' && definition.operation === 'subscription';
    },
    new GraphQLWsLink(ws),
    http,
  );
  apollo = new ApolloClient({
    link,
    cache: createCache(),
    defaultOptions: {
      watchQuery: { fetchPolicy: 'cache-and-network', errorPolicy: 'none' },
    },
  });
  return { apollo, ws, connection };
}
