import { type Kernel, RowguardError } from '@rowguard/kernel';
import { recordChangeIn } from '../http/record-change.js';

export type MemberRole = 'owner' | 'admin' | 'member' | 'viewer';

/**
 * Makes `userId` an active member of the tenant with `role` (for `rowguard token --role`),
 * as the system role and recorded in the tenant's audit log. Refuses to demote the last owner.
 */
export async function ensureMember(kernel: Kernel, tenantId: string, userId: string, role: MemberRole): Promise<void> {
  await kernel.asSystem(async (tx) => {
    const tenant = await tx.query('select 1 from tenants where id = $1 for update', [tenantId]);
    if (!tenant.rowCount) throw new RowguardError('TENANT_NOT_FOUND', `there is no tenant ${tenantId}`);
    const owners = await tx.query<{ user_id: string }>(`select user_id from team_members where tenant_id = $1 and role = 'owner' and status = 'active'`, [tenantId]);
    if (role !== 'owner' && owners.rows.length === 1 && owners.rows[0]!.user_id === userId) {
      throw new RowguardError('LAST_OWNER', `${userId} is the tenant's last owner; make someone else owner first`);
    }
    const { rows } = await tx.query<{ id: string; created: boolean }>(
      `insert into team_members (tenant_id, user_id, email, role) values ($1, $2, $3, $4)
       on conflict (tenant_id, user_id) do update set role = excluded.role, status = 'active'
       returning id, (xmax = 0) as created`,
      [tenantId, userId, `${userId}@users.invalid`, role],
    );
    // Recorded like a change made through the API: the audit entry, and the member event webhooks receive.
    const { id, created } = rows[0]!;
    const member = { id, user_id: userId, role, status: 'active' };
    await recordChangeIn(tx, { tenantId, actor: 'cli', requestId: null }, {
      action: created ? 'member.created' : 'member.updated',
      entityType: 'member',
      entityId: id,
      changes: { user_id: userId, role, status: 'active' },
      events: [created ? 'member.added' : 'member.updated'],
      payload: member,
    });
  });
}

/**
 * Why a token for `userId` in the tenant would be refused (no such tenant, not an active member),
 * or undefined when it would be accepted. Read as the system role; changes nothing.
 */
export async function membershipProblem(kernel: Kernel, tenantId: string, userId: string): Promise<string | undefined> {
  return kernel.asSystem(async (tx) => {
    const { rows } = await tx.query<{ tenant_status: string; member_status: string | null }>(
      `select t.status as tenant_status, m.status as member_status from tenants t left join team_members m on m.tenant_id = t.id and m.user_id = $2 where t.id = $1`,
      [tenantId, userId],
    );
    if (!rows[0]) return `there is no tenant ${tenantId}`;
    if (rows[0].tenant_status !== 'active') return `tenant ${tenantId} is ${rows[0].tenant_status}`;
    if (rows[0].member_status !== 'active') return `${userId} is not an active member of tenant ${tenantId}`;
    return undefined;
  });
}
