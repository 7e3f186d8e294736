/**
 * A job's result drawn the way people want it, per provider, with the raw
 * JSON below. A document of an unexpected shape (a newer provider version)
 * falls back to the JSON alone instead of breaking the page.
 */
import { Component, type ReactNode } from 'react';
import { ExchangeResult } from './ExchangeResult';
import { GithubResult } from './GithubResult';
import { QuoteResult } from './QuoteResult';
import { RawJson } from './RawJson';
import type { ExchangeResultDoc, GithubResultDoc, QuoteResultDoc, WeatherResultDoc } from './shapes';
import { WeatherResult } from './WeatherResult';

function Renderer({ provider, result }: { provider: string; result: Record<string, unknown> }) {
  switch (provider) {
    case 'weather':
      return <WeatherResult result={result as unknown as WeatherResultDoc} />;
    case 'exchange':
      return <ExchangeResult result={result as unknown as ExchangeResultDoc} />;
    case 'quote':
      return <QuoteResult result={result as unknown as QuoteResultDoc} />;
    case 'github':
      return <GithubResult result={result as unknown as GithubResultDoc} />;
    default:
      return null;
  }
}

class RenderGuard extends Component<{ children: ReactNode }, { failed: boolean }> {
  state = { failed: false };
  static getDerivedStateFromError() {
    return { failed: true };
  }
  render() {
    if (this.state.failed) {
      return <p className="notice">This result has a shape the page cannot draw; its JSON is below.</p>;
    }
    return this.props.children;
  }
}

export function ResultView({ provider, result }: { provider: string; result: unknown }) {
  if (result === null || result === undefined) return <p className="muted">No result yet.</p>;
  const doc = typeof result === 'object' && !Array.isArray(result) ? (result as Record<string, unknown>) : null;
  const kind = typeof doc?.provider === 'string' ? doc.provider : provider;
  return (
    <div className="result-view">
      {doc && (
        <RenderGuard>
          <Renderer provider={kind} result={doc} />
        </RenderGuard>
      )}
      <RawJson value={result} />
    </div>
  );
}
