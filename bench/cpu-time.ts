import { readdir, readFile } from 'node:fs/promises';
import pg from 'pg';

/** Clock ticks per second of /proc/<pid>/stat on Linux (USER_HZ, 100 on every common build). */
const TICKS_PER_SECOND = 100;

/**
 * CPU milliseconds (user + system) so far of one process; of one PostgreSQL server (its
 * postmaster and every process it started: backends, checkpointer, WAL writer…); or, when
 * that server's postmaster is not known, of every process named `postgres` on the machine.
 */
export async function cpuMilliseconds(which: { pid: number } | { postmaster: number } | 'postgres'): Promise<number> {
  if (typeof which === 'object' && 'pid' in which) return (await stat(which.pid))?.ms ?? Number.NaN;
  let total = 0;
  for (const entry of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(entry)) continue;
    const s = await stat(Number(entry));
    if (!s || s.command !== 'postgres') continue;
    if (which === 'postgres' || Number(entry) === which.postmaster || s.ppid === which.postmaster) total += s.ms;
  }
  return total;
}

/**
 * The postmaster of the server at `url` when it runs on this machine (the parent of a backend
 * of ours), so that other PostgreSQL servers on the machine (a test run) are not counted;
 * otherwise 'postgres', every process of that name.
 */
export async function postgresProcesses(url: string): Promise<{ postmaster: number } | 'postgres'> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
    const backend = await stat(rows[0]!.pid);
    return backend?.command === 'postgres' ? { postmaster: backend.ppid } : 'postgres';
  } finally {
    await client.end();
  }
}

async function stat(pid: number): Promise<{ command: string; ppid: number; ms: number } | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (!text) return undefined;
  // "pid (command) state ppid …": the command may hold spaces, so split after the last ')'.
  const close = text.lastIndexOf(')');
  const fields = text.slice(close + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
  return { command: text.slice(text.indexOf('(') + 1, close), ppid: Number(fields[1]), ms: (ticks * 1000) / TICKS_PER_SECOND };
}
