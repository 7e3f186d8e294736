import { readFileSync } from 'node:fs';
import { buildSchema, validate, type GraphQLSchema } from 'graphql';
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

describe(`GraphQL operations against ${source.split('/').slice(-2).join('/')}`, () => {
  it.each(Object.entries(ALL_OPERATIONS))('%s is valid', (_name, document) => {
    // graphql 16 does not check that the root type exists (a schema without
    // Subscription would pass), so check it here.
    const kinds = document.definitions.flatMap((d) => (d.kind === 'OperationDefinition' ? [d.operation] : []));
    for (const kind of kinds) expect(schema.getRootType(kind), `schema has no ${kind} type`).toBeTruthy();
    const errors = validate(schema, document);
    expect(errors.map((e) => e.message)).toEqual([]);
  });
});
