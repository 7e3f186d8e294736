/**
 * A daily series as a chart (recharts), shared by the weather and exchange
 * renderers. The figure is labelled for screen readers, and the numbers are
 * also given as a table for people who cannot read the chart.
 */
import { Bar, CartesianGrid, ComposedChart, Legend, Line, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { SeriesTable } from './SeriesTable';

export interface SeriesDef {
  key: string;
  label: string;
  color: string;
  kind?: 'line' | 'bar';
  /** Values on the right axis have another unit (precipitation next to temperature). */
  axis?: 'left' | 'right';
}

export type SeriesRow = { date: string } & Record<string, number | string | null>;

interface Props {
  title: string;
  rows: SeriesRow[];
  series: SeriesDef[];
  leftUnit?: string;
  rightUnit?: string;
  height?: number;
}

/** Distinct colours for any number of series (hues spread around the wheel). */
export function seriesColor(index: number, count: number): string {
  const palette = ['#0969da', '#cf222e', '#1a7f37', '#8250df', '#bf8700', '#0a7ea4', '#d4380d'];
  if (count <= palette.length) return palette[index % palette.length]!;
  return `hsl(${Math.round((360 * index) / count)} 65% 42%)`;
}

export function SeriesChart({ title, rows, series, leftUnit, rightUnit, height = 280 }: Props) {
  const hasRight = series.some((s) => s.axis === 'right');
  return (
    <figure className="chart" aria-label={title}>
      <figcaption className="chart__title">{title}</figcaption>
      <div className="chart__plot" style={{ height }}>
        <ResponsiveContainer width="100%" height="100%">
          <ComposedChart data={rows} margin={{ top: 8, right: 8, bottom: 8, left: 0 }}>
            <CartesianGrid strokeDasharray="3 3" stroke="#d0d7de" />
            <XAxis dataKey="date" tick={{ fontSize: 12 }} minTickGap={16} />
            <YAxis yAxisId="left" tick={{ fontSize: 12 }} unit={leftUnit} width={56} domain={['auto', 'auto']} />
            {hasRight && <YAxis yAxisId="right" orientation="right" tick={{ fontSize: 12 }} unit={rightUnit} width={48} />}
            <Tooltip />
            <Legend />
            {series.map((s) =>
              s.kind === 'bar' ? (
                <Bar key={s.key} dataKey={s.key} name={s.label} fill={s.color} yAxisId={s.axis ?? 'left'} opacity={0.5} isAnimationActive={false} />
              ) : (
                <Line
                  key={s.key}
                  dataKey={s.key}
                  name={s.label}
                  stroke={s.color}
                  yAxisId={s.axis ?? 'left'}
                  dot={rows.length < 40}
                  strokeWidth={2}
                  // A missing observation is a gap, not a drop to zero.
                  connectNulls={false}
                  isAnimationActive={false}
                />
              ),
            )}
          </ComposedChart>
        </ResponsiveContainer>
      </div>
      <SeriesTable caption={title} rows={rows} series={series} />
    </figure>
  );
}
