import type { Transaction } from '@rowguard/kernel';
import type { RequestScope } from './request-scope.js';

export interface Change {
  /** Audit action, e.g. "project.created". */
  action: string;
  entityType: string;
  entityId: string | null;
  changes: Record<string, unknown>;
  /** Outbox events to emit with it, e.g. ["invoice.updated", "invoice.paid"]. */
  events?: readonly string[];
  /** Event payload: the public representation of the resource. */
  payload?: Record<string, unknown>;
  /** Deliver the events to this webhook endpoint only (a test ping), under this event id. */
  target?: { webhookId: string; eventId: string };
}

/** Who made a change: the tenant, the actor as the audit log names it, and the request. */
export interface ChangeAuthor {
  tenantId: string;
  actor: string;
  /** The request it came from; null for a change made outside one (the CLI). */
  requestId: string | null;
}

/**
 * The one statement that records a write: its audit entry and its outbox events, in the
 * write's own transaction. No write without its entry and events, no event without its write.
 * The events are rows of INSERT … VALUES, not a SELECT over an array: Citus runs INSERT …
 * SELECT through COPY, which row-level security refuses. One text per number of events.
 */
export function changeStatement(author: ChangeAuthor, change: Change): { text: string; values: unknown[] } {
  const values = [author.tenantId, author.actor, change.action, change.entityType, change.entityId, JSON.stringify(change.changes), author.requestId];
  const events = change.events ?? [];
  if (events.length === 0) return { text: AUDIT_ENTRY, values };
  return {
    text: withEvents(events.length),
    values: [...values, JSON.stringify(change.payload ?? {}), change.target?.eventId ?? null, change.target?.webhookId ?? null, ...events],
  };
}

const AUDIT_ENTRY = `insert into audit_log (tenant_id, actor, action, entity_type, entity_id, changes, request_id) values ($1, $2, $3, $4, $5, $6, $7)`;

// A write has a handful of events at most: each text is built once, on the request path.
const textsByEventCount = new Map<number, string>();
function withEvents(count: number): string {
  let text = textsByEventCount.get(count);
  if (text === undefined) {
    const rows = Array.from({ length: count }, (_, i) => `(coalesce($9::uuid, gen_random_uuid()), $1, $${11 + i}, $4, $5, $10::uuid, $8::jsonb)`);
    text = `with entry as (${AUDIT_ENTRY})
     insert into outbox_events (id, tenant_id, type, entity_type, entity_id, webhook_id, payload) values ${rows.join(', ')}`;
    textsByEventCount.set(count, text);
  }
  return text;
}

/** Records a write made in `tx` (a system transaction: admin API, CLI). */
export async function recordChangeIn(tx: Transaction, author: ChangeAuthor, change: Change): Promise<void> {
  const { text, values } = changeStatement(author, change);
  await tx.query(text, values);
}

/** Records a request's write as its last statement, carrying the COMMIT. */
export async function recordChange(scope: RequestScope, change: Change): Promise<void> {
  const { text, values } = changeStatement(scope, change);
  await scope.last(text, values);
}

/** The fields that changed between two versions of a row, as { field: { from, to } }. */
export function diff(before: Record<string, unknown>, after: Record<string, unknown>, fields: readonly string[]): Record<string, unknown> {
  const changes: Record<string, unknown> = {};
  for (const field of fields) {
    const [from, to] = [before[field], after[field]];
    if (JSON.stringify(from) !== JSON.stringify(to)) changes[field] = { from, to };
  }
  return changes;
}
