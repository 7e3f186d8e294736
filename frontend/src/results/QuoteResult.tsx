import type { QuoteResultDoc } from './shapes';

/** Quotes as cards, with the filters used and how many were available. */
export function QuoteResult({ result }: { result: QuoteResultDoc }) {
  const { filters } = result;
  const filterText = [
    filters.author && `by ${filters.author}`,
    filters.tags.length > 0 && `tagged ${filters.tags.join(filters.match === 'any' ? ' or ' : ' and ')}`,
  ]
    .filter(Boolean)
    .join(', ');
  return (
    <div className="result result--quote">
      <p>
        {result.count} of {result.requested} requested
        {result.available !== null ? ` (${result.available} available)` : ''}
        {filterText ? `, ${filterText}` : ''}.
      </p>
      {result.quotes.length === 0 ? (
        <p className="muted">No quotes matched.</p>
      ) : (
        <ul className="quote-cards">
          {result.quotes.map((quote) => (
            <li key={quote.id} className="card quote-card">
              <figure>
                <blockquote>{quote.content}</blockquote>
                <figcaption>— {quote.author}</figcaption>
              </figure>
              {quote.tags.length > 0 && (
                <ul className="tags" aria-label="Tags">
                  {quote.tags.map((tag) => (
                    <li key={tag} className="tag">
                      {tag}
                    </li>
                  ))}
                </ul>
              )}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
