import pg from 'pg';
import type { Logger } from 'pino';
import type { Config } from './config/load-config.js';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '@rowguard/testing';
import { migrate, RowguardError } from '@rowguard/kernel';
import { SERVICE_MIGRATIONS } from './service-migrations.js';

export interface DatabaseTarget {
  ownerUrl: string;
  /** Undefined when only the owner URL is configured: enough for migrations and CLI commands, never for serving. */
  appUrl: string | undefined;
  appRole: string;
  /** Human description for the start-up line. */
  description: string;
  embedded?: EmbeddedDatabase;
}

/**
 * The database the service runs on, with roles set up and migrations applied: the embedded
 * one when no URL is configured, otherwise the configured server.
 */
export async function connectDatabase(config: Config, log: Logger): Promise<DatabaseTarget> {
  const target = config.databaseUrl ? await configuredTarget(config) : await embeddedTarget(config, log);
  try {
    await migrate({
      connectionString: target.ownerUrl,
      directory: SERVICE_MIGRATIONS,
      variables: { app_role: target.appRole, system_role: config.systemRole },
      onApplied: (m, ms) => log.info({ migration: m.name, ms: Math.round(ms) }, 'migration applied'),
    });
  } catch (error) {
    await target.embedded?.stop();
    throw error;
  }
  return target;
}

async function embeddedTarget(config: Config, log: Logger): Promise<DatabaseTarget> {
  const embedded = await startEmbeddedPostgres({
    dataDir: config.dataDir,
    appRole: config.appRole,
    systemRole: config.systemRole,
    onLog: (message) => log.debug({ postgres: message }),
  });
  return {
    ownerUrl: embedded.ownerUrl,
    appUrl: embedded.appUrl,
    appRole: config.appRole,
    description: `embedded PostgreSQL ${embedded.version} at 127.0.0.1:${embedded.port} (data in ${config.dataDir})`,
    embedded,
  };
}

async function configuredTarget(config: Config): Promise<DatabaseTarget> {
  const ownerUrl = config.databaseUrl as string;
  const appRole = config.appRole;
  await assertRolesExist(ownerUrl, [appRole, config.systemRole]);
  const server = new URL(ownerUrl);
  return { ownerUrl, appUrl: config.appUrl, appRole, description: `PostgreSQL at ${server.hostname}:${server.port || 5432}${server.pathname}` };
}

/** Roles are provisioned once by `rowguard setup-roles`; serving never creates or alters them. */
async function assertRolesExist(ownerUrl: string, roles: string[]): Promise<void> {
  const owner = new pg.Client({ connectionString: ownerUrl });
  await owner.connect();
  try {
    const { rows } = await owner.query<{ rolname: string }>('select rolname from pg_roles where rolname = any($1)', [roles]);
    const missing = roles.filter((role) => !rows.some((r) => r.rolname === role));
    if (missing.length > 0) {
      throw new RowguardError('ROLE_SETUP_FAILED', `role ${missing.map((r) => `"${r}"`).join(' and ')} does not exist: run "rowguard setup-roles" once with ROWGUARD_DATABASE_URL set`);
    }
  } finally {
    await owner.end();
  }
}
