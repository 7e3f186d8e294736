import { validateParams } from './validate';
import { paramSchemas } from '../test/fixtures';

const NOW = new Date('2025-03-10T23:59:00Z');

function errorsOf(provider: keyof typeof paramSchemas, params: Record<string, unknown>) {
  return validateParams(paramSchemas[provider], params, NOW).map((e) => [e.path, e.rule, e.message]);
}

describe('validateParams: ajv errors in the server words', () => {
  it('names unknown keys and wrong JSON types the way the API does', () => {
    expect(errorsOf('quote', { colour: 'red', count: '3' })).toEqual([
      ['colour', 'unknown', 'unknown parameter; expected: count, tags, match, author, page_size'],
      ['count', 'type', 'expected an integer, got string'],
    ]);
    expect(errorsOf('exchange', { start: 20200101 })).toEqual([['start', 'type', 'expected a date string, got integer']]);
  });

  it('refuses true as an integer and accepts what the server accepts', () => {
    expect(errorsOf('github', { repo: 'octocat/Hello-World', releases: true })).toEqual([
      ['releases', 'type', 'expected an integer, got boolean'],
    ]);
    expect(errorsOf('exchange', { base: 'USD', symbols: ['EUR', 'JPY'], start: '2024-01-01', end: '2025-03-10' })).toEqual([]);
  });

  it('hides the items of a list refused as a whole', () => {
    expect(errorsOf('weather', { places: Array(11).fill({ name: 'Oslo' }) })).toEqual([
      ['places', 'max_items', 'must have at most 10 item(s)'],
    ]);
  });

  it('reads today at validation time, not when the schema was compiled', () => {
    expect(errorsOf('exchange', { start: '2025-03-11' })).toEqual([['start', 'maximum', 'must not be in the future']]);
    const later = validateParams(paramSchemas.exchange, { start: '2025-03-11' }, new Date('2025-03-11T00:01:00Z'));
    expect(later).toEqual([]);
  });
});
