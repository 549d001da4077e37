import { beforeAll, describe, expect, it } from 'vitest';
import { useHarness, type TestTenant } from '../helpers/http.js';

// The example API of the TypeScript walkthrough this project started from: list, create,
// get and delete projects per tenant, 404 for another tenant's project, and the admin
// report of usage across tenants — here with the tenant taken from a verified token.
const context = useHarness();
let acme: TestTenant;
let globex: TestTenant;

beforeAll(async () => {
  acme = await context.h.tenant('Acme');
  globex = await context.h.tenant('Globex');
});

describe('the seed walkthrough’s example API', () => {
  let projectId: string;

  it('POST /v1/projects creates a project for the caller’s tenant', async () => {
    const reply = await context.h.call('POST', '/v1/projects', { token: acme.token, body: { name: 'Acme rocket' } });
    expect(reply.status).toBe(201);
    projectId = reply.body.id;
  });

  it('GET /v1/projects lists only the caller’s projects, with no tenant filter in the handler', async () => {
    await context.h.call('POST', '/v1/projects', { token: globex.token, body: { name: 'Globex plan' } });
    const mine = await context.h.call('GET', '/v1/projects', { token: acme.token });
    expect(mine.body.data.map((p: { name: string }) => p.name)).toEqual(['Acme rocket']);
    const theirs = await context.h.call('GET', '/v1/projects', { token: globex.token });
    expect(theirs.body.data.map((p: { name: string }) => p.name)).toEqual(['Globex plan']);
  });

  it('GET /v1/projects/:id returns the project to its tenant and 404 to any other', async () => {
    expect((await context.h.call('GET', `/v1/projects/${projectId}`, { token: acme.token })).body.name).toBe('Acme rocket');
    expect((await context.h.call('GET', `/v1/projects/${projectId}`, { token: globex.token })).status).toBe(404);
  });

  it('DELETE /v1/projects/:id cannot delete another tenant’s project', async () => {
    expect((await context.h.call('DELETE', `/v1/projects/${projectId}`, { token: globex.token })).status).toBe(404);
    expect((await context.h.call('DELETE', `/v1/projects/${projectId}`, { token: acme.token })).status).toBe(204);
    expect((await context.h.call('GET', `/v1/projects/${projectId}`, { token: acme.token })).status).toBe(404);
  });

  it('GET /admin/stats reports every tenant, on the admin credential only', async () => {
    const stats = await context.h.call('GET', '/admin/stats', { token: context.h.adminToken });
    expect(stats.status).toBe(200);
    expect(stats.body.data.map((s: { name: string; projects: number }) => [s.name, s.projects]).sort()).toEqual([
      ['Acme', 0],
      ['Globex', 1],
    ]);
    expect((await context.h.call('GET', '/admin/stats', { token: acme.token })).status).toBe(401);
  });
});
