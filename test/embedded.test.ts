import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../packages/testing/src/embedded/embedded-postgres.js';
import { CLI } from './helpers/cli.js';

// What `npm start` does on a fresh machine: rowguard serve with no database URL.
let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'rowguard-embedded-'));
});
// Retried: a file written while the folder is removed (ENOTEMPTY) must not fail the suite.
afterAll(() => rm(dataDir, { recursive: true, force: true, maxRetries: 5 }));

interface Started {
  line: string;
  url: string;
  pgPort: number;
  stop(): Promise<{ code: number | null; stdout: string }>;
}

function serve(): Promise<Started> {
  const env: NodeJS.ProcessEnv = { ...process.env, ROWGUARD_PORT: '0', ROWGUARD_DATA_DIR: dataDir, ROWGUARD_LOG_LEVEL: 'warn' };
  delete env.ROWGUARD_DATABASE_URL;
  delete env.ROWGUARD_DB_APP_URL;
  const child = spawn(process.execPath, [...CLI, 'serve'], { env });
  let stdout = '';
  let stderr = '';
  const exited = new Promise<{ code: number | null; stdout: string }>((resolve) => child.on('exit', (code) => resolve({ code, stdout })));
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => {
      stdout += d;
      const line = stdout.split('\n').find((l) => l.includes('listening on'));
      if (!line) return;
      resolve({
        line,
        url: /listening on (\S+)/.exec(line)![1]!,
        pgPort: Number(/127\.0\.0\.1:(\d+) \(data/.exec(line)![1]),
        stop: () => {
          child.kill('SIGINT');
          return exited;
        },
      });
    });
    void exited.then(({ code }) => reject(new Error(`serve exited (${code}) before listening: ${stderr.trim()}`)));
  });
}

async function portAnswers(port: number): Promise<boolean> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'nobody', database: 'nobody', connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    return true;
  } catch (error) {
    return (error as { code?: string }).code !== 'ECONNREFUSED';
  } finally {
    await client.end().catch(() => undefined);
  }
}

describe('rowguard serve on embedded PostgreSQL', () => {
  it('starts a real PostgreSQL, migrates, serves /readyz, and stops it on Ctrl-C', async () => {
    const first = await serve();
    expect(first.line).toMatch(/^rowguard listening on http:\/\/127\.0\.0\.1:\d+ · database: embedded PostgreSQL \d+ at 127\.0\.0\.1:\d+ .* · RLS enforced through app role "rowguard_app"$/);
    expect(first.pgPort).not.toBe(5432);
    expect((await fetch(`${first.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${first.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
    const missing = await fetch(`${first.url}/nope`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toBe('application/problem+json');

    // Generated credentials: readable by the owner only, and the app role is restricted.
    expect((await stat(join(dataDir, 'credentials.json'))).mode & 0o777).toBe(0o600);
    const credentials = JSON.parse(await readFile(join(dataDir, 'credentials.json'), 'utf8'));
    const app = new pg.Client({ host: '127.0.0.1', port: first.pgPort, user: 'rowguard_app', password: credentials.app, database: 'rowguard' });
    await app.connect();
    expect((await app.query('select rolsuper, rolbypassrls from pg_roles where rolname = current_user')).rows[0]).toEqual({ rolsuper: false, rolbypassrls: false });
    expect((await app.query('select count(*)::int as n from projects')).rows[0].n).toBe(0);
    await app.end();

    // Another rowguard process on the same data folder uses the running cluster, and leaves it running.
    const attached = await startEmbeddedPostgres({ dataDir });
    expect(attached.port).toBe(first.pgPort);
    await attached.stop();
    expect((await fetch(`${first.url}/readyz`)).status).toBe(200);

    const { code, stdout } = await first.stop();
    expect(code).toBe(0);
    expect(stdout).toContain('rowguard stopping');
    expect(await portAnswers(first.pgPort)).toBe(false);
  });

  it('reuses the data and credentials on a second start', async () => {
    const before = await readFile(join(dataDir, 'credentials.json'), 'utf8');
    const second = await serve();
    expect((await fetch(`${second.url}/readyz`)).status).toBe(200);
    expect(await readFile(join(dataDir, 'credentials.json'), 'utf8')).toBe(before);
    const { code } = await second.stop();
    expect(code).toBe(0);
  });

  it('leaves the exit code of a process that loaded it alone', async () => {
    // embedded-postgres's exit hooks would call process.exit(0) on 'beforeExit': a failing test
    // run or command ending by itself would report success.
    const script = `
      import { startEmbeddedPostgres } from './packages/testing/src/embedded/embedded-postgres.ts';
      await startEmbeddedPostgres({ dataDir: '/dev/null/not-a-folder' }).catch(() => {});
      process.exitCode = 7;`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]);
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(7);
  });
});

describe('local secrets during the first start', () => {
  interface Seen {
    path: string;
    mode: number;
    holdsSecret: boolean;
  }

  /** Every file under `dir` (recursively) with its mode and whether it contains one of `secrets`. */
  async function scan(dir: string, secrets: string[], seen: Seen[] = []): Promise<Seen[]> {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await scan(path, secrets, seen);
      else if (entry.isFile()) await inspect(path, secrets, seen);
    }
    return seen;
  }

  /** Adds the file at `path` to `seen`, unless it is gone already (or is not a file). */
  async function inspect(path: string, secrets: string[], seen: Seen[]): Promise<void> {
    try {
      const status = await lstat(path);
      if (!status.isFile()) return;
      const text = (await readFile(path)).toString('latin1');
      seen.push({ path, mode: status.mode & 0o777, holdsSecret: secrets.some((secret) => text.includes(secret)) });
    } catch {
      // removed between the event and the look
    }
  }

  /**
   * Records each file as it appears in `dir`, and in folders created there (not pgdata/,
   * which initdb fills and the final scan covers): a file written and removed during initdb
   * lives for as long as initdb runs. One watcher per folder: Node 20's recursive watch on
   * Linux polls every file and would slow start-up down tenfold.
   */
  function record(dir: string, secrets: string[], seen: Seen[], watchers: Map<string, FSWatcher>): void {
    const watcher = watch(dir, (_event, name) => {
      if (!name) return;
      const path = join(dir, name.toString());
      void lstat(path).then(
        async (status) => {
          if (!status.isDirectory()) return inspect(path, secrets, seen);
          if (name.toString() === 'pgdata' || watchers.has(path)) return;
          record(path, secrets, seen, watchers);
          // Written before the watcher was there: look once.
          for (const entry of await readdir(path).catch(() => [])) await inspect(join(path, entry), secrets, seen);
        },
        () => undefined,
      );
    });
    watchers.set(dir, watcher);
  }

  it('never writes a secret to a file others can read, not even for the length of initdb', async () => {
    const root = await mkdtemp(join(tmpdir(), 'rowguard-secrets-'));
    // As root, PostgreSQL runs as its own OS user, which must be able to pass through.
    await chmod(root, 0o711);
    try {
      // The child's temporary folder: shared and world-writable, like /tmp.
      const temp = join(root, 'tmp');
      await mkdir(temp);
      await chmod(temp, 0o1777);
      const dataDir = join(root, 'data');
      await mkdir(dataDir, { mode: 0o700 });
      // Known secrets, so the files written during start-up can be searched for them.
      const credentials = { superuser: randomBytes(24).toString('base64url'), owner: randomBytes(24).toString('base64url'), app: randomBytes(24).toString('base64url') };
      await writeFile(join(dataDir, 'credentials.json'), JSON.stringify(credentials), { mode: 0o600 });
      const secrets = Object.values(credentials);

      const seen: Seen[] = [];
      const watchers = new Map<string, FSWatcher>();
      record(temp, secrets, seen, watchers);
      record(dataDir, secrets, seen, watchers);
      const script = `
        import { startEmbeddedPostgres } from './packages/testing/src/embedded/embedded-postgres.ts';
        const db = await startEmbeddedPostgres({ dataDir: process.env.SECRETS_DATA_DIR });
        await db.stop();`;
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, TMPDIR: temp, SECRETS_DATA_DIR: dataDir } });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const code = await new Promise((resolve) => child.once('exit', resolve));
      await new Promise((resolve) => setTimeout(resolve, 100)); // the last watch events
      for (const watcher of watchers.values()) watcher.close();
      expect(code, stderr).toBe(0);
      expect(await readdir(join(dataDir, 'pgdata'))).toContain('PG_VERSION');

      const readableByOthers = (s: Seen) => (s.mode & 0o077) !== 0;
      const leaks = [...seen, ...(await scan(root, secrets))].filter((s) => s.holdsSecret && readableByOthers(s));
      expect(leaks).toEqual([]);
      // Nothing holding a secret outside the data folder, then or now, and in it only credentials.json remains.
      expect(seen.filter((s) => s.holdsSecret && !s.path.startsWith(dataDir))).toEqual([]);
      expect((await scan(root, secrets)).filter((s) => s.holdsSecret).map((s) => s.path)).toEqual([join(dataDir, 'credentials.json')]);
      expect((await stat(join(dataDir, 'credentials.json'))).mode & 0o777).toBe(0o600);
    } finally {
      await rm(root, { recursive: true, force: true, maxRetries: 5 });
    }
  });
});
