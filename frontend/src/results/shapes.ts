/**
 * The result documents of the four providers (providers/README.md,
 * "Results"), typed for the renderers. Only the fields the UI reads.
 */

export interface WeatherDay {
  date: string;
  temperature_max: number | null;
  temperature_min: number | null;
  precipitation: number | null;
  wind_speed_max: number | null;
}

export interface WeatherPlace {
  name: string;
  country: string | null;
  region?: string | null;
  latitude: number;
  longitude: number;
  elevation?: number | null;
  timezone?: string | null;
  units: Record<string, string>;
  daily: WeatherDay[];
  summary: {
    days: number;
    temperature_max: number | null;
    temperature_min: number | null;
    temperature_mean: number | null;
    precipitation_total: number | null;
    wind_speed_max: number | null;
    warmest_day: string | null;
    coldest_day: string | null;
    wettest_day: string | null;
  };
}

export interface WeatherResultDoc {
  provider: 'weather';
  forecast_days: number;
  past_days: number;
  places: WeatherPlace[];
}

export interface Quote {
  id: string;
  content: string;
  author: string;
  author_slug?: string;
  tags: string[];
  length?: number;
}

export interface QuoteResultDoc {
  provider: 'quote';
  requested: number;
  count: number;
  available: number | null;
  filters: { tags: string[]; match: string; author: string | null };
  quotes: Quote[];
  authors: { name: string; count: number }[];
}

export interface RateStats {
  points: number;
  first: number;
  last: number;
  min: number;
  min_date: string;
  max: number;
  max_date: string;
  mean: number;
  change: number;
  change_pct: number;
}

export interface ExchangeResultDoc {
  provider: 'exchange';
  mode: 'latest' | 'range';
  base: string;
  symbols: string[];
  start: string;
  end: string;
  series: { date: string; rates: Record<string, number> }[];
  stats: Record<string, RateStats>;
}

export interface GithubResultDoc {
  provider: 'github';
  repository: {
    full_name: string;
    description: string | null;
    html_url: string;
    homepage: string | null;
    default_branch: string;
    language: string | null;
    license: string | null;
    topics: string[];
    stars: number;
    forks: number;
    watchers: number;
    open_issues: number;
    archived: boolean;
    fork: boolean;
    created_at: string;
    pushed_at: string | null;
  };
  languages: { name: string; bytes: number; percent: number }[];
  releases: { tag: string; name: string | null; published_at: string | null; prerelease: boolean; draft: boolean; url: string }[];
  contributors: { login: string; contributions: number; type: string; url: string }[];
  summary: { releases: number; contributors: number; latest_release: string | null; top_language: string | null; top_contributor: string | null };
  rate_limit: { limit: number; remaining: number; reset: number } | null;
}
