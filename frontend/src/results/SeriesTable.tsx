import type { SeriesDef, SeriesRow } from './SeriesChart';
import { formatNumber } from '../format';

/** The chart's numbers as a table, folded away by default. */
export function SeriesTable({ caption, rows, series }: { caption: string; rows: SeriesRow[]; series: SeriesDef[] }) {
  return (
    <details className="series-table">
      <summary>Show the numbers</summary>
      <div className="table-scroll">
        <table>
          <caption className="visually-hidden">{caption}</caption>
          <thead>
            <tr>
              <th scope="col">Date</th>
              {series.map((s) => (
                <th scope="col" key={s.key}>
                  {s.label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.date}>
                <th scope="row">{row.date}</th>
                {series.map((s) => (
                  <td key={s.key}>{formatNumber(row[s.key] as number | null)}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </details>
  );
}
