import { endpoints } from '../config';
import { csrfHeaders, ensureCsrfCookie } from './csrf';
import { describeStatus } from './errors';
import type { Viewer } from '../graphql/types';

export interface LoginResult {
  ok: boolean;
  user?: Viewer;
  error?: string;
}

interface GraphQLReply<T> {
  data?: T | null;
  errors?: { message: string }[];
}

const LOGIN = `mutation Login($username: String!, $password: String!) {
  login(username: $username, password: $password) {
    viewer { username isStaff }
    errors { field rule message }
  }
}`;

const LOGOUT = 'mutation Logout { logout { ok } }';

/**
 * Session login and logout go through the same GraphQL endpoint as
 * everything else (the `login`/`logout` mutations), as plain fetches:
 * they run before Apollo's cache should hold anything of the user.
 */
async function postGraphQL<T>(query: string, variables: object): Promise<Response & { reply?: GraphQLReply<T> }> {
  await ensureCsrfCookie();
  const response = await fetch(endpoints.graphql, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...csrfHeaders() },
    body: JSON.stringify({ query, variables }),
  });
  return Object.assign(response, {
    reply: (await response.json().catch(() => undefined)) as GraphQLReply<T> | undefined,
  });
}

/** Starts a Django session. Wrong credentials give {ok: false, error}, never a throw. */
export async function login(username: string, password: string): Promise<LoginResult> {
  type Data = { login: { viewer: Viewer | null; errors: { message: string }[] } | null };
  let response: Awaited<ReturnType<typeof postGraphQL<Data>>>;
  try {
    response = await postGraphQL<Data>(LOGIN, { username, password });
  } catch {
    return { ok: false, error: 'Cannot reach the server. Check your connection, then try again.' };
  }
  const payload = response.reply?.data?.login;
  if (payload?.viewer) return { ok: true, user: payload.viewer };
  const fieldError = payload?.errors?.[0]?.message;
  if (fieldError) {
    return { ok: false, error: fieldError.charAt(0).toUpperCase() + fieldError.slice(1) + '.' };
  }
  const topError = response.reply?.errors?.[0]?.message;
  if (topError) return { ok: false, error: topError };
  return { ok: false, error: describeStatus(response.status) };
}

export async function logout(): Promise<void> {
  try {
    await postGraphQL(LOGOUT, {});
  } catch {
    // Signing out locally still clears every cached job.
  }
}
