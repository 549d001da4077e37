import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { jwtVerify } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cli.js';

/**
 * End to end on the embedded database: `serve --data-dir X` runs in a scratch working
 * directory, and the commands run there afterwards with no URL and no --data-dir find X.
 */

let work: string;
let dataDir: string;
let server: ChildProcess | undefined;
let serverExit: Promise<number | null>;
let serviceUrl: string;

/** Without any database, data-dir or JWT setting of the calling environment. */
const env = (): NodeJS.ProcessEnv => {
  const base: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  for (const key of Object.keys(base)) if (/^ROWGUARD_/.test(key)) delete base[key];
  return base;
};
const cli = (args: string[], cwd = work) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((done) => {
    const child = spawn(process.execPath, [...CLI, ...args], { cwd, env: env() });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => done({ status, stdout, stderr }));
  });

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rowguard-cwd-'));
  const parent = await mkdtemp(join(tmpdir(), 'rowguard-data-'));
  // As root, PostgreSQL runs as its own OS user, which must pass through to the data dir.
  await chmod(parent, 0o711);
  dataDir = join(parent, 'data');
  const child = spawn(process.execPath, [...CLI, 'serve', '--data-dir', dataDir], { cwd: work, env: { ...env(), ROWGUARD_PORT: '0' } });
  server = child;
  serverExit = new Promise((done) => child.on('exit', (code) => done(code)));
  let output = '';
  await new Promise<void>((ready, fail) => {
    const look = (d: Buffer) => {
      output += d;
      const listening = /listening on (http:\/\/\S+)/.exec(output);
      if (listening) {
        serviceUrl = listening[1]!;
        ready();
      }
    };
    child.stdout.on('data', look);
    child.stderr.on('data', look);
    child.on('exit', (code) => fail(new Error(`serve exited (${code}): ${output}`)));
  });
}, 180_000);

afterAll(async () => {
  if (server && server.exitCode === null) {
    server.kill('SIGINT');
    await serverExit;
  }
  await rm(work, { recursive: true, force: true, maxRetries: 5 });
  await rm(resolve(dataDir, '..'), { recursive: true, force: true, maxRetries: 5 });
}, 60_000);

describe('commands on the running embedded database, no URL given', () => {
  it('audit audits it: Rowguard’s own tenant tables, exit 0', async () => {
    const text = await cli(['audit', '--expect-tables', '13']);
    expect(text.stderr).toBe('');
    expect(text.status).toBe(0);
    const json = await cli(['audit', '--format', 'json']);
    expect(json.status).toBe(0);
    const report = JSON.parse(json.stdout) as { appRole?: string; tenantTables?: unknown[]; summary: unknown };
    expect(JSON.stringify(report)).toContain('rowguard_app');
  }, 120_000);

  it('probe probes it as the app role: exit 2 while no tenant has rows, then exit 0, no failure', async () => {
    const empty = await cli(['probe']);
    expect(empty.stderr).toMatch(/^rowguard: nothing was probed: .*\[PROBE_INCOMPLETE\]$/m);
    expect(empty.status).toBe(2);

    const adminToken = (await readFile(join(dataDir, 'admin-token'), 'utf8')).trim();
    for (const name of ['Acme', 'Globex']) {
      const created = await fetch(`${serviceUrl}/admin/tenants`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name, owner: { user_id: `owner-${name}`, email: `owner@${name.toLowerCase()}.test` } }),
      });
      expect(created.status).toBe(201);
    }
    const probe = await cli(['probe']);
    expect(probe.stdout).toMatch(/\d+ passed, 0 failed/);
    expect(probe.stdout).not.toMatch(/^FAIL/m);
    expect(probe.status).toBe(0);
  }, 180_000);

  it('urls: passwords masked unless --show-secrets; the shown URLs connect', async () => {
    const credentials = JSON.parse(await readFile(join(dataDir, 'credentials.json'), 'utf8')) as Record<string, string>;
    const masked = await cli(['urls']);
    expect(masked.status).toBe(0);
    for (const secret of Object.values(credentials)) {
      expect(masked.stdout).not.toContain(secret);
      expect(masked.stdout).not.toContain(encodeURIComponent(secret));
    }
    expect(masked.stdout).toMatch(/^owner\s+postgres:\/\/rowguard_owner:\*+@127\.0\.0\.1:\d+\/rowguard/m);
    expect(masked.stdout).toMatch(/^app\s+postgres:\/\/rowguard_app:\*+@/m);
    expect(masked.stdout).toMatch(/^system\s+.*rowguard_system.*NOLOGIN.*set role rowguard_system/im);

    const shown = await cli(['urls', '--show-secrets']);
    expect(shown.status).toBe(0);
    const url = (name: string) => new RegExp(`^${name}\\s+(postgres://\\S+)`, 'm').exec(shown.stdout)?.[1];
    for (const [name, role] of [['owner', 'rowguard_owner'], ['app', 'rowguard_app'], ['superuser', 'postgres']] as const) {
      const client = new pg.Client({ connectionString: url(name) });
      await client.connect();
      try {
        expect((await client.query('select current_user as u')).rows[0].u).toBe(role);
      } finally {
        await client.end();
      }
    }
    // The system role: the owner URL, then SET ROLE.
    const owner = new pg.Client({ connectionString: url('owner') });
    await owner.connect();
    try {
      await owner.query('set role rowguard_system');
      expect((await owner.query('select current_user as u')).rows[0].u).toBe('rowguard_system');
    } finally {
      await owner.end();
    }
  }, 60_000);

  it('token with no --data-dir signs with the data dir serve used', async () => {
    const tenant = randomUUID();
    const token = await cli(['token', '--tenant', tenant, '--user', 'u']);
    expect(token.status).toBe(0);
    const secret = (await readFile(join(dataDir, 'jwt-secret'), 'utf8')).trim();
    const { payload } = await jwtVerify(token.stdout.trim(), new TextEncoder().encode(secret));
    expect(payload.sub).toBe('u');
    expect(JSON.stringify(payload)).toContain(tenant);
    // Nothing was generated in the working directory's default data dir.
    expect(existsSync(join(work, '.rowguard', 'jwt-secret'))).toBe(false);
  }, 60_000);

  it('no running cluster and no URL: audit and probe exit 2 with one line saying what to do', async () => {
    const elsewhere = await mkdtemp(join(tmpdir(), 'rowguard-none-'));
    try {
      for (const command of ['audit', 'probe']) {
        const result = await cli([command], elsewhere);
        expect(result.status).toBe(2);
        expect(result.stderr.trim().split('\n')).toHaveLength(1);
        expect(result.stderr).toMatch(/no embedded .*running.*npm start.*URL/i);
        // Looking does not start or create a cluster.
        expect(existsSync(join(elsewhere, '.rowguard', 'pgdata'))).toBe(false);
      }
      const urls = await cli(['urls'], elsewhere);
      expect(urls.status).toBe(1);
      expect(urls.stderr).toMatch(/^rowguard: no embedded Rowguard database is running in .*: start it with "npm start".*\[CONFIG_INVALID\]\n$/);
    } finally {
      await rm(elsewhere, { recursive: true, force: true, maxRetries: 5 });
    }
  }, 60_000);

  it('serve stops on SIGINT', async () => {
    server!.kill('SIGINT');
    expect(await serverExit).toBe(0);
  }, 60_000);
});
