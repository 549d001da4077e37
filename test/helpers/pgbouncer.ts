import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { TEST_ROLES } from './cluster.js';
import type { TestDatabase } from './database.js';
import { freePort } from '../../packages/testing/src/embedded/free-port.js';

export const PGBOUNCER = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'].find((path) => existsSync(path));

export interface PgBouncer {
  /** The app role's URL through PgBouncer. */
  appUrl: string;
  /** What PgBouncer wrote to stderr, for a failing test's message. */
  output: string[];
  stop(): Promise<void>;
}

/**
 * Debian's PgBouncer in transaction pooling in front of the test database, `poolSize` server
 * connections for the app role. Its files live in a private temporary folder; as root it
 * drops to the postgres user (PgBouncer refuses to run as root).
 */
export async function startPgBouncer(db: TestDatabase, { poolSize }: { poolSize: number }): Promise<PgBouncer> {
  if (!PGBOUNCER) throw new Error('pgbouncer is not installed: apt-get install pgbouncer (.ci/run does)');
  const cluster = inject('cluster');
  const server = new URL(db.appUrl);
  const dir = await mkdtemp(join(tmpdir(), 'rowguard-pgbouncer-'));
  const port = await freePort();
  await writeFile(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `${db.name} = host=${server.hostname} port=${server.port || 5432} dbname=${db.name}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = scram-sha-256',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      'pool_mode = transaction',
      `default_pool_size = ${poolSize}`,
      'max_client_conn = 500',
      'ignore_startup_parameters = extra_float_digits',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  await writeFile(join(dir, 'userlist.txt'), `"${TEST_ROLES.app}" "${cluster.password}"\n`, { mode: 0o600 });
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    for (const file of ['', 'pgbouncer.ini', 'userlist.txt']) await chown(join(dir, file), uid, gid);
  }
  const child: ChildProcess = spawn(PGBOUNCER, [...(asRoot ? ['-u', 'postgres'] : []), join(dir, 'pgbouncer.ini')], { stdio: ['ignore', 'ignore', 'pipe'] });
  const output: string[] = [];
  child.stderr!.on('data', (chunk) => output.push(String(chunk)));
  await waitForPort(port, child, output);
  const appUrl = new URL(db.appUrl);
  appUrl.hostname = '127.0.0.1';
  appUrl.port = String(port);
  return {
    appUrl: appUrl.toString(),
    output,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((resolve) => child.once('exit', resolve));
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function waitForPort(port: number, child: ChildProcess, output: string[]): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`pgbouncer exited: ${output.join('')}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => (socket.end(), resolve(true)));
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`pgbouncer did not listen on ${port}: ${output.join('')}`);
}
