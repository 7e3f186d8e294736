import type { ReactNode } from 'react';
import { Navigate, useLocation } from 'react-router';
import { useAuth } from '../api/auth-context';
import { ErrorMessage, Loading } from './Status';

/** The signed-in part of the app; others go to the login page and come back after. */
export function RequireAuth({ children }: { children: ReactNode }) {
  const { viewer, loading, error, retry } = useAuth();
  const location = useLocation();
  if (loading) return <Loading what="Checking your session" />;
  if (error) {
    return (
      <main className="page">
        <ErrorMessage title="Cannot reach the server" error={error} retry={retry} />
      </main>
    );
  }
  if (!viewer) {
    const next = location.pathname + location.search;
    return <Navigate to={`/login?next=${encodeURIComponent(next)}`} replace />;
  }
  return <>{children}</>;
}
