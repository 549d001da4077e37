import { z } from '@hono/zod-openapi';
import { HttpProblem } from '../problem.js';
import type { RequestScope } from '../request-scope.js';
import { defineResource } from '../resource.js';
import { id, name, timestamp, updatedSince } from '../schemas.js';

const role = z.enum(['owner', 'admin', 'member', 'viewer']);
const status = z.enum(['invited', 'active', 'removed']);

/**
 * A tenant always keeps an active owner. Changes to owners are serialized on the tenant's
 * row: of two requests demoting the last two owners at once, the second waits, then sees
 * the first one's change and is refused. (Locking the owners' rows instead would deadlock:
 * each request already holds the row it changes.)
 */
async function assertAnotherOwner(scope: RequestScope, memberId: string): Promise<void> {
  await scope.query('select 1 from tenants where id = $1 for update', [scope.tenantId]);
  const { rows } = await scope.query<{ id: string }>(`select id from team_members where tenant_id = $1 and role = 'owner' and status = 'active'`, [scope.tenantId]);
  if (!rows.some((r) => r.id !== memberId)) {
    throw new HttpProblem('LAST_OWNER');
  }
}

const CLEAR_MEMBER_REFERENCES = `
  with projects as (update projects set created_by = null where tenant_id = $1 and created_by = $2),
    tasks as (update tasks set assignee_id = null where tenant_id = $1 and assignee_id = $2),
    documents as (update documents set created_by = null where tenant_id = $1 and created_by = $2),
    comments as (update comments set author_id = null where tenant_id = $1 and author_id = $2),
    api_keys as (update api_keys set created_by = null where tenant_id = $1 and created_by = $2)
  select 1`;

const isActiveOwner = (row: Record<string, unknown>) => row.role === 'owner' && row.status === 'active';

export const members = defineResource({
  path: '/v1/members',
  table: 'team_members',
  entity: 'member',
  tag: 'Members',
  schema: z.object({
    id,
    user_id: z.string().openapi({ description: 'The sub claim of the user’s tokens' }),
    email: z.string(),
    display_name: z.string().nullable(),
    role,
    status,
    created_at: timestamp,
    updated_at: timestamp,
  }),
  create: z.object({
    user_id: name(200),
    email: z.string().email().max(320),
    display_name: name().nullable().optional(),
    role,
    status: z.enum(['invited', 'active']).optional(),
  }),
  update: z.object({ display_name: name().nullable().optional(), role: role.optional(), status: status.optional() }),
  filters: { role: { schema: role, sql: (p) => `role = ${p}` }, status: { schema: status, sql: (p) => `status = ${p}` }, updated_since: updatedSince },
  read: 'read',
  write: 'manage',
  deletable: true,
  events: (action) => [{ created: 'member.added', updated: 'member.updated', deleted: 'member.removed' }[action]],
  prepareCreate: (body, scope) => {
    if (body.role === 'owner') scope.authorize('owner');
    return { values: body };
  },
  // Only an owner may change an owner in any field (role, status, name) or delete one, and
  // only an owner may make someone an owner.
  prepareUpdate: async (body, current, scope) => {
    if (current.role === 'owner' || body.role === 'owner') scope.authorize('owner');
    const staysActiveOwner = (body.role ?? current.role) === 'owner' && (body.status ?? current.status) === 'active';
    if (isActiveOwner(current) && !staysActiveOwner) await assertAnotherOwner(scope, current.id);
    return body;
  },
  beforeDelete: async (current, scope) => {
    if (current.role === 'owner') scope.authorize('owner');
    if (isActiveOwner(current)) await assertAnotherOwner(scope, current.id);
    // What they made stays, without them. The keys refuse a delete that skipped this: Citus
    // cannot run `on delete set null` on a key that holds the tenant column (migration 0016).
    scope.along(CLEAR_MEMBER_REFERENCES, [scope.tenantId, current.id]);
  },
});
