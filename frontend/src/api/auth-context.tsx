/**
 * Who is signed in, from the `viewer` query. Anonymous and "not signed in"
 * errors both mean: show the login page. Any other failure (server down)
 * is shown as such, not as a login form that could never work.
 */
import { useApolloClient, useQuery } from '@apollo/client';
import { createContext, useCallback, useContext, useMemo, type ReactNode } from 'react';
import { VIEWER } from '../graphql/operations';
import type { Viewer } from '../graphql/types';
import * as auth from './auth';
import { isAuthError } from './errors';

interface AuthState {
  viewer: Viewer | null;
  loading: boolean;
  /** A failure that is not "signed out". */
  error: unknown;
  retry(): void;
  login(username: string, password: string): Promise<auth.LoginResult>;
  logout(): Promise<void>;
}

const AuthContext = createContext<AuthState | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const client = useApolloClient();
  const { data, loading, error, refetch } = useQuery(VIEWER, { fetchPolicy: 'network-only', notifyOnNetworkStatusChange: true });

  const login = useCallback(
    async (username: string, password: string) => {
      const result = await auth.login(username, password);
      // A new session: nothing cached for the previous viewer may show.
      if (result.ok) await client.resetStore();
      return result;
    },
    [client],
  );

  const logout = useCallback(async () => {
    await auth.logout();
    await client.resetStore();
  }, [client]);

  const value = useMemo<AuthState>(
    () => ({
      viewer: data?.viewer ?? null,
      loading: loading && !data,
      error: error && !isAuthError(error) ? error : null,
      retry: () => void refetch(),
      login,
      logout,
    }),
    [data, loading, error, refetch, login, logout],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const state = useContext(AuthContext);
  if (!state) throw new Error('useAuth needs <AuthProvider>');
  return state;
}
