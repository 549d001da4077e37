import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../packages/testing/src/embedded/embedded-postgres.js';
import { TEST_ROLES } from '../helpers/cluster.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { MixedLoad, type LoadResult } from '../helpers/mixed-load.js';
import { recordFigures, SOAK } from '../helpers/reliability.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { CLI } from '../helpers/cli.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * What must hold once a fault is over: during it, only 503 problem+json (or a dropped
 * connection), no foreign row; afterwards clean traffic succeeds, and the database holds every
 * acknowledged write. Records the figures for RELIABILITY.md.
 */
async function expectRecovered(name: string, load: MixedLoad, faulted: LoadResult, owner: pg.ClientBase, figures: Record<string, unknown>) {
  const otherServerErrors = Object.entries(faulted.byStatus).reduce((n, [status, count]) => n + (Number(status) >= 500 && status !== '503' ? count : 0), 0);
  expect(faulted.leaks).toEqual([]);
  expect(faulted.unexpected).toEqual([]);
  expect(faulted.badFaultBodies).toEqual([]);
  expect(otherServerErrors).toBe(0);
  const clean = await load.run(300, 8);
  expect(clean.unexpected).toEqual([]);
  expect(clean.faults).toBe(0);
  const verified = await load.verifyWrites(owner);
  expect(verified.lost).toEqual([]);
  expect(verified.phantom).toEqual([]);
  await recordFigures(name, {
    requests: faulted.requests + clean.requests,
    ...figures,
    requestsGiven503: faulted.byStatus[503] ?? 0,
    requestsDropped: faulted.faults - (faulted.byStatus[503] ?? 0),
    serverErrors: otherServerErrors,
    leaks: faulted.leaks.length + clean.leaks.length,
    acknowledgedWrites: faulted.acknowledgedWrites + clean.acknowledgedWrites,
    rowsVerified: verified.checkedRows,
    lostWrites: verified.lost.length,
  });
}

describe('app connections killed with pg_terminate_backend during load', () => {
  let db: TestDatabase;
  let s: TestService;
  beforeAll(async () => {
    db = await createTestDatabase();
    s = await startTestService(db, { ROWGUARD_DB_POOL_SIZE: '3', ROWGUARD_WORKER: 'off' });
  });
  afterAll(async () => {
    await s?.service.close();
    await db?.close();
  });

  const terminateApp = (owner: pg.ClientBase, where = '') =>
    owner.query<{ n: number }>(`select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where application_name = 'rowguard app' and datname = current_database() ${where}`);

  it('a request whose connection is killed gets 503 problem+json; later requests succeed', async () => {
    const [tenant] = await s.createTenants(1);
    const api = (method: string, path: string, body?: unknown) =>
      fetch(`${s.service.url}${path}`, { method, headers: { authorization: `Bearer ${tenant!.token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const { id } = (await (await api('POST', '/v1/projects', { name: 't0-locked' })).json()) as { id: string };
    const owner = await db.superuserClient();
    // Hold the row so the request is certainly in flight on its connection when it is killed.
    const locker = await db.superuserClient();
    await locker.query('begin');
    await locker.query('select 1 from projects where id = $1 for update', [id]);
    const pending = api('PATCH', `/v1/projects/${id}`, { name: 't0-renamed' });
    await until('the request to wait for the lock', async () => ((await terminateApp(owner, `and wait_event_type = 'Lock'`)).rows[0]!.n > 0 ? true : undefined));
    const killed = await pending;
    await locker.query('rollback');
    expect(killed.status).toBe(503);
    expect(killed.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await killed.json()).toMatchObject({ status: 503, code: 'DATABASE_UNAVAILABLE' });
    const after = await api('GET', `/v1/projects/${id}`);
    expect(after.status).toBe(200);
    expect(((await after.json()) as { name: string }).name).toBe('t0-locked');
  });

  it('under mixed load with every app connection killed every 20 ms: only 503s, no leak, no lost write', async () => {
    const tenants = await s.createTenants(20);
    const load = new MixedLoad(s.service.url, tenants, { seed: 11 });
    await load.run(300, 8); // some rows to work on
    const owner = await db.superuserClient();
    let kills = 0;
    let killing = true;
    const killer = (async () => {
      while (killing) {
        kills += (await terminateApp(owner)).rows[0]!.n;
        await sleep(20);
      }
    })();
    const faulted = await load.run(SOAK ? 20_000 : 3_000, 16, { allowFaults: true });
    killing = false;
    await killer;
    expect(kills).toBeGreaterThan(0);
    await expectRecovered('fault, pg_terminate_backend', load, faulted, owner, { tenants: tenants.length, backendsTerminated: kills });
  }, 300_000);
});

describe('PostgreSQL stopped and restarted during load', () => {
  let dir: string;
  let postgres: EmbeddedDatabase;
  let s: TestService;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rowguard-restart-'));
    postgres = await startEmbeddedPostgres({ dataDir: dir });
    s = await startTestService(postgres, { ROWGUARD_SYSTEM_ROLE: 'rowguard_system', ROWGUARD_DB_POOL_SIZE: '3', ROWGUARD_WORKER: 'off' });
  }, 120_000);
  afterAll(async () => {
    await s?.service.close();
    await postgres?.stop();
    await rm(dir, { recursive: true, force: true, maxRetries: 5 });
  });

  it('/readyz turns 503 and back to 200 without restarting the service; no acknowledged write is lost', async () => {
    const ready = () => fetch(`${s.service.url}/readyz`).then((r) => r.status);
    expect(await ready()).toBe(200);
    const tenants = await s.createTenants(10);
    const load = new MixedLoad(s.service.url, tenants, { seed: 23 });
    await load.run(200, 8);
    const during = load.run(1_000_000, 8, { allowFaults: true });
    await sleep(500);
    const port = postgres.port;
    await postgres.stop();
    const down = await fetch(`${s.service.url}/readyz`);
    expect(down.status).toBe(503);
    expect(down.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    await sleep(SOAK ? 5000 : 500);
    postgres = await startEmbeddedPostgres({ dataDir: dir, port });
    await until('/readyz to be 200 again', async () => ((await ready()) === 200 ? true : undefined));
    await sleep(500);
    load.stop();
    const faulted = await during;
    expect(faulted.faults).toBeGreaterThan(0);
    const owner = new pg.Client({ connectionString: postgres.superuserUrl.replace(/\/postgres$/, '/rowguard') });
    await owner.connect();
    await expectRecovered('fault, PostgreSQL restart', load, faulted, owner, { tenants: tenants.length }).finally(() => owner.end());
  }, 300_000);
});

/** The URL a `rowguard serve` process prints once it listens; its output if it exits or stalls first. */
function listeningUrl(child: ChildProcess, output: { stdout: string; stderr: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line after 120 s:\n${output.stdout}\n${output.stderr.slice(-3000)}`)), 120_000);
    const check = () => {
      const url = /listening on (http:\/\/\S+)/.exec(output.stdout)?.[1];
      if (url) (clearTimeout(timer), resolve(url));
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => (clearTimeout(timer), reject(new Error(`serve exited with ${code}:\n${output.stderr.slice(-3000)}`))));
  });
}

describe('five service processes started together on an empty database', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ empty: true });
  });
  afterAll(() => db?.close());

  it('apply each migration exactly once, and all five serve', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'rowguard-five-'));
    const secrets = { ROWGUARD_JWT_SECRET: randomBytes(32).toString('base64url'), ROWGUARD_ADMIN_TOKEN: randomBytes(32).toString('base64url') };
    const env = {
      ...process.env,
      ...secrets,
      ROWGUARD_DATABASE_URL: db.ownerUrl,
      ROWGUARD_DB_APP_URL: db.appUrl,
      ROWGUARD_SYSTEM_ROLE: TEST_ROLES.system,
      ROWGUARD_PORT: '0',
      ROWGUARD_DATA_DIR: dataDir,
      ROWGUARD_LOG_LEVEL: 'info',
    };
    const processes = Array.from({ length: 5 }, () => {
      const child = spawn(process.execPath, [...CLI, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      const output = { stdout: '', stderr: '' };
      child.stdout.on('data', (d) => (output.stdout += d));
      child.stderr.on('data', (d) => (output.stderr += d));
      return { child, output };
    });
    try {
      const urls = await Promise.all(processes.map(({ child, output }) => listeningUrl(child, output)));
      const applied = processes.flatMap(({ output }) => output.stderr.split('\n').filter((line) => line.includes('"migration applied"')).map((line) => JSON.parse(line).migration as string));
      const owner = await db.ownerClient();
      const { rows } = await owner.query<{ name: string }>('select name from rowguard.migrations order by id');
      expect(rows.length).toBeGreaterThan(0);
      expect(applied.sort()).toEqual(rows.map((r) => r.name).sort());
      for (const url of urls) {
        expect((await fetch(`${url}/readyz`)).status).toBe(200);
        const created = await fetch(`${url}/admin/tenants`, {
          method: 'POST',
          headers: { authorization: `Bearer ${secrets.ROWGUARD_ADMIN_TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ name: `via ${url}`, owner: { user_id: 'o', email: 'o@example.test' } }),
        });
        expect(created.status).toBe(201);
      }
      await recordFigures('fault, five processes migrating together', { processes: 5, migrations: rows.length, migrationsApplied: applied.length });
    } finally {
      for (const { child } of processes) child.kill('SIGTERM');
      await Promise.all(processes.map(({ child }) => (child.exitCode === null ? new Promise((resolve) => child.once('exit', resolve)) : null)));
      await rm(dataDir, { recursive: true, force: true, maxRetries: 5 });
    }
  }, 240_000);
});
