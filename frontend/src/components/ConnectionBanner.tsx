import { useConnectionState } from '../api/ApiContext';

/**
 * Says when live updates stop. Silent while connected or idle: a socket
 * that is not needed is not news.
 */
export function ConnectionBanner() {
  const state = useConnectionState();
  return (
    <div role="status" aria-live="polite" className="connection-slot">
      {state === 'reconnecting' && (
        <p className="banner banner--warning">
          <span className="spinner" aria-hidden="true" /> Live updates paused: reconnecting to the server… Data on screen may be out of date.
        </p>
      )}
      {state === 'failed' && (
        <p className="banner banner--error">
          Live updates stopped: the server refused the connection. Sign in again or reload the page.
        </p>
      )}
    </div>
  );
}

/** A small dot in the header: live, connecting, or offline. */
export function ConnectionDot() {
  const state = useConnectionState();
  const text = { idle: 'Live updates idle', connecting: 'Connecting', connected: 'Live', reconnecting: 'Reconnecting', failed: 'Offline' }[state];
  return (
    <span className={`conn-dot conn-dot--${state}`} title={text}>
      <span className="visually-hidden">{text}</span>
    </span>
  );
}
