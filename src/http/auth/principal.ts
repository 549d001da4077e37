import type { Transaction } from '../../db/kernel.js';
import { HttpProblem } from '../problem.js';

export type Role = 'owner' | 'admin' | 'member' | 'viewer';

/** What a request may do, lowest first. */
export type Permission = 'read' | 'write' | 'manage' | 'owner';

const LEVEL: Record<Permission, number> = { read: 1, write: 2, manage: 3, owner: 4 };
const ROLE_PERMISSION: Record<Role, Permission> = { viewer: 'read', member: 'write', admin: 'manage', owner: 'owner' };
const SCOPE_PERMISSION: Record<string, Permission> = { read: 'read', write: 'write' };

/** Who is calling, proven by a token or key; the tenant comes only from here. */
export type Credential =
  | { kind: 'user'; tenantId: string; userId: string }
  | { kind: 'api_key'; tenantId: string; keyId: string; scopes: string[] };

export interface Principal {
  tenantId: string;
  /** "user:<sub>" or "api_key:<id>", as written to the audit log. */
  actor: string;
  permission: Permission;
  userId?: string;
  memberId?: string;
  role?: Role;
  keyId?: string;
}

const forbidden = (code: string, title: string) => new HttpProblem(403, code, title);

/**
 * Turns a credential into a principal inside the tenant's transaction, with one statement:
 * the tenant must be active and a user an active member (both read under RLS).
 */
export async function loadPrincipal(tx: Transaction, credential: Credential): Promise<Principal> {
  if (credential.kind === 'user') {
    const { rows } = await tx.query<{ tenant_status: string; member_id: string | null; role: Role | null; member_status: string | null }>(
      `select t.status as tenant_status, m.id as member_id, m.role, m.status as member_status
       from tenants t left join team_members m on m.tenant_id = t.id and m.user_id = $1`,
      [credential.userId],
    );
    const row = rows[0];
    if (!row || !row.member_id || row.member_status !== 'active') throw forbidden('NOT_A_MEMBER', 'The user is not an active member of this tenant');
    if (row.tenant_status !== 'active') throw forbidden('TENANT_SUSPENDED', 'This tenant is suspended');
    return {
      tenantId: credential.tenantId,
      actor: `user:${credential.userId}`,
      permission: ROLE_PERMISSION[row.role!],
      userId: credential.userId,
      memberId: row.member_id,
      role: row.role!,
    };
  }
  // last_used_at is written at most once a minute per key, in the same statement.
  const { rows } = await tx.query<{ tenant_status: string }>(
    `with touched as (
       update api_keys set last_used_at = now()
       where id = $1 and (last_used_at is null or last_used_at < now() - interval '1 minute')
       returning 1)
     select t.status as tenant_status from tenants t left join touched on true`,
    [credential.keyId],
  );
  if (!rows[0]) throw forbidden('NOT_A_MEMBER', 'The key does not belong to an existing tenant');
  if (rows[0].tenant_status !== 'active') throw forbidden('TENANT_SUSPENDED', 'This tenant is suspended');
  const best = credential.scopes.map((s) => SCOPE_PERMISSION[s]).filter((p): p is Permission => !!p).sort((a, b) => LEVEL[b] - LEVEL[a])[0];
  return { tenantId: credential.tenantId, actor: `api_key:${credential.keyId}`, permission: best ?? 'read', keyId: credential.keyId };
}

/** Throws 403 unless the principal holds at least `needed`. */
export function authorize(principal: Principal, needed: Permission): void {
  if (LEVEL[principal.permission] < LEVEL[needed]) {
    throw forbidden('FORBIDDEN', `This action needs the ${needed} permission`);
  }
}
