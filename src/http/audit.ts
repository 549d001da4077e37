import type { Transaction } from '../db/kernel.js';
import type { Principal } from './auth/principal.js';

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
}

/**
 * Records a write inside its own transaction, in one statement: the audit entry and the
 * outbox events. No write without its entry and events, no event without its write.
 */
export async function recordChange(tx: Transaction, principal: Pick<Principal, 'tenantId' | 'actor'>, requestId: string, change: Change): Promise<void> {
  await tx.query(
    `with entry as (
       insert into audit_log (tenant_id, actor, action, entity_type, entity_id, changes, request_id)
       values ($1, $2, $3, $4, $5, $6, $7)
     )
     insert into outbox_events (tenant_id, type, entity_type, entity_id, payload)
     select $1, type, $4, $5, $8 from unnest($9::text[]) as type`,
    [
      principal.tenantId,
      principal.actor,
      change.action,
      change.entityType,
      change.entityId,
      JSON.stringify(change.changes),
      requestId,
      JSON.stringify(change.payload ?? {}),
      change.events ?? [],
    ],
  );
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
