/**
 * Every server address the UI talks to, in one place: change a path here
 * (or the Django side) and nothing else needs to move.
 *
 * All paths are same-origin: Django serves the app, the API and the
 * websocket on one host, so the session cookie and CSRF token just work.
 */
export const endpoints = {
  /** GraphQL over HTTP (queries, mutations). */
  graphql: '/graphql',
  /** GraphQL subscriptions, graphql-transport-ws protocol (same path, ws/wss). */
  graphqlWs: '/graphql',
  /**
   * GET that sets the `csrftoken` cookie (a view with ensure_csrf_cookie).
   * Only asked when the cookie is missing, e.g. on the Vite dev server whose
   * index.html does not come from Django.
   */
  csrf: '/accounts/csrf/',
  /** Django admin, linked from the header for staff. */
  admin: '/admin/',
} as const;

/** Django's default CSRF cookie and header names (settings.CSRF_COOKIE_NAME). */
export const CSRF_COOKIE = 'csrftoken';
export const CSRF_HEADER = 'X-CSRFToken';

/** Jobs per page in the jobs table (the server caps page size too). */
export const PAGE_SIZE = 25;

/** How often the workers screen polls `workers` and `stats`, in ms. */
export const WORKERS_POLL_MS = 5000;

/** Upper bound of the bulk submit, so a slip of the keyboard can't queue 1e6 jobs. */
export const MAX_BULK = 500;

/** The websocket URL for a same-origin path (ws: next to http:, wss: next to https:). */
export function wsUrl(path: string, location: Location = window.location): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${path}`;
}
