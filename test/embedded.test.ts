import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../src/embedded/embedded-postgres.js';

// What `npm start` does on a fresh machine: rowguard serve with no database URL.
let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'rowguard-embedded-'));
});
afterAll(() => rm(dataDir, { recursive: true, force: true }));

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
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve'], { env });
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
      import { startEmbeddedPostgres } from './src/embedded/embedded-postgres.ts';
      await startEmbeddedPostgres({ dataDir: '/dev/null/not-a-folder' }).catch(() => {});
      process.exitCode = 7;`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]);
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(7);
  });
});
