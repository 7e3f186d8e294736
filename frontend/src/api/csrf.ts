import { CSRF_COOKIE, CSRF_HEADER, endpoints } from '../config';

/** The value of one cookie, or null. */
export function readCookie(name: string, cookies: string = document.cookie): string | null {
  for (const part of cookies.split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return decodeURIComponent(rest.join('='));
  }
  return null;
}

/**
 * Headers for an unsafe request. The token is read on every call because
 * Django rotates it at login.
 */
export function csrfHeaders(): Record<string, string> {
  const token = readCookie(CSRF_COOKIE);
  return token ? { [CSRF_HEADER]: token } : {};
}

/** Makes sure the CSRF cookie exists (Django sets it on the csrf endpoint). */
export async function ensureCsrfCookie(): Promise<void> {
  if (readCookie(CSRF_COOKIE)) return;
  try {
    await fetch(endpoints.csrf, { credentials: 'same-origin' });
  } catch {
    // The login request that follows reports the failure in words.
  }
}
