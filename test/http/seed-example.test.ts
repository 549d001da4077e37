import { beforeAll, describe, expect, it } from 'vitest';
import { useHarness, type TestTenant } from '../helpers/http.js';

// The example API of the TypeScript walkthrough this project started from: list, create,
// get and delete projects per tenant, 404 for another tenant's project, and the admin
// report of usage across tenants — here with the tenant taken from a verified token.
const context = useHarness();
// Seeded once and only read: each test that writes makes its own project, in a tenant of its
// own, so the tests pass alone and in any order.
let acme: TestTenant;
let globex: TestTenant;
let acmeProjectId: string;

beforeAll(async () => {
  acme = await context.h.tenant('Acme');
  globex = await context.h.tenant('Globex');
  const created = await context.h.call('POST', '/v1/projects', { token: acme.token, body: { name: 'Acme rocket' } });
  if (created.status !== 201) throw new Error(`seeding failed: ${JSON.stringify(created.body)}`);
  acmeProjectId = created.body.id;
  await context.h.call('POST', '/v1/projects', { token: globex.token, body: { name: 'Globex plan' } });
});

const names = (reply: { body: { data: { name: string }[] } }) => reply.body.data.map((p) => p.name);

describe('the seed walkthrough’s example API', () => {
  it('POST /v1/projects creates a project for the caller’s tenant', async () => {
    const t = await context.h.tenant('Initech');
    const reply = await context.h.call('POST', '/v1/projects', { token: t.token, body: { name: 'Initech printer' } });
    expect(reply.status).toBe(201);
    expect(reply.body.name).toBe('Initech printer');
    expect(names(await context.h.call('GET', '/v1/projects', { token: t.token }))).toEqual(['Initech printer']);
  });

  it('GET /v1/projects lists only the caller’s projects, with no tenant filter in the handler', async () => {
    expect(names(await context.h.call('GET', '/v1/projects', { token: acme.token }))).toEqual(['Acme rocket']);
    expect(names(await context.h.call('GET', '/v1/projects', { token: globex.token }))).toEqual(['Globex plan']);
  });

  it('GET /v1/projects/:id returns the project to its tenant and 404 to any other', async () => {
    expect((await context.h.call('GET', `/v1/projects/${acmeProjectId}`, { token: acme.token })).body.name).toBe('Acme rocket');
    expect((await context.h.call('GET', `/v1/projects/${acmeProjectId}`, { token: globex.token })).status).toBe(404);
  });

  it('DELETE /v1/projects/:id cannot delete another tenant’s project', async () => {
    const [owner, other] = [await context.h.tenant('Umbrella'), await context.h.tenant('Hooli')];
    const { body: project } = await context.h.call('POST', '/v1/projects', { token: owner.token, body: { name: 'Umbrella lab' } });
    expect((await context.h.call('DELETE', `/v1/projects/${project.id}`, { token: other.token })).status).toBe(404);
    expect((await context.h.call('GET', `/v1/projects/${project.id}`, { token: owner.token })).status).toBe(200);
    expect((await context.h.call('DELETE', `/v1/projects/${project.id}`, { token: owner.token })).status).toBe(204);
    expect((await context.h.call('GET', `/v1/projects/${project.id}`, { token: owner.token })).status).toBe(404);
  });

  it('GET /admin/stats reports every tenant, on the admin credential only', async () => {
    const stats = await context.h.call('GET', '/admin/stats?limit=100', { token: context.h.adminToken });
    expect(stats.status).toBe(200);
    const rows: { tenant_id: string; name: string; projects: number }[] = stats.body.data;
    const seeded = rows.filter((s) => s.tenant_id === acme.id || s.tenant_id === globex.id);
    expect(seeded.map((s) => [s.name, s.projects]).sort()).toEqual([
      ['Acme', 1],
      ['Globex', 1],
    ]);
    // Every tenant in the database, whichever tests made them.
    const all = await context.h.kernel.asSystem((tx) => tx.query('select id::text from tenants'));
    expect(rows.map((s) => s.tenant_id).sort()).toEqual(all.rows.map((r) => r.id).sort());
    expect((await context.h.call('GET', '/admin/stats', { token: acme.token })).status).toBe(401);
  });
});
