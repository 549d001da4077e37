import { spawn, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ROLES } from '../helpers/cluster.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { CLI } from '../helpers/cli.js';

const SECRET = 'x'.repeat(32);
/** Without any database setting of the calling environment. */
const baseEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ROWGUARD_JWT_SECRET: SECRET };
  for (const key of Object.keys(env)) if (/^ROWGUARD_(DATABASE_URL|DB_APP_URL|PORT|HOST)$/.test(key)) delete env[key];
  return env;
};
const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => spawnSync(process.execPath, [...CLI, ...args], { encoding: 'utf8', env: { ...baseEnv(), ...env } });
/** Asynchronous: the test process must keep serving while the command runs. */
const cliAsync = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [...CLI, ...args], { env: { ...baseEnv(), ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
const oneLine = (stderr: string) => expect(stderr.trim().split('\n')).toHaveLength(1);

let http: Server;
let httpUrl: string;
let db: TestDatabase;

beforeAll(async () => {
  http = createServer((_req, res) => res.end('not postgres'));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  httpUrl = `postgres://nobody:secret@127.0.0.1:${(http.address() as AddressInfo).port}/db`;
  db = await createTestDatabase();
});
afterAll(async () => {
  await new Promise((resolve) => http.close(resolve));
  await db.close();
});

describe('connection failures', () => {
  it('audit: an unknown host, a refused port, a server that is not PostgreSQL', async () => {
    const unknown = cli(['audit', 'postgres://nobody@base.invalid:5432/db']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/^rowguard: could not reach PostgreSQL at base\.invalid:5432: unknown host \[DATABASE_UNREACHABLE\]\n$/);
    const refused = cli(['audit', 'postgres://nobody@127.0.0.1:1/db']);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toBe('rowguard: could not reach PostgreSQL at 127.0.0.1:1: connection refused [DATABASE_UNREACHABLE]\n');
    const notPostgres = await cliAsync(['audit', httpUrl]);
    expect(notPostgres.status).toBe(2);
    oneLine(notPostgres.stderr);
    expect(notPostgres.stderr).toMatch(/^rowguard: .*127\.0\.0\.1:\d+ did not answer as PostgreSQL.*\[DATABASE_UNREACHABLE\]$/m);
    expect(notPostgres.stderr).not.toMatch(/secret/);
  });

  it('probe: the same one line', async () => {
    const refused = cli(['probe', 'postgres://nobody@127.0.0.1:1/db', '--app-url', 'postgres://app@127.0.0.1:1/db']);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toBe('rowguard: could not reach PostgreSQL at 127.0.0.1:1: connection refused [DATABASE_UNREACHABLE]\n');
    const notPostgres = await cliAsync(['probe', httpUrl, '--app-url', httpUrl]);
    expect(notPostgres.status).toBe(2);
    oneLine(notPostgres.stderr);
    expect(notPostgres.stderr).toMatch(/did not answer as PostgreSQL.*\[DATABASE_UNREACHABLE\]$/m);
  });

  it('commands that read ROWGUARD_DATABASE_URL: migrate, token --role', async () => {
    const migrate = cli(['migrate'], { ROWGUARD_DATABASE_URL: 'postgres://nobody@base.invalid:5432/db' });
    expect(migrate.status).toBe(1);
    expect(migrate.stderr).toMatch(/^rowguard: could not reach PostgreSQL at base\.invalid:5432: unknown host \[DATABASE_UNREACHABLE\]\n$/);
    const token = await cliAsync(['token', '--tenant', randomUUID(), '--user', 'u', '--role', 'admin'], { ROWGUARD_DATABASE_URL: httpUrl });
    expect(token.status).toBe(1);
    oneLine(token.stderr);
    // Past connect(), the driver cannot tell a server that is not PostgreSQL from one that dropped the line.
    expect(token.stderr).toMatch(/^rowguard: the connection to 127\.0\.0\.1:\d+ closed unexpectedly \(is PostgreSQL listening there\?\) \[DATABASE_UNREACHABLE\]$/m);
  });
});

describe('usage errors', () => {
  it('--port abc names the flag', () => {
    const result = cli(['serve', '--port', 'abc']);
    expect(result.status).toBe(1);
    oneLine(result.stderr);
    expect(result.stderr).toMatch(/^rowguard: invalid setting ROWGUARD_PORT \(--port\): .*\[CONFIG_INVALID\]$/m);
  });

  it('an unknown flag of audit or probe exits 2, naming the flag; other commands 1', () => {
    const audit = cli(['audit', 'postgres://nobody@127.0.0.1:1/db', '--bogus']);
    expect(audit.status).toBe(2);
    expect(audit.stderr).toBe('rowguard: unknown option --bogus for audit (try rowguard audit --help) [CONFIG_INVALID]\n');
    const probe = cli(['probe', '--bogus=1']);
    expect(probe.status).toBe(2);
    expect(probe.stderr).toBe('rowguard: unknown option --bogus for probe (try rowguard probe --help) [CONFIG_INVALID]\n');
    // A flag of another command is unknown here too.
    const token = cli(['token', '--tenant', randomUUID(), '--user', 'u', '--schema', 'x']);
    expect(token.status).toBe(1);
    expect(token.stderr).toBe('rowguard: unknown option --schema for token (try rowguard token --help) [CONFIG_INVALID]\n');
    const missing = cli(['audit', '--format']);
    expect(missing.status).toBe(2);
    oneLine(missing.stderr);
    expect(missing.stderr).toMatch(/--format needs a value.*\[CONFIG_INVALID\]$/m);
  });

  it('<command> --help prints that command; help and --help print all', () => {
    const audit = cli(['audit', '--help']);
    expect(audit.status).toBe(0);
    expect(audit.stdout).toMatch(/^Usage: rowguard audit/);
    expect(audit.stdout).toContain('--expect-tables');
    expect(audit.stdout).not.toContain('tenant-table');
    for (const command of ['serve', 'demo', 'worker', 'migrate', 'setup-roles', 'token', 'probe', 'tenant-table', 'signed-context']) {
      const result = cli([command, '--help']);
      expect(result.status).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`^Usage: rowguard ${command}`));
    }
    for (const args of [['help'], ['--help']]) {
      const all = cli(args);
      expect(all.status).toBe(0);
      expect(all.stdout).toContain('Commands:');
      expect(all.stdout).toContain('tenant-table');
      expect(all.stdout).toContain('--expect-tables');
    }
  });
});

describe('rowguard token', () => {
  it('refuses a zero or negative --ttl', () => {
    for (const ttl of ['0h', '0s', '--ttl=-1h']) {
      const args = ttl.startsWith('--') ? [ttl] : ['--ttl', ttl];
      const result = cli(['token', '--tenant', randomUUID(), '--user', 'u', ...args]);
      expect(result.status).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/^rowguard: --ttl must be a positive lifetime.*\[CONFIG_INVALID\]\n$/);
    }
  });

  describe('with a database', () => {
    let tenant: string;
    const env = () => ({ ROWGUARD_DATABASE_URL: db.ownerUrl, ROWGUARD_APP_ROLE: TEST_ROLES.app, ROWGUARD_SYSTEM_ROLE: TEST_ROLES.system });
    beforeAll(async () => {
      tenant = randomUUID();
      const admin = new pg.Client({ connectionString: db.superuserUrl });
      await admin.connect();
      await admin.query(`insert into tenants (id, name) values ($1, 'Acme')`, [tenant]);
      await admin.query(`insert into team_members (tenant_id, user_id, email, role) values ($1, 'olive', 'olive@example.test', 'owner'), ($1, 'gone', 'gone@example.test', 'member')`, [tenant]);
      await admin.query(`update team_members set status = 'removed' where user_id = 'gone'`);
      await admin.end();
    });

    it('warns in one line, still printing the token, when the user is not an active member', () => {
      const member = cli(['token', '--tenant', tenant, '--user', 'olive'], env());
      expect(member.status).toBe(0);
      expect(member.stderr).toBe('');
      expect(member.stdout).toMatch(/^ey[\w-]+\.[\w-]+\.[\w-]+\n$/);
      for (const user of ['carol', 'gone']) {
        const result = cli(['token', '--tenant', tenant, '--user', user], env());
        expect(result.status).toBe(0);
        expect(result.stdout).toMatch(/^ey[\w-]+\.[\w-]+\.[\w-]+\n$/);
        expect(result.stderr).toBe(`rowguard: warning: ${user} is not an active member of tenant ${tenant}; the service will refuse this token\n`);
      }
    });

    it('warns when the tenant does not exist', () => {
      const missing = randomUUID();
      const result = cli(['token', '--tenant', missing, '--user', 'olive'], env());
      expect(result.status).toBe(0);
      expect(result.stdout).toMatch(/^ey/);
      expect(result.stderr).toBe(`rowguard: warning: there is no tenant ${missing}; the service will refuse this token\n`);
    });

    it('notes in one line that it could not check when the database is unreachable', () => {
      const result = cli(['token', '--tenant', randomUUID(), '--user', 'olive'], { ROWGUARD_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/db' });
      expect(result.status).toBe(0);
      expect(result.stdout).toMatch(/^ey/);
      expect(result.stderr).toBe('rowguard: note: membership not checked: could not reach PostgreSQL at 127.0.0.1:1: connection refused\n');
    });
  });
});
