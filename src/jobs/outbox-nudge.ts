import type { Kernel } from '@rowguard/kernel';

/**
 * Wakes the outbox relay (every worker LISTENing on rowguard_outbox, in this process or
 * another) after writes have committed, outside their transactions: a NOTIFY inside a write
 * would serialize the commits of all writers (migration 0015). The first call after a quiet
 * spell sends at once; calls within `minIntervalMs` of a NOTIFY, or while one is in flight,
 * are folded into one more at the end of that interval, so a busy service sends a few NOTIFYs
 * a second, not one per write (each is a system transaction: it cost a POST about a tenth of
 * its throughput). Failures are left to the relay's own polling.
 */
export function createOutboxNudge(kernel: Kernel, { minIntervalMs = 50 }: { minIntervalMs?: number } = {}): () => void {
  let pending = false;
  let sending = false;
  let timer: NodeJS.Timeout | null = null;
  let quietAt = 0;
  const send = (): void => {
    pending = false;
    sending = true;
    quietAt = Date.now() + minIntervalMs;
    kernel
      .asSystem((tx) => tx.query("select pg_notify('rowguard_outbox', '')"))
      .catch(() => undefined)
      .finally(() => {
        sending = false;
        flush();
      });
  };
  const flush = (): void => {
    if (!pending || sending || timer) return;
    const wait = quietAt - Date.now();
    if (wait <= 0) return send();
    timer = setTimeout(() => {
      timer = null;
      flush();
    }, wait);
    timer.unref();
  };
  return () => {
    pending = true;
    flush();
  };
}
