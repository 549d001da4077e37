import type { Transaction } from '../db/kernel.js';
import type { Principal } from './auth/principal.js';

export interface AuditEntry {
  action: string;
  entityType: string;
  entityId: string | null;
  changes: Record<string, unknown>;
}

/** Appends to the tenant's audit log inside the request's transaction: no write without its entry. */
export async function appendAudit(tx: Transaction, principal: Pick<Principal, 'tenantId' | 'actor'>, requestId: string, entry: AuditEntry): Promise<void> {
  await tx.query(
    `insert into audit_log (tenant_id, actor, action, entity_type, entity_id, changes, request_id)
     values ($1, $2, $3, $4, $5, $6, $7)`,
    [principal.tenantId, principal.actor, entry.action, entry.entityType, entry.entityId, JSON.stringify(entry.changes), requestId],
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
