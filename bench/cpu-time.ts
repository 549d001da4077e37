import { readdir, readFile } from 'node:fs/promises';

/** Clock ticks per second of /proc/<pid>/stat on Linux (USER_HZ, 100 on every common build). */
const TICKS_PER_SECOND = 100;

/** CPU milliseconds (user + system) so far of one process, or of every process named `postgres`. */
export async function cpuMilliseconds(which: { pid: number } | 'postgres'): Promise<number> {
  if (which !== 'postgres') return (await stat(which.pid))?.ms ?? Number.NaN;
  let total = 0;
  for (const entry of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(entry)) continue;
    const s = await stat(Number(entry));
    if (s?.command === 'postgres') total += s.ms;
  }
  return total;
}

async function stat(pid: number): Promise<{ command: string; ms: number } | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (!text) return undefined;
  // "pid (command) state ppid …": the command may hold spaces, so split after the last ')'.
  const close = text.lastIndexOf(')');
  const fields = text.slice(close + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
  return { command: text.slice(text.indexOf('(') + 1, close), ms: (ticks * 1000) / TICKS_PER_SECOND };
}
