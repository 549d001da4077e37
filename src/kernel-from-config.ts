import type pg from 'pg';
import type { Config } from './config/load-config.js';
import { createKernel, createPool, isCitus, type Kernel, readContextKey } from '@rowguard/kernel';
import type { DatabaseTarget } from './database-target.js';

export interface ConfiguredKernel {
  kernel: Kernel;
  appPool: pg.Pool;
  systemPool: pg.Pool;
  /** Ends both pools. */
  close(): Promise<void>;
}

/**
 * The one place pools and the kernel are built from configuration, for `serve`, `worker` and
 * every command that touches a database: the same prepare mode, tenant context, timeouts,
 * per-tenant cap and context key everywhere. Pool sizes: the configured size for a service;
 * `small` (one connection each) for a command.
 */
export async function kernelFromConfig(
  config: Config,
  target: DatabaseTarget,
  { small = false, onIdleError }: { small?: boolean; onIdleError?: (pool: 'app' | 'system') => (error: Error) => void } = {},
): Promise<ConfiguredKernel> {
  const name = small ? 'rowguard cli' : 'rowguard';
  // A command without an app URL (only the owner's) runs nothing on the app pool: it only uses asSystem.
  const appPool = createPool({ connectionString: target.appUrl ?? target.ownerUrl, max: small ? 1 : config.poolSize, applicationName: `${name} app`, onIdleError: onIdleError?.('app') });
  const systemPool = createPool({
    connectionString: target.ownerUrl,
    max: small ? 1 : Math.max(2, Math.ceil(config.poolSize / 4)),
    applicationName: `${name} system`,
    onIdleError: onIdleError?.('system'),
  });
  const close = async () => {
    await Promise.allSettled([appPool.end(), systemPool.end()]);
  };
  try {
    const kernel = createKernel({
      appPool,
      systemPool,
      systemRole: config.systemRole,
      prepare: config.prepare,
      tenantContext: await resolveTenantContext(config.tenantContext, systemPool),
      statementTimeout: config.statementTimeout,
      lockTimeout: config.lockTimeout,
      idleInTransactionTimeout: config.idleInTransactionTimeout,
      maxConnectionsPerTenant: config.tenantMaxConnections,
      tenantQueueTimeout: config.tenantQueueTimeout,
      contextKey: await readContextKey(systemPool),
    });
    return { kernel, appPool, systemPool, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** `auto`: set_config on plain PostgreSQL (fewer statements); SET LOCAL on Citus, the form it sends on to the workers. */
export async function resolveTenantContext(configured: Config['tenantContext'], pool: pg.Pool): Promise<'set-local' | 'set-config'> {
  if (configured !== 'auto') return configured;
  const client = await pool.connect();
  try {
    return (await isCitus(client)) ? 'set-local' : 'set-config';
  } finally {
    client.release();
  }
}
