import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { contextProof, readContextKey } from '../../packages/kernel/src/db/context-proof.js';
import { createKernel, type Kernel, type KernelOptions } from '../../packages/kernel/src/db/kernel.js';
import { createPool } from '../../packages/kernel/src/db/pool.js';
import { bootstrapDatabase, withCredentials } from '../../packages/kernel/src/schema/bootstrap.js';
import { migrate } from '../../packages/kernel/src/schema/migrate.js';
import { SERVICE_MIGRATIONS } from '../../src/service-migrations.js';
import { setupRoles } from '../../packages/kernel/src/schema/roles.js';
import { TEST_ROLES } from './cluster.js';

export interface TestDatabase {
  name: string;
  superuserUrl: string;
  ownerUrl: string;
  appUrl: string;
  serverVersionNum: number;
  /** A pool connected as `role` (superuser URL otherwise) to this database. */
  urlFor(role: string, password?: string): string;
  /** A direct client as the restricted app role: for proving what the database itself allows. */
  appClient(): Promise<pg.Client>;
  ownerClient(): Promise<pg.Client>;
  /** A direct client as the superuser: for terminating backends and reading past every policy. */
  superuserClient(): Promise<pg.Client>;
  /** The database's context key (rowguard.context_key): the kernels made here sign with it. */
  contextKey: Buffer | undefined;
  /** The proof of `tenantId` under the context key, for tests that set the context by hand. */
  proof(tenantId: string): string;
  /** A kernel over new pools; closed with the database. */
  kernel(options?: { appPoolSize?: number } & Partial<Omit<KernelOptions, 'appPool' | 'systemPool'>>): { kernel: Kernel; appPool: pg.Pool; systemPool: pg.Pool };
  close(): Promise<void>;
}

/**
 * A database of its own for one test file: cloned from the migrated template, or in the
 * `citus` project (ROWGUARD_TEST_ON_CITUS) created on every node of the Citus cluster and
 * migrated there, since Citus does not copy template databases to its workers.
 */
export async function createTestDatabase(options: { empty?: boolean; citusShardCount?: number } = {}): Promise<TestDatabase> {
  const citus = process.env.ROWGUARD_TEST_ON_CITUS === '1' ? inject('citus') : null;
  if (process.env.ROWGUARD_TEST_ON_CITUS === '1' && !citus) throw new Error('the citus project needs ROWGUARD_TEST_CITUS_URL');
  const cluster = citus ? { ...inject('cluster'), ...citus } : inject('cluster');
  const name = `rowguard_t_${randomBytes(5).toString('hex')}`;
  const urlFor = (role: string, password = cluster.password) => withCredentials(cluster.superuserUrl, role, password, name);
  const superuserDbUrl = withCredentials(cluster.superuserUrl, new URL(cluster.superuserUrl).username || 'postgres', decodeURIComponent(new URL(cluster.superuserUrl).password) || undefined, name);
  if (citus) {
    await bootstrapDatabase({ superuserUrl: cluster.superuserUrl, database: name, ownerRole: TEST_ROLES.owner, ownerPassword: cluster.password, appRole: TEST_ROLES.app, appPassword: cluster.password, systemRole: TEST_ROLES.system });
    // Fewer shards than Citus's 32 make moving them (the scale-out test) quicker.
    const shards = options.citusShardCount;
    if (shards) await withClient(superuserDbUrl, (client) => client.query(`alter database "${name}" set citus.shard_count = ${Math.trunc(shards)}`));
    if (!options.empty) await migrate({ connectionString: urlFor(TEST_ROLES.owner), directory: SERVICE_MIGRATIONS, variables: { app_role: TEST_ROLES.app, system_role: TEST_ROLES.system } });
  } else {
    const template = options.empty ? 'template0' : cluster.template;
    await withClient(cluster.superuserUrl, (admin) => admin.query(`create database "${name}" template "${template}" owner "${TEST_ROLES.owner}"`));
  }
  // Database-level grants (CONNECT, no TEMP) are not copied from a template: set them up as
  // the service does on every start.
  const contextKey = await withClient(urlFor(TEST_ROLES.owner), async (owner) => {
    await setupRoles(owner, { appRole: TEST_ROLES.app, systemRole: TEST_ROLES.system });
    return readContextKey(owner);
  });
  const closers: (() => Promise<unknown>)[] = [];
  const connect = async (url: string) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    client.on('error', () => {}); // terminated on purpose by some tests
    closers.push(() => client.end().catch(() => undefined));
    return client;
  };
  return {
    name,
    superuserUrl: superuserDbUrl,
    ownerUrl: urlFor(TEST_ROLES.owner),
    appUrl: urlFor(TEST_ROLES.app),
    serverVersionNum: citus ? await serverVersionNum(superuserDbUrl) : cluster.serverVersionNum,
    contextKey,
    proof: (tenantId) => contextProof(contextKey ?? Buffer.alloc(32), tenantId),
    urlFor,
    appClient: () => connect(urlFor(TEST_ROLES.app)),
    ownerClient: () => connect(urlFor(TEST_ROLES.owner)),
    superuserClient: () => connect(superuserDbUrl),
    kernel({ appPoolSize = 4, ...options } = {}) {
      const appPool = createPool({ connectionString: urlFor(TEST_ROLES.app), max: appPoolSize, applicationName: 'test app' });
      const systemPool = createPool({ connectionString: urlFor(TEST_ROLES.owner), max: 2, applicationName: 'test system' });
      closers.push(() => appPool.end(), () => systemPool.end());
      return { kernel: createKernel({ appPool, systemPool, systemRole: TEST_ROLES.system, contextKey, ...options }), appPool, systemPool };
    },
    async close() {
      await Promise.allSettled(closers.map((close) => close()));
      // Every Citus database runs a maintenance worker on each node: drop it rather than keep it.
      if (citus) await dropCitusDatabase(cluster.superuserUrl, name);
    },
  };
}

/** Runs `fn` on a connection of its own to `url`, closed afterwards. */
async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const serverVersionNum = (url: string) =>
  withClient(url, async (client) => Number((await client.query<{ server_version_num: string }>('show server_version_num')).rows[0]!.server_version_num));

const dropCitusDatabase = (superuserUrl: string, name: string) =>
  withClient(superuserUrl, async (admin) => {
    await admin.query('set citus.enable_create_database_propagation = on');
    await admin.query(`drop database if exists "${name}" with (force)`);
  });
