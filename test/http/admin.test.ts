import { describe, expect, it } from 'vitest';
import { useHarness } from '../helpers/http.js';

const context = useHarness();

const admin = (method: string, path: string, body?: unknown) => context.h.call(method, path, { token: context.h.adminToken, body });

describe('admin API', () => {
  it('creates a tenant with its first owner, who can use the tenant API at once', async () => {
    const reply = await admin('POST', '/admin/tenants', { name: 'Umbrella', owner: { user_id: 'wesker', email: 'w@umbrella.test', display_name: 'Albert' } });
    expect(reply.status).toBe(201);
    expect(reply.body).toMatchObject({ name: 'Umbrella', status: 'active', owner: { user_id: 'wesker', role: 'owner' } });
    expect(reply.headers.get('location')).toBe(`/admin/tenants/${reply.body.id}`);
    const token = await context.h.mint(reply.body.id, 'wesker');
    const members = await context.h.call('GET', '/v1/members', { token });
    expect(members.body.data).toEqual([expect.objectContaining({ user_id: 'wesker', role: 'owner', status: 'active' })]);
    const log = await context.h.call('GET', '/v1/audit-log', { token });
    expect(log.body.data.map((e: { action: string; actor: string }) => [e.actor, e.action]).sort()).toEqual([
      ['admin', 'member.created'],
      ['admin', 'tenant.created'],
    ]);
  });

  it('lists, gets, suspends and reactivates tenants, each change audited', async () => {
    const t = await context.h.tenant('Cyberdyne');
    const list = await admin('GET', '/admin/tenants?limit=100');
    expect(list.body.data.map((x: { id: string }) => x.id)).toContain(t.id);
    expect((await admin('GET', `/admin/tenants/${t.id}`)).body.name).toBe('Cyberdyne');
    expect((await admin('GET', '/admin/tenants/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await admin('POST', `/admin/tenants/${t.id}/suspend`)).body.status).toBe('suspended');
    expect((await admin('POST', `/admin/tenants/${t.id}/suspend`)).status).toBe(409);
    expect((await admin('GET', '/admin/tenants?status=suspended&limit=100')).body.data.map((x: { id: string }) => x.id)).toContain(t.id);
    expect((await admin('POST', `/admin/tenants/${t.id}/reactivate`)).body.status).toBe('active');
    const log = await context.h.call('GET', '/v1/audit-log?entity_type=tenant', { token: t.token });
    expect(log.body.data.map((e: { action: string }) => e.action)).toEqual(['tenant.active', 'tenant.suspended', 'tenant.created']);
  });

  it('reports usage per tenant across all tenants', async () => {
    const x = await context.h.tenant('Stats X');
    const y = await context.h.tenant('Stats Y');
    const project = await context.h.call('POST', '/v1/projects', { token: x.token, body: { name: 'p' } });
    await context.h.call('POST', '/v1/projects', { token: x.token, body: { name: 'q' } });
    await context.h.call('POST', '/v1/tasks', { token: x.token, body: { project_id: project.body.id, title: 't' } });
    await context.h.call('POST', '/v1/invoices', { token: y.token, body: { number: '1', customer_name: 'c', currency: 'EUR', line_items: [] } });
    const stats = await admin('GET', '/admin/stats?limit=100');
    const row = (id: string) => stats.body.data.find((s: { tenant_id: string }) => s.tenant_id === id);
    expect(row(x.id)).toMatchObject({ name: 'Stats X', members: 1, projects: 2, tasks: 1, invoices: 0, last_activity: expect.any(String) });
    expect(row(y.id)).toMatchObject({ name: 'Stats Y', members: 1, projects: 0, tasks: 0, invoices: 1 });
  });

  it('validates its input like the tenant API', async () => {
    const reply = await admin('POST', '/admin/tenants', { name: '', owner: { user_id: 'u' } });
    expect(reply.status).toBe(400);
    expect(reply.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['body.name', 'body.owner.email']);
  });
});
