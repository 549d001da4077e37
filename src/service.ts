import { serve, type ServerType } from '@hono/node-server';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import type { Config } from './config/load-config.js';
import { assertSafeAppRole, isCitus, type Kernel, readMigrations, RowguardError, UnsafeRoleError } from '@rowguard/kernel';
import { kernelFromConfig } from './kernel-from-config.js';
import type { Secrets } from './config/dev-secrets.js';
import { createApp } from './http/app.js';
import { createJwtVerifier } from './http/auth/jwt-verifier.js';
import { createOutboxNudge } from './jobs/outbox-nudge.js';
import { startWorker, type Worker } from './jobs/worker.js';
import { SERVICE_MIGRATIONS } from './service-migrations.js';
import { connectDatabase, type DatabaseTarget } from './database-target.js';

export interface RunningService {
  /** Where HTTP listens; empty when started without HTTP (rowguard worker). */
  url: string;
  kernel: Kernel;
  target: DatabaseTarget;
  close(): Promise<void>;
}

/**
 * Brings the service up: database (embedded or by URL), roles, migrations, the app-role
 * guard, then HTTP. Refuses to serve request traffic through a role that bypasses RLS.
 */
export async function startService(
  config: Config,
  log: Logger,
  secrets: Secrets,
  { http = true, worker = config.worker === 'in-process' }: { http?: boolean; worker?: boolean } = {},
): Promise<RunningService> {
  // The owner URL alone must never serve tenant traffic, in any mode: it owns the tables and
  // may SET ROLE to the system role. (The embedded database provisions its app role itself.)
  if (config.databaseUrl && !config.appUrl) {
    throw new UnsafeRoleError(
      'APP_URL_REQUIRED',
      'refusing to start: ROWGUARD_DB_APP_URL is not set, so requests would run as the owner; run "rowguard setup-roles --password-file FILE" once and set ROWGUARD_DB_APP_URL to the app role',
    );
  }
  const target = await connectDatabase(config, log);
  // During shutdown, connections dropping is expected: log it quietly.
  let closing = false;
  const idleError = (pool: 'app' | 'system') => (error: Error) => log[closing ? 'debug' : 'warn']({ err: error }, `idle ${pool} connection failed`);
  const { kernel, appPool, systemPool, close: closePools } = await kernelFromConfig(config, target, { onIdleError: idleError }).catch(async (error: unknown) => {
    await target.embedded?.stop();
    throw error;
  });
  let server: ServerType | undefined;
  let background: Worker | undefined;
  // Graceful: stop accepting, let in-flight requests finish (10 s at most), stop the worker,
  // close the pools, stop the embedded database. On Ctrl-C the embedded PostgreSQL gets the
  // signal too and may already be gone: every step runs, and failures are only logged.
  const close = async () => {
    closing = true;
    const step = (name: string, run: () => Promise<unknown> | undefined) =>
      Promise.resolve()
        .then(run)
        .catch((error: unknown) => log.warn({ err: error }, `shutdown: ${name} failed`));
    await step('http', () =>
      new Promise<void>((resolve) => {
        if (!server) return resolve();
        const http = server as Server;
        const force = setTimeout(() => http.closeAllConnections?.(), 10_000);
        http.close(() => {
          clearTimeout(force);
          resolve();
        });
        http.closeIdleConnections?.();
      }),
    );
    await step('worker', () => background?.stop());
    await step('pools', closePools);
    await step('database', () => target.embedded?.stop());
  };
  try {
    const client = await appPool.connect();
    try {
      await assertSafeAppRole(client, { systemRole: config.systemRole });
      // set_config is transaction-local on the coordinator only: the workers would see no tenant.
      if (config.tenantContext === 'set-config' && (await isCitus(client))) {
        throw new RowguardError('CONFIG_INVALID', 'ROWGUARD_TENANT_CONTEXT=set-config does not reach the Citus workers, which would see no tenant: use set-local (the default)');
      }
    } finally {
      client.release();
    }
    const latest = Math.max(...(await readMigrations(SERVICE_MIGRATIONS)).map((m) => m.id));
    const ready = async () => {
      await kernel.ping();
      const { rows } = await systemPool.query<{ id: number }>('select max(id) as id from rowguard.migrations');
      if (rows[0]?.id !== latest) throw new Error(`database is at migration ${rows[0]?.id}, this version needs ${latest}`);
    };
    const verifyJwt = createJwtVerifier({ ...config.jwt, secret: secrets.jwtSecret });
    if (!verifyJwt) log.warn('no JWT key is configured: only API keys can authenticate tenant requests');
    if (!secrets.adminToken) log.warn('ROWGUARD_ADMIN_TOKEN is not set: the admin API refuses every request');
    const app = createApp({ kernel, log, ready, verifyJwt, adminToken: secrets.adminToken, bodyLimit: config.bodyLimit,
      corsOrigins: config.corsOrigins,
      idempotencyTtlSeconds: config.idempotencyTtlSeconds,
      allowPrivateDestinations: config.webhooks.allowPrivate,
      webhookDnsTimeoutMs: config.webhooks.dnsTimeoutMs,
      nudgeOutbox: createOutboxNudge(kernel),
    });
    if (worker) {
      background = await startWorker({
        kernel,
        ownerPool: systemPool,
        ownerUrl: target.ownerUrl,
        log,
        delivery: { timeoutMs: config.webhooks.timeoutMs, allowPrivate: config.webhooks.allowPrivate, maxAttempts: config.webhooks.maxAttempts },
        retryDelaySeconds: config.webhooks.retryDelaySeconds,
        deliveryRetentionDays: config.webhooks.retentionDays,
        deliveryConcurrency: config.webhooks.concurrency,
        deliveryConcurrencyPerTenant: config.webhooks.tenantConcurrency,
      });
    }
    if (!http) return { url: '', kernel, target, close };
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
