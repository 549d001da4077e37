import { cp, mkdtemp, readdir, rm, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, readMigrations } from '../packages/kernel/src/schema/migrate.js';
import { SERVICE_MIGRATIONS } from '../src/service-migrations.js';
import { TEST_ROLES } from './helpers/cluster.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';

const variables = { app_role: TEST_ROLES.app, system_role: TEST_ROLES.system };
const cleanup: (() => Promise<unknown>)[] = [];
afterAll(() => Promise.all(cleanup.map((f) => f())));

async function emptyDatabase(): Promise<TestDatabase> {
  const db = await createTestDatabase({ empty: true });
  cleanup.push(() => db.close());
  return db;
}

async function copyOfMigrations(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rowguard-migrations-'));
  await cp(SERVICE_MIGRATIONS, dir, { recursive: true });
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function appliedRows(db: TestDatabase) {
  const client = await db.ownerClient();
  return (await client.query('select id, name from rowguard.migrations order by id')).rows;
}

describe('migrations', () => {
  let files: string[];
  beforeAll(async () => {
    files = (await readdir(SERVICE_MIGRATIONS)).filter((f) => f.endsWith('.sql')).sort();
  });

  it('five runners started together apply each file exactly once', async () => {
    const db = await emptyDatabase();
    const runs = await Promise.all(Array.from({ length: 5 }, () => migrate({ connectionString: db.ownerUrl, directory: SERVICE_MIGRATIONS, variables })));
    const applied = runs.flat().map((m) => m.name);
    expect(applied.sort()).toEqual(files);
    expect((await appliedRows(db)).map((r) => r.name)).toEqual(files);
    // A later start finds nothing to do.
    expect(await migrate({ connectionString: db.ownerUrl, directory: SERVICE_MIGRATIONS, variables })).toEqual([]);
  });

  it('refuses a file changed after it was applied', async () => {
    const db = await emptyDatabase();
    const dir = await copyOfMigrations();
    await migrate({ connectionString: db.ownerUrl, directory: dir, variables });
    await appendFile(join(dir, files[1]!), '\n-- an innocent-looking edit\n');
    await expect(migrate({ connectionString: db.ownerUrl, directory: dir, variables })).rejects.toMatchObject({
      code: 'MIGRATION_CHANGED',
      message: expect.stringContaining(files[1]!),
    });
  });

  it('refuses a database migrated by a newer version', async () => {
    const db = await emptyDatabase();
    const dir = await copyOfMigrations();
    await writeFile(join(dir, '9999_from_the_future.sql'), 'select 1;\n');
    await migrate({ connectionString: db.ownerUrl, directory: dir, variables });
    await expect(migrate({ connectionString: db.ownerUrl, directory: SERVICE_MIGRATIONS, variables })).rejects.toMatchObject({ code: 'MIGRATION_UNKNOWN' });
  });

  it('rolls back a failing migration whole and records nothing for it', async () => {
    const db = await emptyDatabase();
    const dir = await copyOfMigrations();
    await writeFile(join(dir, '0100_broken.sql'), 'create table half_done (id int);\nselect * from no_such_table;\n');
    await expect(migrate({ connectionString: db.ownerUrl, directory: dir, variables })).rejects.toMatchObject({
      code: 'MIGRATION_FAILED',
      message: expect.stringContaining('0100_broken.sql'),
    });
    expect((await appliedRows(db)).map((r) => r.name)).toEqual(files);
    const client = await db.ownerClient();
    expect((await client.query("select to_regclass('half_done') as t")).rows[0].t).toBeNull();
  });

  it('rejects badly named or duplicate-numbered files', async () => {
    const dir = await copyOfMigrations();
    await writeFile(join(dir, '0001_again.sql'), 'select 1;\n');
    await expect(readMigrations(dir)).rejects.toMatchObject({ code: 'MIGRATION_FAILED' });
    const other = await copyOfMigrations();
    await writeFile(join(other, 'Add Table.sql'), 'select 1;\n');
    await expect(readMigrations(other)).rejects.toMatchObject({ code: 'MIGRATION_FAILED' });
  });

  it('creates every object owned by the migrating role, none by the app role', async () => {
    const db = await emptyDatabase();
    await migrate({ connectionString: db.ownerUrl, directory: SERVICE_MIGRATIONS, variables });
    const client = new pg.Client({ connectionString: db.superuserUrl });
    await client.connect();
    cleanup.push(() => client.end());
    const { rows } = await client.query(`
      select distinct pg_get_userbyid(c.relowner) as owner
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname in ('public', 'rowguard') and c.relkind in ('r', 'v', 'i', 'S')`);
    expect(rows).toEqual([{ owner: TEST_ROLES.owner }]);
  });
});
