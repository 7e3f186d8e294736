/**
 * Errors in words a person understands. Apollo and fetch errors carry
 * technical detail (status codes, "Failed to fetch"); the UI shows what
 * happened and what to do, and keeps the server's own message when it
 * wrote one for people (GraphQL field and rule errors).
 */
import { ApolloError } from '@apollo/client';

export interface HttpLikeError {
  statusCode?: number;
  status?: number;
}

function statusOf(error: unknown): number | undefined {
  const e = error as HttpLikeError | null;
  return e?.statusCode ?? e?.status;
}

/** True when the server says the viewer is not signed in. */
export function isAuthError(error: unknown): boolean {
  if (error instanceof ApolloError) {
    const status = statusOf(error.networkError);
    if (status === 401 || status === 403) return true;
    return error.graphQLErrors.some((e) => {
      const code = (e.extensions?.code as string | undefined) ?? '';
      return (
        ['UNAUTHENTICATED', 'FORBIDDEN', 'PERMISSION_DENIED'].includes(code) ||
        /not (logged|signed) in|authenticat|log in|sign in/i.test(e.message)
      );
    });
  }
  const status = statusOf(error);
  return status === 401 || status === 403;
}

/**
 * True when the server says the thing asked for does not exist (or is not
 * the viewer's: jobs/api/access.py answers both alike, with
 * `extensions.rule == "not_found"`).
 */
export function isNotFound(error: unknown): boolean {
  return error instanceof ApolloError && error.graphQLErrors.some((e) => e.extensions?.rule === 'not_found');
}

export function describeStatus(status: number): string {
  if (status === 401 || status === 403) return 'Your session has ended or you lack permission. Please sign in again.';
  if (status === 404) return 'The server does not know this address (HTTP 404). The app may be newer than the server.';
  if (status === 413) return 'The request is too large for the server.';
  if (status === 429) return 'Too many requests. Wait a moment and try again.';
  if (status >= 500) return `The server had a problem (HTTP ${status}). Try again in a moment.`;
  return `The server refused the request (HTTP ${status}).`;
}

export function describeError(error: unknown): string {
  if (error instanceof ApolloError) {
    if (error.graphQLErrors.length > 0) {
      return error.graphQLErrors.map((e) => e.message).join(' ');
    }
    if (error.networkError) return describeError(error.networkError);
    return error.message;
  }
  const status = statusOf(error);
  if (status) return describeStatus(status);
  if (error instanceof TypeError && /fetch|network/i.test(error.message)) {
    return 'Cannot reach the server. Check your connection, then try again.';
  }
  if (error instanceof Error && error.message) return error.message;
  return 'Something went wrong.';
}
