/**
 * Apollo Client: queries and mutations over HTTP, subscriptions over the
 * graphql-ws client, one normalized cache so a subscription event for a
 * job updates every screen that shows it.
 */
import { ApolloClient, HttpLink, InMemoryCache, split } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import type { Client } from 'graphql-ws';
import { endpoints, wsUrl } from '../config';
import { createConnectionStore, type ConnectionStore } from './connection';
import { csrfHeaders } from './csrf';
import { createWsClient } from './wsClient';

export interface ApiClients {
  apollo: ApolloClient<unknown>;
  ws: Client;
  connection: ConnectionStore;
}

/** fetch with the CSRF header: Django refuses session-authenticated POSTs without it. */
const csrfFetch: typeof fetch = (input, init) =>
  fetch(input, { ...init, headers: { ...(init?.headers ?? {}), ...csrfHeaders() } });

export function createCache(): InMemoryCache {
  return new InMemoryCache({
    typePolicies: {
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
