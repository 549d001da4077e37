import { HttpProblem } from '../problem.js';

export type Role = 'owner' | 'admin' | 'member' | 'viewer';

/** What a request may do, lowest first. */
export type Permission = 'read' | 'write' | 'manage' | 'owner';

/** The permission table (its twin in the database: migration 0014, rowguard.permission_level). */
export const LEVEL: Record<Permission, number> = { read: 1, write: 2, manage: 3, owner: 4 };

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

/** Throws 403 unless the principal holds at least `needed`. */
export function authorize(principal: Principal, needed: Permission): void {
  if (LEVEL[principal.permission] < LEVEL[needed]) {
    throw new HttpProblem('FORBIDDEN', `This action needs the ${needed} permission`);
  }
}
