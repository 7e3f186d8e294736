/** Display helpers: one place decides how numbers, dates and durations read. */

export function formatNumber(value: number | null | undefined, fractionDigits = 4): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  return value.toLocaleString('en', { maximumFractionDigits: fractionDigits });
}

export function formatInteger(value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  return Math.round(value).toLocaleString('en');
}

/** "2 h 3 min", "41 s", "0.4 s": a duration as people say it. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || seconds < 0) return '—';
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** Seconds between two ISO timestamps (the second defaults to now). */
export function secondsBetween(from: string | null | undefined, to?: string | null, now: number = Date.now()): number | null {
  if (!from) return null;
  const start = Date.parse(from);
  const end = to ? Date.parse(to) : now;
  if (Number.isNaN(start) || Number.isNaN(end)) return null;
  return Math.max(0, (end - start) / 1000);
}

/** "3 min ago": how old a job is. */
export function formatAge(iso: string | null | undefined, now: number = Date.now()): string {
  const seconds = secondsBetween(iso, null, now);
  if (seconds === null) return '—';
  if (seconds < 5) return 'just now';
  return `${formatDuration(seconds).replace(/ \d+ s$/, '')} ago`;
}

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'medium' });
}
