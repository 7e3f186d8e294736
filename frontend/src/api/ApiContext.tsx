import { createContext, useContext, useSyncExternalStore, type ReactNode } from 'react';
import type { ApiClients } from './apollo';
import type { ConnectionState } from './connection';

const ApiContext = createContext<ApiClients | null>(null);

export function ApiProvider({ clients, children }: { clients: ApiClients; children: ReactNode }) {
  return <ApiContext.Provider value={clients}>{children}</ApiContext.Provider>;
}

export function useApi(): ApiClients {
  const clients = useContext(ApiContext);
  if (!clients) throw new Error('useApi needs <ApiProvider>');
  return clients;
}

/** The websocket's state, re-rendering when it changes. */
export function useConnectionState(): ConnectionState {
  const { connection } = useApi();
  return useSyncExternalStore(connection.subscribe, connection.get, connection.get);
}
