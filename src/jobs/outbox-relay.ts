import type pg from 'pg';
import type { PgBoss } from './queue.js';
import { quoteIdent } from '../db/quote.js';

export const DELIVERY_QUEUE = 'deliver-webhook';

/**
 * Moves outbox events to delivery jobs, in system mode, in one transaction on the owner's
 * connection: claim unrelayed events (SKIP LOCKED, so relays on several workers share the
 * work), create one delivery per subscribed enabled endpoint, then queue a job for every
 * delivery not yet queued (new ones, and retries asked for by hand). The jobs are inserted
 * through the same transaction, so an event is never marked relayed without its jobs.
 * Returns how many jobs were queued.
 */
export async function relayOutbox(ownerPool: pg.Pool, boss: PgBoss, { systemRole, batch = 200 }: { systemRole: string; batch?: number }): Promise<number> {
  const client = await ownerPool.connect();
  try {
    await client.query('begin');
    await client.query(`set local role ${quoteIdent(systemRole)}`);
    await client.query(
      `with claimed as (
         select tenant_id, id, type, payload, webhook_id from outbox_events
         where relayed_at is null order by created_at limit $1 for update skip locked),
       relayed as (
         update outbox_events o set relayed_at = now() from claimed c where o.tenant_id = c.tenant_id and o.id = c.id)
       insert into webhook_deliveries (tenant_id, webhook_id, event_id, event_type, payload)
       select c.tenant_id, w.id, c.id, c.type, c.payload
       from claimed c join webhooks w on w.tenant_id = c.tenant_id and w.enabled
       where (c.webhook_id is not null and w.id = c.webhook_id)
          or (c.webhook_id is null and (c.type = any(w.event_types) or '*' = any(w.event_types)))
       on conflict (tenant_id, webhook_id, event_id) do nothing`,
      [batch],
    );
    const { rows } = await client.query<{ tenant_id: string; id: string }>(
      `update webhook_deliveries d set enqueued = true
       from (select tenant_id, id from webhook_deliveries where not enqueued order by created_at limit $1 for update skip locked) p
       where d.tenant_id = p.tenant_id and d.id = p.id
       returning d.tenant_id, d.id`,
      [batch],
    );
    // The queue's tables belong to the owner, not the system role.
    await client.query('reset role');
    const db = { executeSql: (text: string, values: unknown[]) => client.query(text, values) };
    for (const row of rows) {
      await boss.send(DELIVERY_QUEUE, { tenantId: row.tenant_id, deliveryId: row.id }, { singletonKey: row.id, db });
    }
    await client.query('commit');
    return rows.length;
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
