import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Kernel, Transaction } from '@rowguard/kernel';
import { recordChangeIn } from '../record-change.js';
import type { AppEnv } from '../context-variables.js';
import { keyset, pageOf, pageParams } from '../pagination.js';
import { pathId } from '../path-id.js';
import { HttpProblem, notFound } from '../problem.js';
import { id, name, problemSchemas, timestamp } from '../schemas.js';

const Tenant = z.object({ id, name: z.string(), status: z.enum(['active', 'suspended']), created_at: timestamp, updated_at: timestamp }).openapi('Tenant');
const Owner = z.object({ id, user_id: z.string(), email: z.string(), display_name: z.string().nullable(), role: z.literal('owner') });
const TenantStats = z
  .object({
    tenant_id: id,
    name: z.string(),
    status: z.enum(['active', 'suspended']),
    members: z.number().int(),
    projects: z.number().int(),
    tasks: z.number().int(),
    invoices: z.number().int(),
    last_activity: timestamp.nullable().openapi({ description: 'Newest audit entry or tenant change' }),
  })
  .openapi('TenantStats');

const tags = ['Admin'];
const security = [{ admin: [] }];
const json = (schema: z.ZodType) => ({ 'application/json': { schema } });
const page = z.object(pageParams);
const tenantColumns = 'id, name, status, created_at, updated_at';
const ADMIN = { actor: 'admin' };

async function setStatus(tx: Transaction, id: string, status: 'active' | 'suspended') {
  const { rows } = await tx.query(`update tenants set status = $2 where id = $1 returning ${tenantColumns}`, [id, status]);
  if (!rows[0]) throw notFound();
  return rows[0];
}

/**
 * The operator's API, on its own credential, running as the system role: tenants across the
 * whole database and the usage report. Every change is written to the tenant's audit log.
 */
export function registerAdminRoutes(app: OpenAPIHono<AppEnv>, kernel: Kernel): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/admin/tenants',
      tags,
      security,
      summary: 'Create a tenant and its first owner',
      request: {
        body: {
          required: true,
          content: json(
            z
              .object({
                name: name(),
                owner: z.object({ user_id: name(200), email: z.string().email().max(320), display_name: name().nullable().optional() }).strict(),
              })
              .strict()
              .openapi('TenantCreate'),
          ),
        },
      },
      responses: { 201: { description: 'Created', content: json(Tenant.extend({ owner: Owner })) }, ...problemSchemas.write },
    }),
    async (c) => {
      const body = c.req.valid('json') as { name: string; owner: { user_id: string; email: string; display_name?: string | null } };
      const requestId = c.get('requestId');
      const created = await kernel.asSystem(async (tx) => {
        const tenant = (await tx.query(`insert into tenants (name) values ($1) returning ${tenantColumns}`, [body.name])).rows[0]!;
        const owner = (
          await tx.query(
            `insert into team_members (tenant_id, user_id, email, display_name, role) values ($1, $2, $3, $4, 'owner')
             returning id, user_id, email, display_name, role`,
            [tenant.id, body.owner.user_id, body.owner.email, body.owner.display_name ?? null],
          )
        ).rows[0]!;
        const author = { ...ADMIN, tenantId: tenant.id as string, requestId };
        await recordChangeIn(tx, author, { action: 'tenant.created', entityType: 'tenant', entityId: tenant.id as string, changes: { name: body.name } });
        await recordChangeIn(tx, author, { action: 'member.created', entityType: 'member', entityId: owner.id as string, changes: owner, events: ['member.added'], payload: owner });
        return { ...tenant, owner } as Record<string, unknown>;
      });
      c.header('Location', `/admin/tenants/${created.id}`);
      return c.json(created, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/admin/tenants',
      tags,
      security,
      summary: 'List tenants',
      request: { query: page.extend({ status: z.enum(['active', 'suspended']).optional() }) },
      responses: { 200: { description: 'A page, newest first', content: json(z.object({ data: z.array(Tenant), next_cursor: z.string().nullable() })) }, ...problemSchemas.read },
    }),
    async (c) => {
      const query = c.req.valid('query');
      const result = await kernel.asSystem(async (tx) => {
        const values: unknown[] = [];
        const conditions = ['true'];
        if (query.status) {
          values.push(query.status);
          conditions.push(`status = $${values.length}`);
        }
        const page = keyset(query, values);
        if (page.after) conditions.push(page.after);
        const { rows } = await tx.query(`select ${tenantColumns}, ${page.column} from tenants where ${conditions.join(' and ')} ${page.orderAndLimit}`, values);
        return pageOf(rows, query.limit);
      });
      return c.json(result, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/admin/tenants/{id}',
      tags,
      security,
      summary: 'Get a tenant',
      request: { params: z.object({ id: z.string().openapi({ param: { name: 'id', in: 'path' }, format: 'uuid' }) }) },
      responses: { 200: { description: 'The tenant', content: json(Tenant) }, ...problemSchemas.readOne },
    }),
    async (c) => {
      const id = pathId(c);
      const { rows } = await kernel.asSystem((tx) => tx.query(`select ${tenantColumns} from tenants where id = $1`, [id]));
      if (!rows[0]) throw notFound();
      return c.json(rows[0], 200);
    },
  );

  for (const [action, status] of [['suspend', 'suspended'], ['reactivate', 'active']] as const) {
    app.openapi(
      createRoute({
        method: 'post',
        path: `/admin/tenants/{id}/${action}`,
        tags,
        security,
        summary: action === 'suspend' ? 'Suspend a tenant: its tokens and keys get 403' : 'Reactivate a suspended tenant',
        request: { params: z.object({ id: z.string().openapi({ param: { name: 'id', in: 'path' }, format: 'uuid' }) }) },
        responses: { 200: { description: 'The tenant', content: json(Tenant) }, ...problemSchemas.readOne },
      }),
      async (c) => {
        const id = pathId(c);
        const requestId = c.get('requestId');
        const tenant = await kernel.asSystem(async (tx) => {
          const before = (await tx.query('select status from tenants where id = $1 for update', [id])).rows[0];
          if (!before) throw notFound();
          if (before.status === status) throw new HttpProblem(status === 'active' ? 'ALREADY_ACTIVE' : 'ALREADY_SUSPENDED');
          const updated = await setStatus(tx, id, status);
          await recordChangeIn(tx, { ...ADMIN, tenantId: id, requestId }, {
            action: `tenant.${status}`,
            entityType: 'tenant',
            entityId: id,
            changes: { status: { from: before.status, to: status } },
          });
          return updated;
        });
        return c.json(tenant, 200);
      },
    );
  }

  app.openapi(
    createRoute({
      method: 'get',
      path: '/admin/stats',
      tags,
      security,
      summary: 'Usage per tenant, across all tenants',
      request: { query: page },
      responses: { 200: { description: 'One row per tenant, newest tenant first', content: json(z.object({ data: z.array(TenantStats), next_cursor: z.string().nullable() })) }, ...problemSchemas.read },
    }),
    async (c) => {
      const query = c.req.valid('query');
      const result = await kernel.asSystem(async (tx) => {
        const values: unknown[] = [];
        const page = keyset(query, values, 't.');
        // Each count reads one tenant's slice of an index that leads with tenant_id.
        const { rows } = await tx.query(
          `select t.id as tenant_id, t.name, t.status,
                  (select count(*) from team_members m where m.tenant_id = t.id and m.status = 'active') as members,
                  (select count(*) from projects p where p.tenant_id = t.id) as projects,
                  (select count(*) from tasks k where k.tenant_id = t.id) as tasks,
                  (select count(*) from invoices i where i.tenant_id = t.id) as invoices,
                  greatest((select max(a.created_at) from audit_log a where a.tenant_id = t.id), t.updated_at) as last_activity,
                  ${page.column}
           from tenants t where ${page.after ?? 'true'}
           ${page.orderAndLimit}`,
          values,
        );
        return pageOf(rows, query.limit, (row) => row.tenant_id);
      });
      return c.json(result, 200);
    },
  );
}
