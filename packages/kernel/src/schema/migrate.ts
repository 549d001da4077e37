import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import pg from 'pg';
import { MigrationError } from '../errors.js';
import { isCitus } from './citus/database.js';
import { distributeTenantTables, type Distribution } from './citus/distribute.js';
import { repairShardPolicies } from './citus/shard-policies.js';
import { splitStatements } from './split-statements.js';
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
  /** On Citus, called when new tenant tables were distributed or shard policies restored (for a progress log). */
  onDistributed?: (distribution: Distribution & { repairedTables: number }) => void;
  /** The tenant column, by which Citus distributes the tables that have it. Default `tenant_id`. */
  tenantColumn?: string;
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
 * On a database with the `citus` extension, each file is applied one statement at a time
 * (Citus refuses several commands in one text on distributed tables), and after the files,
 * every new table with the tenant column is distributed by it, colocated with the others
 * (see `distributeTenantTables`): the same files make the schema on both.
 *
 * @param options - the owner's URL, the folder of numbered `.sql` files, their variables and a callback per applied file
 * @example
 * await migrate({ connectionString: ownerUrl, directory: 'db/migrations', variables: { app_role: 'rowguard_app', system_role: 'rowguard_system' } });
 */
export async function migrate({ connectionString, directory, variables, onApplied, onDistributed, tenantColumn }: MigrateOptions): Promise<Migration[]> {
  const migrations = await readMigrations(directory);
  const client = new pg.Client({ connectionString, application_name: 'rowguard migrate' });
  await client.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      const citus = await isCitus(client);
      const applied = await applyPending(client, migrations, variables, onApplied, citus);
      if (citus) await distribute(client, tenantColumn, onDistributed);
      return applied;
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
  citus: boolean,
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
      const sql = substituteVariables(migration.sql, variables);
      if (citus) {
        // DDL on distributed tables inside a transaction block must not open parallel shard connections.
        await client.query(`set local citus.multi_shard_modify_mode = 'sequential'`);
        for (const statement of await splitStatements(sql)) await client.query(statement);
      } else {
        await client.query(sql);
      }
      await client.query('insert into rowguard.migrations (id, name, checksum) values ($1, $2, $3)', [migration.id, migration.name, migration.checksum]);
      await client.query('commit');
    } catch (error) {
      await client.query('rollback').catch(() => undefined);
      throw new MigrationError('MIGRATION_FAILED', `migration ${migration.name} failed: ${reasonOf(error)}`, { cause: error });
    }
    applied.push(migration);
    onApplied?.(migration, performance.now() - started);
  }
  return applied;
}

async function distribute(client: pg.Client, tenantColumn: string | undefined, onDistributed: MigrateOptions['onDistributed']): Promise<void> {
  let distribution: Distribution;
  await client.query('begin');
  try {
    distribution = await distributeTenantTables(client, { tenantColumn });
    await client.query('commit');
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw new MigrationError('MIGRATION_FAILED', `distributing the tenant tables on Citus failed: ${reasonOf(error)}`, { cause: error });
  }
  // After the commit: the repair reaches the shards through connections of their own.
  const repairedTables = await repairShardPolicies(client).catch((error: unknown) => {
    throw new MigrationError('MIGRATION_FAILED', `restoring restrictive policies on the Citus shards failed: ${reasonOf(error)}`, { cause: error });
  });
  if (distribution.distributed.length > 0 || repairedTables > 0) onDistributed?.({ ...distribution, repairedTables });
}

const reasonOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
