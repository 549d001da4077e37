import type pg from 'pg';
import type { PgBoss } from './queue.js';
import { quoteIdent } from '@rowguard/kernel';

export const DELIVERY_QUEUE = 'deliver-webhook';

export interface RelayResult {
  /** Delivery jobs queued. */
  queued: number;
  /** Events left for the next run because one of their endpoints was being changed or deleted. */
  waiting: number;
  /** A batch was full: more events or deliveries are probably waiting. */
  more: boolean;
}

/**
 * Claims unrelayed events (SKIP LOCKED, so relays on several workers share the work) and
 * creates one delivery per subscribed enabled endpoint.
 *
 * Every delivery references its endpoint, and the endpoint may be deleted (through the API) by
 * its tenant at any moment: if that delete commits between this statement's snapshot and its
 * foreign-key check, the check fails and would roll back the whole batch, events of every
 * tenant. So the endpoints (and their tenants) are locked FOR KEY SHARE SKIP LOCKED here: a
 * delete that starts later waits for this short transaction; an endpoint already being
 * deleted or changed is skipped, and its event stays unrelayed for the next run rather than
 * the relay waiting on another tenant's transaction. (A delete that commits in between makes
 * the lock find no row: skipped the same way.) The next run sees the endpoint gone, or
 * changed, and delivers accordingly.
 */
const RELAY_EVENTS = `
  with claimed as (
    select tenant_id, id, type, payload, webhook_id from outbox_events
    where relayed_at is null order by created_at limit $1 for update skip locked),
  subscribed as (
    select c.tenant_id, c.id as event_id, c.type, c.payload, w.id as webhook_id
    from claimed c join webhooks w on w.tenant_id = c.tenant_id and w.enabled
    where (c.webhook_id is not null and w.id = c.webhook_id)
       or (c.webhook_id is null and (c.type = any(w.event_types) or '*' = any(w.event_types)))),
  held as (
    select w.tenant_id, w.id from webhooks w join tenants t on t.id = w.tenant_id
    where (w.tenant_id, w.id) in (select tenant_id, webhook_id from subscribed)
    for key share of w, t skip locked),
  waiting as (
    select distinct s.tenant_id, s.event_id from subscribed s
    where not exists (select from held where held.tenant_id = s.tenant_id and held.id = s.webhook_id)),
  relayed as (
    update outbox_events o set relayed_at = now() from claimed c
    where o.tenant_id = c.tenant_id and o.id = c.id
      and not exists (select from waiting x where x.tenant_id = c.tenant_id and x.event_id = c.id)),
  created as (
    insert into webhook_deliveries (tenant_id, webhook_id, event_id, event_type, payload)
    select s.tenant_id, s.webhook_id, s.event_id, s.type, s.payload
    from subscribed s join held on held.tenant_id = s.tenant_id and held.id = s.webhook_id
    on conflict (tenant_id, webhook_id, event_id) do nothing)
  select (select count(*) from claimed)::int as claimed, (select count(*) from waiting)::int as waiting`;

/** Deliveries not yet queued (new ones, and retries asked for by hand), marked as queued. */
const QUEUE_DELIVERIES = `
  update webhook_deliveries d set enqueued = true
  from (select tenant_id, id from webhook_deliveries where not enqueued order by created_at limit $1 for update skip locked) p
  where d.tenant_id = p.tenant_id and d.id = p.id
  returning d.tenant_id, d.id`;

/**
 * Moves outbox events to delivery jobs, in system mode, in one transaction on the owner's
 * connection: create the deliveries (RELAY_EVENTS), then queue a job for every delivery not
 * yet queued (QUEUE_DELIVERIES). The jobs are inserted through the same transaction, so an
 * event is never marked relayed without its jobs.
 */
export async function relayOutbox(ownerPool: pg.Pool, boss: PgBoss, { systemRole, batch = 200 }: { systemRole: string; batch?: number }): Promise<RelayResult> {
  const client = await ownerPool.connect();
  try {
    await client.query('begin');
    await client.query(`set local role ${quoteIdent(systemRole)}`);
    const relayed = await client.query<{ claimed: number; waiting: number }>(RELAY_EVENTS, [batch]);
    const { claimed, waiting } = relayed.rows[0]!;
    const { rows } = await client.query<{ tenant_id: string; id: string }>(QUEUE_DELIVERIES, [batch]);
    // The queue's tables belong to the owner, not the system role.
    await client.query('reset role');
    if (rows.length > 0) {
      const db = { executeSql: (text: string, values: unknown[]) => client.query(text, values) };
      // One statement for the batch. singletonKey = delivery id: with the queue's "stately"
      // policy, at most one queued job per delivery (a second is dropped, not an error).
      await boss.insert(rows.map((row) => ({ name: DELIVERY_QUEUE, data: { tenantId: row.tenant_id, deliveryId: row.id }, singletonKey: row.id })), { db });
    }
    await client.query('commit');
    // Only a successful write (after its response) and retries by hand wake the relay: a full
    // batch must ask for the next one.
    return { queued: rows.length, waiting, more: rows.length === batch || (claimed === batch && waiting < claimed) };
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
