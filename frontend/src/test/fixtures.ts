/**
 * Test data with the exact shapes the providers produce: each provider's
 * parameter JSON Schema (paramSchemas.json, the server's export:
 * `Provider.paramsSchema`; tests/site/test_graphql_schema_file.py fails when
 * it drifts) and result documents as documented in providers/README.md.
 */
import type { ParamSchema } from '../params/spec';
import { parseParamSchema } from '../params/spec';
import paramSchemas from './paramSchemas.json';

export { paramSchemas };

export const schemas: Record<string, ParamSchema> = Object.fromEntries(
  Object.entries(paramSchemas).map(([name, document]) => [name, parseParamSchema(document)]),
);

export const weatherResult = {
  provider: 'weather',
  forecast_days: 3,
  past_days: 0,
  places: [
    {
      query: { name: 'Lisbon' },
      name: 'Lisbon',
      country: 'Portugal',
      region: 'Lisbon',
      latitude: 38.72,
      longitude: -9.13,
      elevation: 45.0,
      timezone: 'Europe/Lisbon',
      units: { temperature_max: '°C', temperature_min: '°C', precipitation: 'mm', wind_speed_max: 'km/h' },
      daily: [
        { date: '2025-03-01', temperature_max: 17.2, temperature_min: 9.8, precipitation: 0.4, wind_speed_max: 21.3 },
        { date: '2025-03-02', temperature_max: 18.1, temperature_min: null, precipitation: 0, wind_speed_max: 18 },
        { date: '2025-03-03', temperature_max: 16.0, temperature_min: 8.9, precipitation: 2.7, wind_speed_max: 27 },
      ],
      summary: {
        days: 3,
        temperature_max: 18.1,
        temperature_min: 8.9,
        temperature_mean: 13.4,
        precipitation_total: 3.1,
        wind_speed_max: 27.0,
        warmest_day: '2025-03-02',
        coldest_day: '2025-03-03',
        wettest_day: '2025-03-03',
      },
    },
  ],
  summary: {
    places: 1,
    warmest: { place: 'Lisbon', date: '2025-03-02', temperature_max: 18.1 },
    coldest: { place: 'Lisbon', date: '2025-03-03', temperature_min: 8.9 },
    wettest: { place: 'Lisbon', date: '2025-03-03', precipitation: 2.7 },
  },
};

export const quoteResult = {
  provider: 'quote',
  requested: 10,
  count: 2,
  available: 2,
  filters: { tags: [], match: 'all', author: 'Albert Einstein' },
  quotes: [
    { id: 'be07eee70000', content: 'Imagination is more important than knowledge.', author: 'Albert Einstein', author_slug: 'albert-einstein', tags: ['famous-quotes', 'wisdom'], length: 46 },
    { id: 'be07eee70001', content: 'Life is like riding a bicycle.', author: 'Albert Einstein', author_slug: 'albert-einstein', tags: ['life'], length: 30 },
  ],
  authors: [{ name: 'Albert Einstein', count: 2 }],
};

export const exchangeResult = {
  provider: 'exchange',
  mode: 'range',
  base: 'EUR',
  symbols: ['USD', 'GBP'],
  start: '2023-01-02',
  end: '2023-01-04',
  series: [
    { date: '2023-01-02', rates: { USD: 1.0683, GBP: 0.8835 } },
    { date: '2023-01-03', rates: { USD: 1.0545, GBP: 0.8813 } },
    { date: '2023-01-04', rates: { USD: 1.0599, GBP: 0.8784 } },
  ],
  stats: {
    USD: { points: 3, first: 1.0683, last: 1.0599, min: 1.0545, min_date: '2023-01-03', max: 1.0683, max_date: '2023-01-02', mean: 1.0609, change: -0.0084, change_pct: -0.7863 },
    GBP: { points: 3, first: 0.8835, last: 0.8784, min: 0.8784, min_date: '2023-01-04', max: 0.8835, max_date: '2023-01-02', mean: 0.8811, change: -0.0051, change_pct: -0.5772 },
  },
};

export const githubResult = {
  provider: 'github',
  repository: {
    full_name: 'octocat/Hello-World',
    description: 'My first repository on GitHub!',
    html_url: 'https://github.com/octocat/Hello-World',
    homepage: null,
    default_branch: 'main',
    language: 'Python',
    license: 'MIT',
    topics: ['cli'],
    stars: 2650,
    forks: 2400,
    watchers: 110,
    open_issues: 12,
    archived: false,
    fork: false,
    created_at: '2011-01-26T19:01:12Z',
    updated_at: '2025-01-26T19:01:12Z',
    pushed_at: '2025-01-20T10:00:00Z',
  },
  languages: [
    { name: 'Python', bytes: 81230, percent: 92.4 },
    { name: 'Shell', bytes: 6682, percent: 7.6 },
  ],
  releases: [{ tag: 'v2.3.1', name: 'Release v2.3.1', published_at: '2025-01-01T00:00:00Z', prerelease: false, draft: false, url: 'https://github.com/octocat/Hello-World/releases/v2.3.1' }],
  contributors: [{ login: 'octocat', contributions: 340, type: 'User', url: 'https://github.com/octocat' }],
  summary: { releases: 1, contributors: 1, latest_release: 'v2.3.1', top_language: 'Python', top_contributor: 'octocat' },
  rate_limit: { limit: 60, remaining: 54, reset: 1740830400 },
};
