import { cleanParams } from './clean';
import { parseParamSchema } from './spec';
import { initialParams, setAt, type DraftObject } from './draft';
import { targetOfServerField } from './paths';
import { paramSchemas, schemas } from '../test/fixtures';

const NOW = new Date('2025-03-10T12:00:00Z');

function draftOf(provider: string, changes: Record<string, unknown> = {}): DraftObject {
  let draft = initialParams(schemas[provider]!);
  for (const [key, value] of Object.entries(changes)) {
    draft = setAt(draft, key.split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p)), value as never) as DraftObject;
  }
  return draft;
}

function errorsOf(provider: string, changes: Record<string, unknown>) {
  return cleanParams(schemas[provider]!, draftOf(provider, changes), NOW).errors.map((e) => [e.path, e.rule, e.message]);
}

describe('cleanParams: ajv with the JSON Schema, in the server\'s words', () => {
  it('starts from the defaults and sends typed JSON', () => {
    const { params, errors } = cleanParams(schemas.github!, draftOf('github', { repo: ' octocat/Hello-World ' }), NOW);
    expect(errors).toEqual([]);
    expect(params).toEqual({ repo: 'octocat/Hello-World', releases: 10, contributors: 30, page_size: 100 });
  });

  it('refuses a missing required field', () => {
    expect(errorsOf('github', {})).toEqual([['repo', 'required', 'is required']]);
  });

  it('checks integer type and limits', () => {
    expect(errorsOf('weather', { 'places.0.name': 'Lisbon', forecast_days: '2.5' })).toEqual([
      ['forecast_days', 'type', 'must be a whole number'],
    ]);
    expect(errorsOf('weather', { 'places.0.name': 'Lisbon', forecast_days: '17' })).toEqual([
      ['forecast_days', 'maximum', 'must be at most 16'],
    ]);
    expect(errorsOf('quote', { count: '0' })).toEqual([['count', 'minimum', 'must be at least 1']]);
  });

  it('checks numbers inside list rows, with the server path', () => {
    expect(errorsOf('weather', { 'places.0.latitude': '91', 'places.0.longitude': 'east' })).toEqual([
      ['places[0].longitude', 'type', 'must be a number'],
      ['places[0].latitude', 'maximum', 'must be at most 90'],
    ]);
  });

  it('leaves empty rows out, then applies the list minimum', () => {
    expect(errorsOf('weather', {})).toEqual([['places', 'min_items', 'must have at least 1 item(s)']]);
    const { params } = cleanParams(schemas.weather!, draftOf('weather', { 'places.0.latitude': '52.52', 'places.0.longitude': '13.41' }), NOW);
    expect(params).toEqual({ places: [{ latitude: 52.52, longitude: 13.41 }], forecast_days: 7, past_days: 0 });
  });

  it('checks patterns with the format message', () => {
    expect(errorsOf('exchange', { base: 'usd' })).toEqual([
      ['base', 'format', 'must be an ISO 4217 currency code in capitals, such as USD'],
    ]);
    expect(errorsOf('github', { repo: 'octocat/..' })).toEqual([
      ['repo', 'format', 'must be owner/repo, such as octocat/Hello-World'],
    ]);
  });

  it('checks lengths, enums and repeats', () => {
    expect(errorsOf('exchange', { base: 'EURO' })).toEqual([['base', 'max_length', 'must be at most 3 characters long']]);
    expect(errorsOf('quote', { match: 'some' })).toEqual([['match', 'choices', 'must be one of: all, any']]);
    expect(errorsOf('quote', { tags: ['wisdom', 'life', 'wisdom'] })).toEqual([['tags[2]', 'unique', 'repeats an earlier item']]);
    expect(errorsOf('quote', { tags: ['a', 'b', 'c', 'd', 'e', 'f'] })).toEqual([['tags', 'max_items', 'must have at most 5 item(s)']]);
  });

  it('checks dates: form, minimum, not in the future (UTC)', () => {
    expect(errorsOf('exchange', { start: '2023-02-30' })).toEqual([['start', 'format', 'must be a date written YYYY-MM-DD']]);
    expect(errorsOf('exchange', { start: '1998-12-31' })).toEqual([['start', 'minimum', 'must be on or after 1999-01-04']]);
    expect(errorsOf('exchange', { start: '2025-03-11' })).toEqual([['start', 'maximum', 'must not be in the future']]);
    expect(errorsOf('exchange', { start: '2025-03-10' })).toEqual([]);
  });

  it('refuses control characters and oversized documents', () => {
    expect(errorsOf('weather', { 'places.0.name': 'Lis\u0007bon' })).toEqual([
      ['places[0].name', 'pattern', 'must not contain control characters'],
    ]);
    const tiny = parseParamSchema({ ...paramSchemas.quote, 'x-maxBytes': 20 });
    const { errors } = cleanParams(tiny, draftOf('quote'), NOW);
    expect(errors.map((e) => [e.path, e.rule])).toEqual([['', 'size']]);
  });

  it('reports one error per value, the first rule broken, as the server does', () => {
    expect(errorsOf('exchange', { base: 'US' })).toEqual([['base', 'min_length', 'must be at least 3 characters long']]);
    expect(errorsOf('weather', { 'places.0.name': 'Oslo', 'places.1.name': 'Oslo' })).toEqual([
      ['places[1]', 'unique', 'repeats an earlier item'],
    ]);
  });

  it('leaves empty fields to the server defaults, in the declared order', () => {
    const { params } = cleanParams(schemas.github!, draftOf('github', { repo: 'octocat/x', releases: '' }), NOW);
    expect(params).toEqual({ repo: 'octocat/x', contributors: 30, page_size: 100 });
    expect(schemas.quote!.fields.map((f) => f.name)).toEqual(['count', 'tags', 'match', 'author', 'page_size']);
  });
});

describe('targetOfServerField', () => {
  const names = ['places', 'forecast_days', 'count'];
  it.each([
    ['params.places[1].latitude', { kind: 'param', path: 'places[1].latitude' }],
    ['places[0]', { kind: 'param', path: 'places[0]' }],
    ['jobs[3].params.count', { kind: 'param', path: 'count' }],
    ['input.params.forecast_days', { kind: 'param', path: 'forecast_days' }],
    ['countdown', { kind: 'option', field: 'countdown' }],
    ['provider', { kind: 'option', field: 'provider' }],
    ['params', { kind: 'form' }],
    ['something_else', { kind: 'form' }],
  ])('%s', (field, target) => {
    expect(targetOfServerField(field, names)).toEqual(target);
  });
});
