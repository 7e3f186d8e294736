/**
 * A key per submission attempt: a double click or a retried request after a
 * lost response then creates the job once (the server keys jobs by owner
 * and idempotency key).
 */
export function newIdempotencyKey(): string {
  // randomUUID exists only in secure contexts (https or localhost).
  if (typeof crypto !== 'undefined' && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
