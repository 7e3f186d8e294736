import { formatNumber } from '../format';
import { SeriesChart, type SeriesRow } from './SeriesChart';
import type { WeatherPlace, WeatherResultDoc } from './shapes';
import { StatList } from './StatList';

/** One chart per place: temperatures as lines, precipitation as bars on its own axis. */
export function WeatherResult({ result }: { result: WeatherResultDoc }) {
  if (result.places.length === 0) return <p className="muted">No places in this result.</p>;
  return (
    <div className="result result--weather">
      {result.places.map((place, index) => (
        <WeatherPlaceView key={`${place.name}-${index}`} place={place} />
      ))}
    </div>
  );
}

function WeatherPlaceView({ place }: { place: WeatherPlace }) {
  const units = place.units ?? {};
  const temp = units.temperature_max ?? '°C';
  const rain = units.precipitation ?? 'mm';
  const rows: SeriesRow[] = place.daily.map((d) => ({
    date: d.date,
    max: d.temperature_max,
    min: d.temperature_min,
    rain: d.precipitation,
  }));
  const where = [place.name, place.region, place.country].filter((x, i, all) => x && all.indexOf(x) === i).join(', ');
  const s = place.summary;
  return (
    <section className="card">
      <h3>{where}</h3>
      <p className="muted">
        {formatNumber(place.latitude, 2)}, {formatNumber(place.longitude, 2)}
        {place.timezone ? ` · ${place.timezone}` : ''}
      </p>
      <StatList
        items={[
          ['Highest', `${formatNumber(s.temperature_max, 1)} ${temp}`, s.warmest_day],
          ['Lowest', `${formatNumber(s.temperature_min, 1)} ${temp}`, s.coldest_day],
          ['Mean', `${formatNumber(s.temperature_mean, 1)} ${temp}`],
          ['Precipitation', `${formatNumber(s.precipitation_total, 1)} ${rain}`, s.wettest_day ? `wettest ${s.wettest_day}` : 'no rain'],
          ['Wind max', `${formatNumber(s.wind_speed_max, 1)} ${units.wind_speed_max ?? 'km/h'}`],
        ]}
      />
      <SeriesChart
        title={`Daily weather in ${place.name}`}
        rows={rows}
        leftUnit={temp}
        rightUnit={rain}
        series={[
          { key: 'max', label: `Max (${temp})`, color: '#cf222e' },
          { key: 'min', label: `Min (${temp})`, color: '#0969da' },
          { key: 'rain', label: `Precipitation (${rain})`, color: '#0a7ea4', kind: 'bar', axis: 'right' },
        ]}
      />
    </section>
  );
}
