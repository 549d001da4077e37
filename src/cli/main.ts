#!/usr/bin/env node
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { loadSecrets } from '../config/dev-secrets.js';
import { loadConfig, type Config } from '../config/load-config.js';
import { connectDatabase } from '../database-target.js';
import { type Kernel, parseIndexColumns, parseTenantId, RowguardError, setSignedContext, setupRoles, tenantTableSql } from '@rowguard/kernel';
import { createLogger } from '../log.js';
import { unreachableError } from '@rowguard/audit';
import { auditCommand } from './audit-command.js';
import { COMMANDS, HELP, helpOf, OPTIONS, type Flag } from './commands.js';
import { probeCommand } from './probe-command.js';
import { dataDirSetting, rememberDataDir } from './data-dir.js';
import { runningEmbedded, urlsText } from './embedded-urls.js';
import { mintToken } from '../http/auth/mint-token.js';
import { kernelFromConfig } from '../kernel-from-config.js';
import { demoInstructions, seedDemo } from '../demo.js';
import { ensureMember, membershipProblem, type MemberRole } from '../members/ensure-member.js';

/** Commands whose usage errors exit 2 ("could not run"); the others exit 1 like their other errors. */
const EXIT_2_ON_USAGE = new Set(['audit', 'probe']);

/** A usage error: one line, and the exit code the command uses for its other usage errors. */
function usageError(command: string | undefined, message: string): number {
  console.error(`rowguard: ${message} [CONFIG_INVALID]`);
  return command && EXIT_2_ON_USAGE.has(command) ? 2 : 1;
}

/** The flags the command-line sets, as loadConfig's settings. */
const FLAG_SETTINGS = { port: 'ROWGUARD_PORT', host: 'ROWGUARD_HOST', 'data-dir': 'ROWGUARD_DATA_DIR' } as const;

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
  } catch (error) {
    // node's own messages are long and name no command: one line naming the flag instead.
    const command = parseArgs({ args: argv, allowPositionals: true, strict: false, options: OPTIONS }).positionals[0];
    const { code, message } = error as { code?: string; message: string };
    const flag = /'(-[^' ]*)/.exec(message)?.[1]?.replace(/=.*$/, '') ?? 'an option';
    const where = command && COMMANDS[command] ? ` for ${command} (try rowguard ${command} --help)` : '';
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return usageError(command, `unknown option ${flag}${where}`);
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const given = /^Option '(-\w, )?(--[\w-]+)/.exec(message)?.[2] ?? flag;
      const boolean = /does not take an argument/.test(message);
      return usageError(command, boolean ? `${given} takes no value` : `${given} needs a value (use ${given}=VALUE for one starting with -)`);
    }
    throw error;
  }
  const { positionals, values } = parsed;
  const [command, ...rest] = positionals;
  if (!command || command === 'help') {
    const topic = command === 'help' ? rest[0] : undefined;
    console.log(topic && COMMANDS[topic] ? helpOf(topic) : HELP);
    return command || values.help ? 0 : 2;
  }
  if (COMMANDS[command]) {
    if (values.help) {
      console.log(helpOf(command));
      return 0;
    }
    const foreign = (Object.keys(values) as Flag[]).find((flag) => flag !== 'help' && !COMMANDS[command]!.flags.includes(flag));
    if (foreign) return usageError(command, `unknown option --${foreign} for ${command} (try rowguard ${command} --help)`);
  } else if (values.help) {
    console.log(HELP);
    return 0;
  }
  const config = () => {
    try {
      return loadConfig(process.env, { ROWGUARD_PORT: values.port, ROWGUARD_HOST: values.host, ROWGUARD_DATA_DIR: dataDirSetting(values['data-dir'], process.env) });
    } catch (error) {
      // Name the flag when a flag, not the environment, gave the setting.
      for (const [flag, setting] of Object.entries(FLAG_SETTINGS)) {
        if (values[flag as keyof typeof FLAG_SETTINGS] !== undefined && error instanceof RowguardError && error.message.startsWith(`invalid setting ${setting}:`)) {
          throw new RowguardError(error.code, error.message.replace(`invalid setting ${setting}:`, `invalid setting ${setting} (--${flag}):`), { cause: error });
        }
      }
      throw error;
    }
  };

  switch (command) {
    case 'serve':
      return serveCommand(config(), values.demo ?? false);
    case 'demo':
      return demoCommand(config());
    case 'worker':
      return workerCommand(config());
    case 'probe':
      return probeCommand({
        ownerUrl: rest[0],
        appUrl: values['app-url'],
        expectProbed: values['expect-probed'],
        tenantColumn: values['tenant-column'],
        setting: values.setting,
        schemas: values.schema,
        format: values.format,
        embedded: async () => {
          const db = await embeddedOf(config(), 'probe');
          return { ownerUrl: db.superuserUrl, appUrl: db.appUrl };
        },
      });
    case 'audit':
      return auditCommand({
        url: rest[0] ?? process.env.ROWGUARD_DATABASE_URL,
        embedded: async () => {
          const db = await embeddedOf(config(), 'audit');
          return { url: db.ownerUrl, appRole: db.appRole };
        },
        appRole: values['app-role'],
        tenantColumn: values['tenant-column'],
        schemas: values.schema,
        format: values.format,
        failOn: values['fail-on'],
        fixSql: values['fix-sql'],
        expectTables: values['expect-tables'],
      });
    case 'urls': {
      const db = await embeddedOf(config(), 'urls');
      process.stdout.write(urlsText(db, values['show-secrets'] ?? false));
      return 0;
    }
    case 'migrate':
      return migrateCommand(config());
    case 'setup-roles':
      return setupRolesCommand(config(), values['app-role'], values['password-file']);
    case 'token':
      return tokenCommand(config(), values.tenant, values.user, values.ttl ?? '1h', values.role);
    case 'tenant-table': {
      const table = rest[0];
      if (!table) throw new RowguardError('CONFIG_INVALID', 'tenant-table needs a table name');
      // Concrete role names and begin/commit, so that the output runs with plain psql -f or in
      // another migration tool.
      const { appRole, systemRole } = values['app-role'] && values['system-role'] ? { appRole: values['app-role'], systemRole: values['system-role'] } : config();
      process.stdout.write(
        tenantTableSql({
          table,
          tenantColumn: values['tenant-column'],
          index: parseIndexColumns(values.index),
          appRole: values['app-role'] ?? appRole,
          systemRole: values['system-role'] ?? systemRole,
          signedContext: values['signed-context'] ?? false,
          transaction: true,
        }),
      );
      return 0;
    }
    case 'signed-context':
      return signedContextCommand(config(), rest[0]);
    default:
      throw new RowguardError('CONFIG_INVALID', `unknown command "${command}" (try rowguard help)`);
  }
}

/** The running embedded database of the configured data dir, or one line saying how to start it. */
function embeddedOf(config: Config, command: string) {
  return runningEmbedded({ dataDir: config.dataDir, appRole: config.appRole, systemRole: config.systemRole, command });
}

/** Resolves on the first SIGINT or SIGTERM, even one that arrived while starting. */
function stopSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

/**
 * The service (HTTP app, job queue) is loaded only by the commands that run it: it is most of
 * the CLI's start-up time (0.3 of 0.45 s), which every `audit`, `probe` and `token` would pay.
 */
const loadService = () => import('../service.js');

async function workerCommand(config: Config): Promise<number> {
  const stopped = stopSignal();
  const { startService } = await loadService();
  const service = await startService(config, createLogger(config.logLevel), await loadSecrets(config), { http: false, worker: true });
  console.log(`rowguard worker running on ${service.target.description}: outbox relay, webhook delivery, scheduled jobs`);
  await stopped;
  console.log('rowguard worker stopping');
  await service.close();
  return 0;
}

async function serveCommand(config: Config, demo: boolean): Promise<number> {
  const log = createLogger(config.logLevel);
  const stopped = stopSignal();
  const secrets = await loadSecrets(config);
  const { startService } = await loadService();
  const service = await startService(config, log, secrets);
  // Later commands run here (token, audit, probe, urls, …) use the same data dir with no flag.
  await rememberDataDir(config.dataDir);
  console.log(`rowguard listening on ${service.url} · database: ${service.target.description} · RLS enforced through app role "${service.target.appRole}"`);
  if (demo) {
    console.log(await demoText(config, service.kernel, service.url, secrets.jwtSecret));
  } else if (service.target.embedded && (await service.kernel.asSystem((tx) => tx.query('select 1 from tenants limit 1'))).rowCount === 0) {
    console.log(`No tenants yet: restart with "npm start -- --demo" for two demo tenants and ready-to-paste curl commands, or see the README walk-through. Admin token: ${config.dataDir}/admin-token`);
  }
  await stopped;
  console.log('rowguard stopping');
  await service.close();
  return 0;
}

async function demoText(config: Config, kernel: Kernel, url: string, jwtSecret: string | undefined): Promise<string> {
  if (!jwtSecret) throw new RowguardError('CONFIG_INVALID', 'the demo mints HS256 tokens and needs ROWGUARD_JWT_SECRET (or development mode)');
  const tenants = await seedDemo(kernel);
  const { tenantClaim, issuer, audience, maxLifetimeSeconds } = config.jwt;
  const withTokens = await Promise.all(
    tenants.map(async (tenant) => ({ tenant, token: await mintToken({ secret: jwtSecret, tenantId: tenant.id, userId: tenant.owner, tenantClaim, ttl: `${Math.min(86_400, maxLifetimeSeconds)}s`, issuer, audience, maxLifetimeSeconds }) })),
  );
  return demoInstructions(url, withTokens);
}

/** Seeds the demo tenants and prints commands for the server at the configured address. */
async function demoCommand(config: Config): Promise<number> {
  const { jwtSecret } = await loadSecrets(config);
  const text = await withKernel(config, (kernel) => demoText(config, kernel, `http://${config.host}:${config.port}`, jwtSecret));
  console.log(text);
  return 0;
}

async function tokenCommand(config: Config, tenant: string | undefined, user: string | undefined, ttl: string, role: string | undefined): Promise<number> {
  if (!tenant || !user) throw new RowguardError('CONFIG_INVALID', 'token needs --tenant <uuid> and --user <id>');
  if (role !== undefined && !ROLES.includes(role as MemberRole)) throw new RowguardError('CONFIG_INVALID', `--role must be one of ${ROLES.join(', ')}`);
  const { jwtSecret } = await loadSecrets(config);
  if (!jwtSecret) throw new RowguardError('CONFIG_INVALID', 'token signs with ROWGUARD_JWT_SECRET (HS256); none is configured');
  const { tenantClaim, issuer, audience, maxLifetimeSeconds } = config.jwt;
  const token = await mintToken({ secret: jwtSecret, tenantId: tenant, userId: user, tenantClaim, ttl, issuer, audience, maxLifetimeSeconds });
  if (role) {
    await withKernel(config, (kernel) => ensureMember(kernel, parseTenantId(tenant), user, role as MemberRole));
    console.error(`rowguard: ${user} is an active ${role} of tenant ${tenant}`);
  } else if (config.databaseUrl) {
    // Only a configured database is asked: starting the embedded one to mint a token is too much.
    try {
      const problem = await withKernel(config, (kernel) => membershipProblem(kernel, parseTenantId(tenant), user));
      if (problem) console.error(`rowguard: warning: ${problem}; the service will refuse this token`);
    } catch (error) {
      const unreachable = unreachableError(error, config.databaseUrl);
      if (!unreachable) throw error;
      console.error(`rowguard: note: membership not checked: ${unreachable.message}`);
    }
  }
  console.log(token);
  return 0;
}

const ROLES: MemberRole[] = ['owner', 'admin', 'member', 'viewer'];

/** A kernel over the configured or embedded database, for commands that do not serve. */
async function withKernel<T>(config: Config, fn: (kernel: Kernel) => Promise<T>): Promise<T> {
  const target = await connectDatabase(config, createLogger(config.logLevel));
  try {
    const { kernel, close } = await kernelFromConfig(config, target, { small: true });
    try {
      return await fn(kernel);
    } finally {
      await close();
    }
  } finally {
    await target.embedded?.stop();
  }
}

async function migrateCommand(config: Config): Promise<number> {
  const log = createLogger(config.logLevel);
  const target = await connectDatabase(config, log);
  await target.embedded?.stop();
  console.log(`migrations up to date on ${target.description}`);
  return 0;
}

/** Rewrites the tenant policies of the configured (or embedded) database to the signed context, or back. */
async function signedContextCommand(config: Config, mode: string | undefined): Promise<number> {
  if (mode !== 'on' && mode !== 'off') throw new RowguardError('CONFIG_INVALID', 'signed-context needs on or off');
  const target = await connectDatabase(config, createLogger(config.logLevel));
  const owner = new pg.Client({ connectionString: target.ownerUrl });
  try {
    await owner.connect();
    const { changed } = await setSignedContext(owner, mode === 'on');
    console.log(`signed tenant context ${mode}: ${changed.length} policies rewritten on ${target.description}`);
  } finally {
    await owner.end();
    await target.embedded?.stop();
  }
  return 0;
}

async function setupRolesCommand(config: Config, appRoleFlag: string | undefined, passwordFile: string | undefined): Promise<number> {
  const appRole = appRoleFlag ?? config.appRole;
  if (!config.databaseUrl) {
    throw new RowguardError('CONFIG_INVALID', 'setup-roles needs ROWGUARD_DATABASE_URL (the owner connection); the embedded database sets up its roles itself');
  }
  const appPassword = passwordFile ? randomBytes(24).toString('base64url') : undefined;
  if (passwordFile && appPassword) await writeFile(passwordFile, appPassword + '\n', { mode: 0o600 });
  const owner = new pg.Client({ connectionString: config.databaseUrl });
  await owner.connect();
  try {
    await setupRoles(owner, { appRole, appPassword, systemRole: config.systemRole });
  } finally {
    await owner.end();
  }
  console.log(`roles ready: app "${appRole}", system "${config.systemRole}"${passwordFile ? `; app password written to ${passwordFile} (mode 0600)` : ''}`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (thrown: unknown) => {
    // A failed connection to the configured (or embedded) database: one line, not the driver's text.
    const error = unreachableError(thrown, process.env.ROWGUARD_DATABASE_URL) ?? thrown;
    const message = error instanceof Error ? error.message : String(error);
    const code = error instanceof RowguardError ? ` [${error.code}]` : '';
    console.error(`rowguard: ${message.split('\n')[0]}${code}`);
    if (process.env.ROWGUARD_DEBUG) console.error(thrown);
    process.exit(1);
  },
);
