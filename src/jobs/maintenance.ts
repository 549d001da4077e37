import type pg from 'pg';
import { isCitus, repairShardPolicies, type Kernel } from '@rowguard/kernel';

/** Deletes idempotency keys past their time to live, in system mode. Returns how many. */
export async function purgeIdempotencyKeys(kernel: Kernel): Promise<number> {
  const { rowCount } = await kernel.asSystem((tx) => tx.query('delete from idempotency_keys where expires_at <= now()'));
  return rowCount ?? 0;
}

/** Deletes finished deliveries (and their attempts) older than `days`. Returns how many. */
export async function pruneDeliveries(kernel: Kernel, days: number): Promise<number> {
  const { rowCount } = await kernel.asSystem((tx) =>
    tx.query(`delete from webhook_deliveries where status <> 'pending' and created_at < now() - make_interval(days => $1)`, [days]),
  );
  return rowCount ?? 0;
}

/**
 * On Citus, puts the restrictive policies back on shards that a move, split or isolation
 * copied as permissive ones (repairShardPolicies). Scheduled every minute, so a rebalance run
 * by hand leaves them wrong for a minute at most. Returns how many tables needed it (0 off Citus).
 */
export async function repairMovedShards(ownerPool: pg.Pool): Promise<number> {
  const client = await ownerPool.connect();
  try {
    return (await isCitus(client)) ? await repairShardPolicies(client) : 0;
  } finally {
    client.release();
  }
}
