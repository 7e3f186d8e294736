import { endpoints } from '../config';
import { csrfHeaders, ensureCsrfCookie } from './csrf';
import { describeStatus } from './errors';
import type { Viewer } from '../graphql/types';

export interface LoginResult {
  ok: boolean;
  user?: Viewer;
  error?: string;
}

async function postJson(url: string, body: unknown): Promise<Response> {
  await ensureCsrfCookie();
  return fetch(url, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...csrfHeaders() },
    body: JSON.stringify(body),
  });
}

/** Starts a Django session. Wrong credentials give {ok: false, error}, never a throw. */
export async function login(username: string, password: string): Promise<LoginResult> {
  let response: Response;
  try {
    response = await postJson(endpoints.login, { username, password });
  } catch {
    return { ok: false, error: 'Cannot reach the server. Check your connection, then try again.' };
  }
  const body = (await response.json().catch(() => null)) as
    | { ok?: boolean; user?: Viewer; error?: string; message?: string }
    | null;
  if (response.ok && body?.ok) return { ok: true, user: body.user };
  if (body?.error || body?.message) return { ok: false, error: body.error ?? body.message };
  if (response.status === 400 || response.status === 401) {
    return { ok: false, error: 'Wrong username or password.' };
  }
  return { ok: false, error: describeStatus(response.status) };
}

export async function logout(): Promise<void> {
  try {
    await postJson(endpoints.logout, {});
  } catch {
    // Signing out locally still clears every cached job.
  }
}
