import { beforeAll, describe, expect, it } from 'vitest';
import { useHarness, type TestTenant } from '../helpers/http.js';

const context = useHarness();
let a: TestTenant;
beforeAll(async () => {
  a = await context.h.tenant('Acme');
});

async function events(tenantId: string) {
  const { rows } = await context.h.kernel.asSystem((tx) =>
    tx.query<{ type: string; entity_id: string; payload: Record<string, unknown> }>(
      'select type, entity_id, payload from outbox_events where tenant_id = $1 order by created_at, type',
      [tenantId],
    ),
  );
  return rows;
}

describe('the transactional outbox', () => {
  it('records an event per write, with the public representation as payload', async () => {
    const before = (await events(a.id)).length;
    const project = await context.h.call('POST', '/v1/projects', { token: a.token, body: { name: 'Evented' } });
    await context.h.call('PATCH', `/v1/projects/${project.body.id}`, { token: a.token, body: { name: 'Evented 2' } });
    await context.h.call('DELETE', `/v1/projects/${project.body.id}`, { token: a.token });
    const recorded = (await events(a.id)).slice(before);
    expect(recorded.map((e) => e.type)).toEqual(['project.created', 'project.updated', 'project.deleted']);
    expect(recorded[0]!.payload).toEqual(project.body);
    expect(recorded[1]!.payload).toMatchObject({ id: project.body.id, name: 'Evented 2' });
    expect(recorded.every((e) => e.entity_id === project.body.id)).toBe(true);
  });

  it('names status changes and membership changes as people expect', async () => {
    const before = (await events(a.id)).length;
    const invoice = await context.h.call('POST', '/v1/invoices', { token: a.token, body: { number: 'E-1', customer_name: 'c', currency: 'EUR', line_items: [] } });
    await context.h.call('PATCH', `/v1/invoices/${invoice.body.id}`, { token: a.token, body: { status: 'sent' } });
    await context.h.call('PATCH', `/v1/invoices/${invoice.body.id}`, { token: a.token, body: { status: 'paid' } });
    const member = await context.h.member(a, 'viewer');
    await context.h.call('DELETE', `/v1/members/${member.id}`, { token: a.token });
    expect((await events(a.id)).slice(before).map((e) => e.type)).toEqual([
      'invoice.created',
      'invoice.sent',
      'invoice.updated',
      'invoice.paid',
      'invoice.updated',
      'member.added',
      'member.removed',
    ]);
  });

  it('records no event for a write that failed', async () => {
    const before = (await events(a.id)).length;
    const project = await context.h.call('POST', '/v1/projects', { token: a.token, body: { name: 'p' } });
    const failed = [
      await context.h.call('POST', '/v1/tasks', { token: a.token, body: { project_id: '00000000-0000-4000-8000-000000000000', title: 't' } }),
      await context.h.call('PATCH', `/v1/projects/${project.body.id}`, { token: a.token, body: { name: 'x' }, headers: { 'if-match': '"99"' } }),
      await context.h.call('POST', '/v1/projects', { token: a.token, body: { name: '' } }),
    ];
    expect(failed.map((r) => r.status)).toEqual([422, 412, 400]);
    expect((await events(a.id)).slice(before).map((e) => e.type)).toEqual(['project.created']);
  });

  it('is invisible to the app role: tenants cannot read even their own events', async () => {
    const app = await context.db.appClient();
    await expect(app.query('select * from outbox_events')).rejects.toMatchObject({ code: '42501' });
  });
});
