import { useState, type FormEvent } from 'react';
import { Navigate, useNavigate, useSearchParams } from 'react-router';
import { useAuth } from '../api/auth-context';

const AFTER_LOGIN = '/jobs';
const PROBE_ORIGIN = 'http://next.invalid';

/**
 * Only same-app paths: `next` comes from the URL and must not send people
 * elsewhere. Prefix checks miss what browsers forgive (`/\evil.com` and
 * `/\t/evil.com` both mean `//evil.com`), so the path is parsed the way the
 * browser would parse it, and kept only if it stays on the same origin; the
 * normalized path is what is followed.
 */
export function safeNext(next: string | null): string {
  if (!next || !next.startsWith('/')) return AFTER_LOGIN;
  let url: URL;
  try {
    url = new URL(next, PROBE_ORIGIN);
  } catch {
    return AFTER_LOGIN;
  }
  if (url.origin !== PROBE_ORIGIN) return AFTER_LOGIN;
  return url.pathname + url.search + url.hash;
}

export function LoginPage() {
  const { viewer, login } = useAuth();
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const next = safeNext(params.get('next'));

  if (viewer) return <Navigate to={next} replace />;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    const result = await login(username, password);
    setBusy(false);
    if (result.ok) navigate(next, { replace: true });
    else setError(result.error ?? 'Sign-in failed.');
  };

  return (
    <main className="page page--narrow" id="main">
      <h1>Sign in</h1>
      <form className="card form" onSubmit={submit} noValidate>
        {error && (
          <p className="error-box" role="alert">
            {error}
          </p>
        )}
        <div className="field">
          <label htmlFor="login-username">Username</label>
          <input id="login-username" name="username" autoComplete="username" required value={username} onChange={(e) => setUsername(e.target.value)} autoFocus />
        </div>
        <div className="field">
          <label htmlFor="login-password">Password</label>
          <input id="login-password" name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        </div>
        <button type="submit" className="button" disabled={busy || !username || !password}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
