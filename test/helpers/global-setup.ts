import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../packages/testing/src/embedded/embedded-postgres.js';
import { bootstrapDatabase } from '../../packages/kernel/src/schema/bootstrap.js';
import { migrate } from '../../packages/kernel/src/schema/migrate.js';
import { TEST_ROLES, type TestCitus, type TestCluster } from './cluster.js';
import { SERVICE_MIGRATIONS } from '../../src/service-migrations.js';

declare module 'vitest' {
  export interface ProvidedContext {
    cluster: TestCluster;
    citus: TestCitus | null;
  }
}

/**
 * One PostgreSQL for the whole run: the embedded one, or ROWGUARD_TEST_DATABASE_URL (a
 * superuser URL). A migrated template database is built once; each test file clones it.
 */
export default async function setup(project: TestProject) {
  // The CLI tests run the compiled command (helpers/cli.ts): built alongside the database.
  const built = promisify(execFile)('npm', ['run', '--silent', 'build']);
  let superuserUrl = process.env.ROWGUARD_TEST_DATABASE_URL;
  let stop = async () => {};
  if (!superuserUrl) {
    const dataDir = await mkdtemp(join(tmpdir(), 'rowguard-test-'));
    const embedded = await startEmbeddedPostgres({ dataDir });
    superuserUrl = embedded.superuserUrl;
    stop = async () => {
      await embedded.stop();
      await rm(dataDir, { recursive: true, force: true, maxRetries: 5 });
    };
  }
  try {
    await prepare(project, superuserUrl, built);
  } catch (error) {
    // vitest runs no teardown for a setup that failed (a type error fails the build): stop the
    // embedded server here, or it outlives the run.
    await stop();
    throw error;
  }
  return stop;
}

/** The template database, the build and what the test files are given. */
async function prepare(project: TestProject, superuserUrl: string, built: Promise<unknown>) {
  const admin = new pg.Client({ connectionString: superuserUrl });
  await admin.connect();
  // Databases of earlier runs on a shared server were kept as evidence; clear them now.
  const stale = await admin.query<{ datname: string }>(`select datname from pg_database where datname like 'rowguard\\_t\\_%'`);
  for (const { datname } of stale.rows) await admin.query(`drop database if exists "${datname}" with (force)`);
  const { rows } = await admin.query<{ server_version_num: string }>('show server_version_num');
  await admin.end();

  const password = randomBytes(18).toString('base64url');
  const template = `rowguard_t_template_${randomBytes(4).toString('hex')}`;
  const { ownerUrl } = await bootstrapDatabase({
    superuserUrl,
    database: template,
    ownerRole: TEST_ROLES.owner,
    ownerPassword: password,
    appRole: TEST_ROLES.app,
    appPassword: password,
    systemRole: TEST_ROLES.system,
  });
  await migrate({ connectionString: ownerUrl, directory: SERVICE_MIGRATIONS, variables: { app_role: TEST_ROLES.app, system_role: TEST_ROLES.system } });

  await built;
  project.provide('cluster', { superuserUrl, template, password, serverVersionNum: Number(rows[0]!.server_version_num) });
  project.provide('citus', await citusCoordinator(password));
}

/**
 * The Citus coordinator of ROWGUARD_TEST_CITUS_URL, for the `citus` project, which runs the
 * isolation, HTTP, idempotency, outbox and webhook suites on it (test/helpers/database.ts
 * creates each file's database on every node). Databases left by an earlier run are dropped.
 */
async function citusCoordinator(password: string): Promise<TestCitus | null> {
  const superuserUrl = process.env.ROWGUARD_TEST_CITUS_URL;
  if (!superuserUrl) return null;
  const admin = new pg.Client({ connectionString: superuserUrl });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ workers: number }>(`select count(*)::int as workers from pg_dist_node where groupid <> 0`);
    if (rows[0]!.workers < 2) throw new Error(`ROWGUARD_TEST_CITUS_URL: the coordinator has ${rows[0]!.workers} workers; the Citus suites need two`);
    const stale = await admin.query<{ datname: string }>(`select datname from pg_database where datname like 'rowguard\\_t\\_%'`);
    await admin.query('set citus.enable_create_database_propagation = on');
    for (const { datname } of stale.rows) await admin.query(`drop database if exists "${datname}" with (force)`);
  } finally {
    await admin.end();
  }
  return { superuserUrl, password };
}
