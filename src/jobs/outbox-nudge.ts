import type { Kernel } from '@rowguard/kernel';

/**
 * Wakes the outbox relay (every worker LISTENing on rowguard_outbox, in this process or
 * another) after writes have committed, outside their transactions: a NOTIFY inside a write
 * would serialize the commits of all writers (migration 0015). At most one NOTIFY is in
 * flight; calls meanwhile are folded into one more after it. Failures are left to the
 * relay's own polling.
 */
export function createOutboxNudge(kernel: Kernel): () => void {
  let sending = false;
  let again = false;
  const send = (): void => {
    sending = true;
    again = false;
    kernel
      .asSystem((tx) => tx.query("select pg_notify('rowguard_outbox', '')"))
      .catch(() => undefined)
      .finally(() => {
        sending = false;
        if (again) send();
      });
  };
  return () => {
    if (sending) again = true;
    else send();
  };
}
