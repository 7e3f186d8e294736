/**
 * Test data with the exact shapes the providers produce: the describe()
 * output of each provider (providers/registry.describe_all) and result
 * documents as documented in providers/README.md.
 */
import type { ParamSchema } from '../params/spec';
import { parseParamSchema } from '../params/spec';

export const describeWeather = {
  fields: [
    {
      name: 'places',
      type: 'array',
      required: true,
      help: 'One to ten places',
      example: [{ name: 'Lisbon' }, { latitude: 52.52, longitude: 13.41 }],
      items: {
        type: 'object',
        required: false,
        help: 'A place: its name, or its coordinates',
        fields: [
          { name: 'name', type: 'string', required: false, help: 'Looked up by geocoding; the best match is used', example: 'Lisbon', minLength: 1, maxLength: 100 },
          { name: 'latitude', type: 'number', required: false, help: 'Decimal degrees, north positive', minimum: -90, maximum: 90 },
          { name: 'longitude', type: 'number', required: false, help: 'Decimal degrees, east positive', minimum: -180, maximum: 180 },
        ],
        rules: ['give a name, or both latitude and longitude'],
      },
      minItems: 1,
      maxItems: 10,
      uniqueItems: true,
    },
    { name: 'forecast_days', type: 'integer', required: false, default: 7, help: 'Days of forecast, today included', minimum: 0, maximum: 16 },
    { name: 'past_days', type: 'integer', required: false, default: 0, help: 'Days of history before today', minimum: 0, maximum: 92 },
  ],
  rules: ['forecast_days + past_days must be at least 1'],
  maxBytes: 4096,
};

export const describeQuote = {
  fields: [
    { name: 'count', type: 'integer', required: false, default: 10, help: 'How many quotes', minimum: 1, maximum: 200 },
    {
      name: 'tags',
      type: 'array',
      required: false,
      help: 'Only quotes with these tags',
      example: ['wisdom'],
      items: { type: 'string', required: false, minLength: 1, maxLength: 40, pattern: '[a-z0-9]+(?:-[a-z0-9]+)*', format: 'slug' },
      minItems: 0,
      maxItems: 5,
      uniqueItems: true,
    },
    { name: 'match', type: 'string', required: false, default: 'all', help: 'With several tags: quotes having all of them, or any of them', minLength: 1, maxLength: 100, enum: ['all', 'any'] },
    { name: 'author', type: 'string', required: false, help: 'Only quotes by this author (name or slug)', example: 'Albert Einstein', minLength: 1, maxLength: 80, pattern: "[A-Za-z0-9][A-Za-z0-9 .'-]*" },
    { name: 'page_size', type: 'integer', required: false, default: 25, help: 'Quotes fetched per request', minimum: 1, maximum: 100 },
  ],
  maxBytes: 4096,
};

export const describeExchange = {
  fields: [
    { name: 'base', type: 'string', required: false, default: 'EUR', help: 'Rates are prices of one unit of this currency', minLength: 3, maxLength: 3, pattern: '[A-Z]{3}', format: 'iso-4217' },
    {
      name: 'symbols',
      type: 'array',
      required: false,
      help: 'Target currencies (all available when empty)',
      example: ['USD', 'GBP'],
      items: { type: 'string', required: false, minLength: 3, maxLength: 3, pattern: '[A-Z]{3}', format: 'iso-4217' },
      minItems: 0,
      maxItems: 20,
      uniqueItems: true,
    },
    { name: 'start', type: 'string', required: false, help: 'First day of a historical series; without it, the latest rates', format: 'date', minimum: '1999-01-04', maximum: 'today' },
    { name: 'end', type: 'string', required: false, help: 'Last day of the series (default today)', format: 'date', minimum: '1999-01-04', maximum: 'today' },
  ],
  rules: ['end requires start; start <= end; at most 3660 days; symbols exclude base'],
  maxBytes: 4096,
};

export const describeGithub = {
  fields: [
    { name: 'repo', type: 'string', required: true, help: 'The repository, as owner/repo', example: 'octocat/Hello-World', minLength: 1, maxLength: 140, pattern: '[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/(?!\\.\\.?$)[A-Za-z0-9._-]{1,100}', format: 'owner/repo' },
    { name: 'releases', type: 'integer', required: false, default: 10, help: 'Most recent releases', minimum: 0, maximum: 100 },
    { name: 'contributors', type: 'integer', required: false, default: 30, help: 'Top contributors, by commits', minimum: 0, maximum: 500 },
    { name: 'page_size', type: 'integer', required: false, default: 100, help: 'Items per request', minimum: 1, maximum: 100 },
  ],
  maxBytes: 4096,
};

export const schemas: Record<string, ParamSchema> = {
  weather: parseParamSchema(describeWeather),
  quote: parseParamSchema(describeQuote),
  exchange: parseParamSchema(describeExchange),
  github: parseParamSchema(describeGithub),
};

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
