import { render, screen, within } from '@testing-library/react';
import { exchangeResult, githubResult, quoteResult, weatherResult } from '../test/fixtures';
import { ResultView } from './ResultView';

/** A chart is drawn when its figure holds recharts' SVG surface. */
function chartIn(name: RegExp) {
  const figure = screen.getByRole('figure', { name });
  return figure.querySelector('svg.recharts-surface');
}

describe('ResultView per provider', () => {
  it('draws a weather chart and summary per place', () => {
    render(<ResultView provider="weather" result={weatherResult} />);
    expect(screen.getByRole('heading', { name: 'Lisbon, Portugal' })).toBeInTheDocument();
    expect(chartIn(/Daily weather in Lisbon/)).not.toBeNull();
    expect(screen.getByText('18.1 °C')).toBeInTheDocument();
    // Missing observations read as a dash in the table, not as zero.
    const table = screen.getByRole('table', { name: /Daily weather in Lisbon/ });
    expect(within(table).getAllByRole('row')).toHaveLength(4);
    expect(within(table).getByText('—')).toBeInTheDocument();
  });

  it('draws an exchange-rate chart with statistics per currency', () => {
    render(<ResultView provider="exchange" result={exchangeResult} />);
    expect(chartIn(/Price of 1 EUR, 2023-01-02 to 2023-01-04/)).not.toBeNull();
    const stats = screen.getByRole('table', { name: /Statistics per currency/ });
    expect(within(stats).getByRole('rowheader', { name: 'USD' })).toBeInTheDocument();
    expect(within(stats).getByText('-0.79%')).toBeInTheDocument();
  });

  it('shows the latest exchange rates as tiles', () => {
    const latest = { ...exchangeResult, mode: 'latest', start: '2023-01-04', end: '2023-01-04', series: [exchangeResult.series[2]] };
    render(<ResultView provider="exchange" result={latest} />);
    expect(screen.queryByRole('figure')).not.toBeInTheDocument();
    expect(screen.getByText('1.0599')).toBeInTheDocument();
  });

  it('shows quotes as cards', () => {
    render(<ResultView provider="quote" result={quoteResult} />);
    const cards = screen.getAllByRole('listitem').filter((li) => li.classList.contains('quote-card'));
    expect(cards).toHaveLength(2);
    expect(within(cards[0]!).getByText('Imagination is more important than knowledge.')).toBeInTheDocument();
    expect(within(cards[0]!).getByText('— Albert Einstein')).toBeInTheDocument();
    expect(screen.getByText(/2 of 10 requested \(2 available\), by Albert Einstein/)).toBeInTheDocument();
  });

  it('summarises a GitHub report', () => {
    render(<ResultView provider="github" result={githubResult} />);
    expect(screen.getByRole('link', { name: 'octocat/Hello-World' })).toHaveAttribute('href', 'https://github.com/octocat/Hello-World');
    expect(screen.getByText('2,650')).toBeInTheDocument();
    expect(screen.getByText('92.4%')).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'v2.3.1' })).toBeInTheDocument();
    expect(screen.getByText('340 commits')).toBeInTheDocument();
  });

  it('always offers the raw JSON', () => {
    render(<ResultView provider="quote" result={JSON.parse(JSON.stringify(quoteResult))} />);
    expect(screen.getByText('Raw JSON')).toBeInTheDocument();
    expect(screen.getByText(/"author_slug": "albert-einstein"/)).toBeInTheDocument();
  });

  it('falls back to JSON for a shape it cannot draw', () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    render(<ResultView provider="github" result={{ provider: 'github', repository: null }} />);
    expect(screen.getByText(/shape the page cannot draw/)).toBeInTheDocument();
    expect(screen.getByText('Raw JSON')).toBeInTheDocument();
  });
});
