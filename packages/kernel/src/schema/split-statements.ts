import { MigrationError } from '../errors.js';

/**
 * The statements of a migration file, each as its own text. Citus propagates DDL on a
 * distributed table by sending the statement's text to the workers, which refuse a text that
 * holds several commands; so on Citus a file is applied one statement at a time. Split by
 * PostgreSQL's own parser (libpg-query), so dollar quotes, strings and comments holding `;`
 * are never cut.
 */
export async function splitStatements(sql: string): Promise<string[]> {
  const parser = await loadParser();
  const { stmts = [] } = parser.parseSync(sql) as { stmts?: { stmt_location?: number; stmt_len?: number }[] };
  // The parser counts bytes of UTF-8, not characters.
  const bytes = Buffer.from(sql, 'utf8');
  return stmts
    .map(({ stmt_location: start = 0, stmt_len: length }) => bytes.subarray(start, length ? start + length : undefined).toString('utf8').trim())
    .filter((statement) => statement !== '');
}

type Parser = { loadModule(): Promise<void>; parseSync(sql: string): unknown };
let parser: Promise<Parser> | undefined;

function loadParser(): Promise<Parser> {
  parser ??= import('libpg-query').then(
    async (module) => {
      const loaded = ((module as { default?: Parser }).default ?? module) as Parser;
      await loaded.loadModule();
      return loaded;
    },
    (error: unknown) => {
      parser = undefined;
      throw new MigrationError('MIGRATION_FAILED', 'migrating a Citus database applies one statement at a time, which needs the libpg-query package: npm install libpg-query', { cause: error });
    },
  );
  return parser;
}
