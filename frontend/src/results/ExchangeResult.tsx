import { formatNumber } from '../format';
import { SeriesChart, seriesColor, type SeriesRow } from './SeriesChart';
import type { ExchangeResultDoc } from './shapes';

/** Latest rates as tiles; a range as a chart of every currency plus its statistics. */
export function ExchangeResult({ result }: { result: ExchangeResultDoc }) {
  const symbols = result.symbols.length ? result.symbols : Object.keys(result.series[0]?.rates ?? {});
  if (result.series.length === 0) return <p className="muted">No rates in this result.</p>;
  if (result.mode === 'latest') return <LatestRates result={result} symbols={symbols} />;

  const rows: SeriesRow[] = result.series.map((point) => ({ date: point.date, ...point.rates }));
  return (
    <div className="result result--exchange">
      <SeriesChart
        title={`Price of 1 ${result.base}, ${result.start} to ${result.end}`}
        rows={rows}
        series={symbols.map((code, i) => ({ key: code, label: code, color: seriesColor(i, symbols.length) }))}
      />
      <div className="table-scroll">
        <table className="data-table">
          <caption>Statistics per currency (1 {result.base} in each)</caption>
          <thead>
            <tr>
              <th scope="col">Currency</th>
              <th scope="col">First</th>
              <th scope="col">Last</th>
              <th scope="col">Min</th>
              <th scope="col">Max</th>
              <th scope="col">Mean</th>
              <th scope="col">Change</th>
            </tr>
          </thead>
          <tbody>
            {symbols.map((code) => {
              const s = result.stats[code];
              if (!s) return null;
              return (
                <tr key={code}>
                  <th scope="row">{code}</th>
                  <td>{formatNumber(s.first)}</td>
                  <td>{formatNumber(s.last)}</td>
                  <td title={s.min_date}>{formatNumber(s.min)}</td>
                  <td title={s.max_date}>{formatNumber(s.max)}</td>
                  <td>{formatNumber(s.mean)}</td>
                  <td className={s.change >= 0 ? 'up' : 'down'}>
                    {s.change >= 0 ? '+' : ''}
                    {formatNumber(s.change_pct, 2)}%
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </div>
  );
}

function LatestRates({ result, symbols }: { result: ExchangeResultDoc; symbols: string[] }) {
  const rates = result.series[0]!.rates;
  return (
    <div className="result result--exchange">
      <p>
        Rates of 1 {result.base} on {result.series[0]!.date}:
      </p>
      <ul className="tiles">
        {symbols.map((code) => (
          <li key={code} className="tile">
            <span className="tile__label">{code}</span>
            <span className="tile__value">{formatNumber(rates[code])}</span>
          </li>
        ))}
      </ul>
    </div>
  );
}
