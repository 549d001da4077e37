import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import pg from 'pg';
import { MigrationError } from '../errors.js';
import { substituteVariables } from './sql-variables.js';

// Any constant works; it only has to be the same for every instance migrating this database.
const MIGRATION_LOCK = '7243610427164015';
const FILE_NAME = /^(\d{4})_[a-z0-9_]+\.sql$/;

/** One NNNN_name.sql file, as read and as recorded in rowguard.migrations. */
export interface Migration {
  /** The file's leading number: the order migrations apply in. */
  id: number;
  /** The file name. */
  name: string;
  /** The file's text, before variables are substituted. */
  sql: string;
  /** SHA-256 of `sql`, in hex: a file edited after it was applied no longer matches. */
  checksum: string;
}

/** What `migrate` needs: where, which files, and the values of their variables. */
export interface MigrateOptions {
  /** Owner connection, direct to PostgreSQL: a session advisory lock does not survive a transaction-mode pooler. */
  connectionString: string;
  /** The folder of NNNN_name.sql files. */
  directory: string;
  /** Values for :"name" / :'name' in the files (app_role, system_role). */
  variables: Readonly<Record<string, string>>;
  /** Called after each file is committed, with how long it took (for a progress log). */
  onApplied?: (migration: Migration, milliseconds: number) => void;
}

/**
 * Reads NNNN_name.sql files in order. Refuses a misnamed file or two with the same number
 * (`MIGRATION_FAILED`).
 *
 * @example
 * ```ts
 * import { readMigrations } from '@rowguard/kernel';
 * const migrations = await readMigrations('db/migrations');
 * console.log(migrations.map((m) => `${m.name} ${m.checksum.slice(0, 8)}`).join('\n'));
 * ```
 */
export async function readMigrations(directory: string): Promise<Migration[]> {
  const names = (await readdir(directory)).filter((name) => name.endsWith('.sql')).sort();
  const migrations: Migration[] = [];
  for (const name of names) {
    const match = FILE_NAME.exec(name);
    if (!match) throw new MigrationError('MIGRATION_FAILED', `migration file ${name} is not named NNNN_lower_case_name.sql`);
    const sql = await readFile(`${directory}/${name}`, 'utf8');
    const id = Number(match[1]);
    if (migrations.some((m) => m.id === id)) throw new MigrationError('MIGRATION_FAILED', `two migration files are numbered ${match[1]}`);
    migrations.push({ id, name, sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  return migrations;
}

/**
 * Applies pending migrations, each in its own transaction, under an advisory lock so that
 * instances starting together apply each file exactly once. Refuses to run when an applied
 * file has changed or the database has migrations this code does not know.
 *
 * @param options - the owner's URL, the folder of numbered `.sql` files, their variables and a callback per applied file
 * @example
 * await migrate({ connectionString: ownerUrl, directory: 'db/migrations', variables: { app_role: 'rowguard_app', system_role: 'rowguard_system' } });
 */
export async function migrate({ connectionString, directory, variables, onApplied }: MigrateOptions): Promise<Migration[]> {
  const migrations = await readMigrations(directory);
  const client = new pg.Client({ connectionString, application_name: 'rowguard migrate' });
  await client.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      return await applyPending(client, migrations, variables, onApplied);
    } finally {
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  } finally {
    await client.end();
  }
}

async function applyPending(
  client: pg.Client,
  migrations: Migration[],
  variables: Readonly<Record<string, string>>,
  onApplied: MigrateOptions['onApplied'],
): Promise<Migration[]> {
  await client.query(`
    create schema if not exists rowguard;
    create table if not exists rowguard.migrations (
      id integer primary key,
      name text not null,
      checksum text not null,
      applied_at timestamptz not null default now()
    )`);
  const { rows } = await client.query<{ id: number; name: string; checksum: string }>('select id, name, checksum from rowguard.migrations order by id');
  const files = new Map(migrations.map((m) => [m.id, m]));
  for (const applied of rows) {
    const file = files.get(applied.id);
    if (!file) {
      throw new MigrationError('MIGRATION_UNKNOWN', `the database has migration ${applied.name}, which this version does not have; run a newer Rowguard`);
    }
    if (file.checksum !== applied.checksum) {
      throw new MigrationError('MIGRATION_CHANGED', `migration ${file.name} was changed after it was applied; add a new migration instead of editing it`);
    }
  }
  const done = new Set(rows.map((r) => r.id));
  const applied: Migration[] = [];
  for (const migration of migrations.filter((m) => !done.has(m.id))) {
    const started = performance.now();
    await client.query('begin');
    try {
      await client.query(substituteVariables(migration.sql, variables));
      await client.query('insert into rowguard.migrations (id, name, checksum) values ($1, $2, $3)', [migration.id, migration.name, migration.checksum]);
      await client.query('commit');
    } catch (error) {
      await client.query('rollback').catch(() => undefined);
      const reason = error instanceof Error ? error.message : String(error);
      throw new MigrationError('MIGRATION_FAILED', `migration ${migration.name} failed: ${reason}`, { cause: error });
    }
    applied.push(migration);
    onApplied?.(migration, performance.now() - started);
  }
  return applied;
}
