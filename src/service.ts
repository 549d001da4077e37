import { serve, type ServerType } from '@hono/node-server';
import type { Logger } from 'pino';
import type { Config } from './config/load-config.js';
import { createKernel, type Kernel } from './db/kernel.js';
import { createPool } from './db/pool.js';
import { assertSafeAppRole } from './db/role-guard.js';
import { createApp } from './http/app.js';
import { connectDatabase, type DatabaseTarget } from './database-target.js';

export interface RunningService {
  url: string;
  kernel: Kernel;
  target: DatabaseTarget;
  close(): Promise<void>;
}

/**
 * Brings the service up: database (embedded or by URL), roles, migrations, the app-role
 * guard, then HTTP. Refuses to serve request traffic through a role that bypasses RLS.
 */
export async function startService(config: Config, log: Logger): Promise<RunningService> {
  const target = await connectDatabase(config, log);
  const appPool = createPool({
    connectionString: target.appUrl ?? target.ownerUrl,
    max: config.poolSize,
    applicationName: 'rowguard app',
    onIdleError: (error) => log.warn({ err: error }, 'idle app connection failed'),
  });
  const systemPool = createPool({
    connectionString: target.ownerUrl,
    max: Math.max(2, Math.ceil(config.poolSize / 4)),
    applicationName: 'rowguard system',
    onIdleError: (error) => log.warn({ err: error }, 'idle system connection failed'),
  });
  let server: ServerType | undefined;
  const close = async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await Promise.allSettled([appPool.end(), systemPool.end()]);
    await target.embedded?.stop();
  };
  try {
    if (target.appUrl) {
      const client = await appPool.connect();
      try {
        await assertSafeAppRole(client, { systemRole: config.systemRole });
      } finally {
        client.release();
      }
    }
    const kernel = createKernel({ appPool, systemPool, systemRole: config.systemRole, prepare: config.prepare, tenantContext: config.tenantContext });
    const app = createApp({ ping: () => kernel.ping(), log });
    const address = await new Promise<{ port: number }>((resolve, reject) => {
      server = serve({ fetch: app.fetch, hostname: config.host, port: config.port }, (info) => resolve(info));
      server.once('error', reject);
    });
    return { url: `http://${config.host}:${address.port}`, kernel, target, close };
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
}
