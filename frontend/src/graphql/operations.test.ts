import { readFileSync } from 'node:fs';
import { buildSchema, isObjectType, validate, type DocumentNode, type GraphQLSchema } from 'graphql';
import * as operations from './operations';
import { ALL_OPERATIONS } from './operations';
import expectedSchema from './schema.graphql?raw';

/**
 * The operations must be valid against the schema: the UI's expected
 * contract by default, the server's exported SDL when GRAPHQL_SCHEMA names
 * it (CI can export it with graphene's `manage.py graphql_schema`).
 */
function loadSchema(): { schema: GraphQLSchema; source: string } {
  const file = process.env.GRAPHQL_SCHEMA;
  if (file) return { schema: buildSchema(readFileSync(file, 'utf8')), source: file };
  return { schema: buildSchema(expectedSchema), source: 'src/graphql/schema.graphql' };
}

const { schema, source } = loadSchema();

/** Every exported document holding an operation (fragments alone are checked through them). */
const EXPORTED = Object.entries(operations).filter(
  (entry): entry is [string, DocumentNode] =>
    typeof entry[1] === 'object' &&
    entry[1] !== null &&
    (entry[1] as DocumentNode).kind === 'Document' &&
    (entry[1] as DocumentNode).definitions.some((d) => d.kind === 'OperationDefinition'),
);

it('ALL_OPERATIONS lists every operation operations.ts exports', () => {
  expect(Object.keys(ALL_OPERATIONS).sort()).toEqual(EXPORTED.map(([name]) => name).sort());
});

it('the checked-in schema has the server\'s Subscription type and worker fields', () => {
  const fresh = buildSchema(expectedSchema);
  expect(fresh.getSubscriptionType()?.getFields()).toHaveProperty('jobUpdated');
  expect(fresh.getQueryType()?.getFields()).toHaveProperty('jobProgress');
  const worker = fresh.getType('Worker');
  expect(isObjectType(worker) && Object.keys(worker.getFields())).toEqual(expect.arrayContaining(['status', 'partitions', 'lag']));
});

describe(`GraphQL operations against ${source.split('/').slice(-2).join('/')}`, () => {
  it.each(EXPORTED)('%s is valid', (_name, document) => {
    // graphql 16 does not check that the root type exists (a schema without
    // Subscription would pass), so check it here.
    const kinds = document.definitions.flatMap((d) => (d.kind === 'OperationDefinition' ? [d.operation] : []));
    for (const kind of kinds) expect(schema.getRootType(kind), `schema has no ${kind} type`).toBeTruthy();
    const errors = validate(schema, document);
    expect(errors.map((e) => e.message)).toEqual([]);
  });
});
