import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKernel, createPool, tenantTableSql } from '@rowguard/kernel';
import { cloneDatabase, startEmbeddedPostgres, type EmbeddedDatabase } from '@rowguard/testing';

// What a team's test set-up does: an embedded cluster with its own database name, migrated
// once, then one copy per test file.
let dataDir: string;
let cluster: EmbeddedDatabase;

const run = async (url: string, sql: string, values: unknown[] = []) => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql, values);
  } finally {
    await client.end();
  }
};

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'rowguard-testing-'));
  cluster = await startEmbeddedPostgres({ dataDir, database: 'notes_app' });
  await run(cluster.ownerUrl, `create table notes (id serial primary key, body text not null); ${tenantTableSql({ table: 'notes', appRole: 'rowguard_app', systemRole: 'rowguard_system' })}`);
});
afterAll(async () => {
  await cluster?.stop();
  await rm(dataDir, { recursive: true, force: true, maxRetries: 5 });
});

describe('startEmbeddedPostgres and cloneDatabase', () => {
  it('creates the named database, owned by the owner role', async () => {
    expect(new URL(cluster.ownerUrl).pathname).toBe('/notes_app');
    expect((await run(cluster.appUrl, 'select current_database() as db')).rows).toEqual([{ db: 'notes_app' }]);
  });

  it('gives each test file its own copy of the migrated database, which the app role can use', async () => {
    const [first, second] = [await cloneDatabase(cluster), await cloneDatabase(cluster)];
    expect(first.name).toMatch(/^notes_app_[0-9a-f]{10}$/);
    const tenant = randomUUID();
    const pools: pg.Pool[] = [];
    const pool = (connectionString: string) => pools[pools.push(createPool({ connectionString, max: 1, applicationName: 'test' })) - 1]!;
    const kernelOf = (db: typeof first) => createKernel({ appPool: pool(db.appUrl), systemPool: pool(db.ownerUrl), systemRole: 'rowguard_system' });
    const inFirst = kernelOf(first);
    await inFirst.withTenant(tenant, (tx) => tx.query("insert into notes (body) values ('only in the first copy')"));
    const inSecond = kernelOf(second);
    expect((await inSecond.withTenant(tenant, (tx) => tx.query('select body from notes'))).rows).toEqual([]);
    expect((await inFirst.withTenant(tenant, (tx) => tx.query('select body from notes'))).rows).toEqual([{ body: 'only in the first copy' }]);
    // The template's grants came along: TEMPORARY stays revoked from PUBLIC.
    await expect(run(first.appUrl, 'create temp table t (x int)')).rejects.toMatchObject({ code: '42501' });
    await Promise.all(pools.map((p) => p.end()));
    await Promise.all([first.drop(), second.drop()]);
    expect((await run(cluster.superuserUrl, "select count(*)::int as n from pg_database where datname like 'notes_app_%'")).rows).toEqual([{ n: 0 }]);
  });
});
