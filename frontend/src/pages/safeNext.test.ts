import { describe, expect, it } from 'vitest';
import { safeNext } from './LoginPage';

describe('safeNext (where the login page sends people after signing in)', () => {
  it('keeps same-app paths, with their query and fragment', () => {
    expect(safeNext('/jobs/42')).toBe('/jobs/42');
    expect(safeNext('/jobs?state=FAILURE#top')).toBe('/jobs?state=FAILURE#top');
    expect(safeNext('/submit')).toBe('/submit');
  });

  it('falls back to the jobs page without a usable next', () => {
    expect(safeNext(null)).toBe('/jobs');
    expect(safeNext('')).toBe('/jobs');
    expect(safeNext('jobs')).toBe('/jobs');
  });

  it.each([
    'https://evil.com',
    '//evil.com',
    '/\\evil.com',
    '/\\/evil.com',
    '\\\\evil.com',
    '/\t/evil.com',
    '/\n/evil.com',
    '/\\\tevil.com',
    'javascript:alert(1)',
    ' /\\evil.com',
  ])('refuses %j, which a browser would follow to another site', (next) => {
    expect(safeNext(next)).toBe('/jobs');
  });

  it('normalizes what it keeps, so the path followed is the path checked', () => {
    expect(safeNext('/jobs/../workers')).toBe('/workers');
    expect(safeNext('/%5Cevil.com')).toBe('/%5Cevil.com');
  });
});
