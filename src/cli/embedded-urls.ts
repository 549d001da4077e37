import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { RowguardError } from '@rowguard/kernel';

/** As in packages/testing/src/embedded/embedded-postgres.ts: the database and owner role the embedded cluster gets. */
const DATABASE = 'rowguard';
const OWNER_ROLE = 'rowguard_owner';

export interface RunningEmbedded {
  dataDir: string;
  port: number;
  /** The cluster's superuser on the rowguard database: reads every row (RLS does not apply). */
  superuserUrl: string;
  /** The schema owner: what the audit connects as. */
  ownerUrl: string;
  /** The app login role: request traffic, RLS applies. */
  appUrl: string;
  appRole: string;
  systemRole: string;
}

const url = (user: string, password: string, port: number) => `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${DATABASE}`;

/**
 * The URLs of the embedded cluster running in `dataDir` (started by `rowguard serve`), read
 * from its credentials.json and pgdata/postmaster.pid. Never starts a cluster: when none runs,
 * CONFIG_INVALID in one line that says what to do.
 */
export async function runningEmbedded(options: { dataDir: string; appRole: string; systemRole: string; command: string }): Promise<RunningEmbedded> {
  const { dataDir, appRole, systemRole, command } = options;
  const start = 'start it with "npm start" (rowguard serve, --data-dir to choose)';
  const orUrl = command === 'probe' ? ', or pass URLs: rowguard probe OWNER_URL --app-url APP_URL' : command === 'audit' ? ', or pass a URL: rowguard audit postgres://…' : '';
  const notRunning = (why: string) =>
    new RowguardError('CONFIG_INVALID', `${orUrl ? 'no database URL given and ' : ''}no embedded Rowguard database is running in ${dataDir} (${why}): ${start}${orUrl}`);
  let credentials: { superuser: string; owner: string; app: string };
  let port: number;
  try {
    credentials = JSON.parse(await readFile(join(dataDir, 'credentials.json'), 'utf8')) as typeof credentials;
  } catch {
    throw notRunning('no credentials.json');
  }
  try {
    // postmaster.pid: pid, data directory, start time, port, … (one per line)
    port = Number((await readFile(join(dataDir, 'pgdata', 'postmaster.pid'), 'utf8')).split('\n')[3]);
  } catch {
    throw notRunning('stopped');
  }
  if (!Number.isInteger(port) || port <= 0) throw notRunning('stopped');
  const superuserUrl = url('postgres', credentials.superuser, port);
  const client = new pg.Client({ connectionString: superuserUrl, connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch {
    throw notRunning(`nothing answers on port ${port}`);
  } finally {
    await client.end().catch(() => undefined);
  }
  return { dataDir, port, superuserUrl, ownerUrl: url(OWNER_ROLE, credentials.owner, port), appUrl: url(appRole, credentials.app, port), appRole, systemRole };
}

/** A URL with its password replaced by ****. */
export function maskPassword(connection: string): string {
  const parsed = new URL(connection);
  if (parsed.password) parsed.password = '****';
  return parsed.toString();
}

/** `rowguard urls`: the connection URLs of the running embedded cluster, passwords masked unless asked. */
export function urlsText(db: RunningEmbedded, showSecrets: boolean): string {
  const show = showSecrets ? (u: string) => u : maskPassword;
  const owner = show(db.ownerUrl);
  const lines = [
    `embedded PostgreSQL at 127.0.0.1:${db.port} (data in ${db.dataDir})`,
    `owner      ${owner}`,
    `           owns the schema and runs migrations; rowguard audit connects as it`,
    `app        ${show(db.appUrl)}`,
    `           role ${db.appRole}: request traffic, Row-Level Security applies`,
    `system     ${db.systemRole} is NOLOGIN (no URL of its own): connect with the owner URL, then SET ROLE ${db.systemRole}`,
    `           psql "${owner}" -c "set role ${db.systemRole}; …"`,
    `superuser  ${show(db.superuserUrl)}`,
    `           reads every row (RLS does not apply): rowguard probe's owner side; never for request traffic`,
  ];
  if (!showSecrets) lines.push('', 'passwords masked: rowguard urls --show-secrets prints them (they are in credentials.json, mode 0600)');
  return lines.join('\n') + '\n';
}
