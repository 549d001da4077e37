import type { Kernel, Transaction } from '@rowguard/kernel';
import type { PgBoss } from './queue.js';

export const DELIVERY_QUEUE = 'deliver-webhook';

export interface RelayResult {
  /** Delivery jobs queued. */
  queued: number;
  /** Events left for the next run because one of their endpoints was being changed or deleted. */
  waiting: number;
  /** A batch was full: more events or deliveries are probably waiting. */
  more: boolean;
  /** A record type was created, changed or deleted: its view needs making (syncRecordViews). */
  recordTypesChanged: boolean;
}

/**
 * The tenants with events to relay or deliveries to queue, the longest waiting first. A read
 * of every tenant without locks: on Citus it goes to every shard, which a read may do.
 */
const TENANTS_WITH_WORK = `
  select tenant_id from (
    select tenant_id, min(created_at) as since from outbox_events where relayed_at is null group by tenant_id
    union all
    select tenant_id, min(created_at) from webhook_deliveries where not enqueued group by tenant_id) work
  group by tenant_id order by min(since) limit $1`;

/** Whether event `e` goes to endpoint `w`: the one endpoint it names (a test ping), or every one subscribed to its type. */
const SUBSCRIBES = `((e.webhook_id is not null and w.id = e.webhook_id) or (e.webhook_id is null and (e.type = any(w.event_types) or '*' = any(w.event_types))))`;

/*
 * One tenant's relay, statement by statement in one system-mode transaction. Every statement
 * names the tenant and reads only its colocated tables, so on Citus each runs on the one node
 * that holds the tenant (a router query: FOR UPDATE is allowed there and nowhere else) and the
 * transaction commits on that node alone.
 */

/** The tenant's unrelayed events, oldest first; SKIP LOCKED, so relays on several workers share the work. */
const CLAIM_EVENTS = `
  select id, type from outbox_events where tenant_id = $1 and relayed_at is null
  order by created_at limit $2 for update skip locked`;

/** Which enabled endpoints each claimed event goes to. */
const SUBSCRIPTIONS = `
  select e.id as event_id, w.id as webhook_id
  from outbox_events e join webhooks w on w.tenant_id = e.tenant_id
  where e.tenant_id = $1 and w.tenant_id = $1 and e.id = any($2::uuid[]) and w.enabled and ${SUBSCRIBES}`;

/**
 * Every delivery references its endpoint, and the endpoint may be deleted (through the API) by
 * its tenant at any moment: if that delete committed before the deliveries' foreign-key check,
 * the insert would fail. So the endpoints (and the tenant) are locked FOR KEY SHARE SKIP LOCKED:
 * a delete that starts later waits for this short transaction; an endpoint already being
 * deleted or changed is skipped, and the events for it stay unrelayed for the next run rather
 * than the relay waiting on the tenant's transaction. (A delete that commits in between makes
 * the lock find no row: skipped the same way.) The next run sees the endpoint gone, or
 * changed, and delivers accordingly.
 */
const HOLD_ENDPOINTS = `
  select w.id from webhooks w join tenants t on t.id = w.tenant_id
  where w.tenant_id = $1 and t.id = $1 and w.id = any($2::uuid[])
  for key share of w, t skip locked`;

/**
 * One delivery per event and held endpoint it goes to; a colocated INSERT … SELECT. The id is
 * derived from the event and the endpoint rather than left to the column's gen_random_uuid():
 * Citus runs an INSERT … SELECT on the node only when it calls no volatile function, and
 * otherwise pulls the rows to the coordinator and copies them back.
 */
const CREATE_DELIVERIES = `
  insert into webhook_deliveries (id, tenant_id, webhook_id, event_id, event_type, payload)
  select md5(e.id::text || w.id::text)::uuid, e.tenant_id, w.id, e.id, e.type, e.payload
  from outbox_events e join webhooks w on w.tenant_id = e.tenant_id
  where e.tenant_id = $1 and w.tenant_id = $1 and e.id = any($2::uuid[]) and w.id = any($3::uuid[]) and ${SUBSCRIBES}
  on conflict (tenant_id, webhook_id, event_id) do nothing`;

const MARK_RELAYED = `update outbox_events set relayed_at = now() where tenant_id = $1 and id = any($2::uuid[])`;

/** The tenant's deliveries to queue: new ones, retries by hand, and ones a stopped run left. */
const UNQUEUED = `select id from webhook_deliveries where tenant_id = $1 and not enqueued order by created_at limit $2`;

/**
 * Deliveries whose jobs are in the queue. SKIP LOCKED: deleting an endpoint deletes its
 * deliveries row by row in an order of its own, and waiting for those rows here, in another
 * order, deadlocked with it. A delivery skipped is being deleted, or changed by its job, and is
 * queued again by the next run if it is still there (the queue drops the duplicate job).
 */
const MARK_QUEUED = `
  update webhook_deliveries set enqueued = true
  where tenant_id = $1 and id in (select id from webhook_deliveries where tenant_id = $1 and id = any($2::uuid[]) for update skip locked)`;

/**
 * Moves outbox events to delivery jobs, in system mode, tenant by tenant (the longest waiting
 * first, at most `tenants` of them per run): create the tenant's deliveries (relayTenant), put
 * a job for each in the queue, then mark them queued.
 *
 * The queue's tables live on the coordinator and a tenant's rows, on Citus, on a worker: no
 * transaction spans both. The order makes that safe: a delivery is marked queued only after
 * its job is committed, so a run that stops in between leaves it to the next run, which
 * queues it again (a second job for a delivery still queued is dropped by the queue; one for a
 * delivery already delivered finds it so and does nothing).
 */
export async function relayOutbox(kernel: Kernel, boss: PgBoss, { batch = 200, tenants = 100 }: { batch?: number; tenants?: number } = {}): Promise<RelayResult> {
  const { rows: pending } = await kernel.asSystem((tx) => tx.query<{ tenant_id: string }>(TENANTS_WITH_WORK, [tenants]));
  let queued = 0;
  let waiting = 0;
  let more = pending.length === tenants;
  let recordTypesChanged = false;
  for (const { tenant_id: tenantId } of pending) {
    const relayed = await kernel.asSystem((tx) => relayTenant(tx, tenantId, batch));
    waiting += relayed.waiting;
    recordTypesChanged ||= relayed.recordTypesChanged;
    // Only a successful write (after its response) and retries by hand wake the relay: a full
    // batch must ask for the next one.
    if (relayed.claimed === batch && relayed.waiting < relayed.claimed) more = true;
    if (relayed.unqueued.length === 0) continue;
    // singletonKey = delivery id: with the queue's "stately" policy, at most one queued job per
    // delivery (a second is dropped, not an error).
    await boss.insert(relayed.unqueued.map((id) => ({ name: DELIVERY_QUEUE, data: { tenantId, deliveryId: id }, singletonKey: id })));
    await kernel.asSystem((tx) => tx.query(MARK_QUEUED, [tenantId, relayed.unqueued]));
    queued += relayed.unqueued.length;
    if (relayed.unqueued.length === batch) more = true;
  }
  return { queued, waiting, more, recordTypesChanged };
}

/** Creates the deliveries of up to `batch` of the tenant's events; returns the tenant's deliveries to queue. */
async function relayTenant(tx: Transaction, tenantId: string, batch: number): Promise<{ claimed: number; waiting: number; unqueued: string[]; recordTypesChanged: boolean }> {
  const ids = (rows: { id: string }[]) => rows.map((row) => row.id);
  const events = (await tx.query<{ id: string; type: string }>(CLAIM_EVENTS, [tenantId, batch])).rows;
  const claimed = ids(events);
  const recordTypesChanged = events.some((e) => e.type.startsWith('record_type.'));
  const waiting = new Set<string>();
  if (claimed.length > 0) {
    const { rows: subscriptions } = await tx.query<{ event_id: string; webhook_id: string }>(SUBSCRIPTIONS, [tenantId, claimed]);
    const endpoints = [...new Set(subscriptions.map((s) => s.webhook_id))];
    const held = new Set(endpoints.length === 0 ? [] : ids((await tx.query<{ id: string }>(HOLD_ENDPOINTS, [tenantId, endpoints])).rows));
    for (const s of subscriptions) if (!held.has(s.webhook_id)) waiting.add(s.event_id);
    const relayable = claimed.filter((id) => !waiting.has(id));
    if (held.size > 0) await tx.query(CREATE_DELIVERIES, [tenantId, relayable, [...held]]);
    if (relayable.length > 0) await tx.query(MARK_RELAYED, [tenantId, relayable]);
  }
  const unqueued = ids((await tx.query<{ id: string }>(UNQUEUED, [tenantId, batch])).rows);
  return { claimed: claimed.length, waiting: waiting.size, unqueued, recordTypesChanged };
}
