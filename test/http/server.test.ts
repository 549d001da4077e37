import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/http/auth/mint-token.js';
import type { RunningService } from '../../src/service.js';
import { TEST_ROLES } from '../helpers/cluster.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { createHarness } from '../helpers/http.js';
import { startTestService, type TestService } from '../helpers/service.js';

let db: TestDatabase;
let s: TestService;
let service: RunningService;
let tenantId: string;
let token: string;

beforeAll(async () => {
  db = await createTestDatabase();
  s = await startTestService(db);
  service = s.service;
  const created = await fetch(`${service.url}/admin/tenants`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.secrets.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Socket Co', owner: { user_id: 'sam', email: 'sam@example.test' } }),
  });
  tenantId = ((await created.json()) as { id: string }).id;
  token = await mintToken({ secret: s.secrets.jwtSecret, tenantId, userId: 'sam', tenantClaim: 'tid', ttl: '5m' });
});
afterAll(async () => {
  await service?.close();
  await db.close();
});

/** A POST exactly as given: node's http client adds no Content-Type or Content-Length of its own. */
function rawPost(url: string, token: string, { body, headers = {} }: { body?: string; headers?: Record<string, string> }): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) } }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode ?? 0 }));
    });
    request.on('error', reject);
    request.end(body);
  });
}

const api = (path: string, init: RequestInit = {}) =>
  fetch(`${service.url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...init.headers } });

describe('over a real socket', () => {
  it('is ready when the database answers and its migrations are current', async () => {
    expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${service.url}/readyz`)).status).toBe(200);
    const owner = await db.ownerClient();
    await owner.query("insert into rowguard.migrations (id, name, checksum) values (9999, '9999_future.sql', 'x')");
    const stale = await fetch(`${service.url}/readyz`);
    expect(stale.status).toBe(503);
    expect(((await stale.json()) as { code: string }).code).toBe('NOT_READY');
    await owner.query('delete from rowguard.migrations where id = 9999');
    expect((await fetch(`${service.url}/readyz`)).status).toBe(200);
  });

  it('returns the caller’s request id, or makes one', async () => {
    const given = await api('/v1/projects', { headers: { 'x-request-id': 'abc-123' } });
    expect(given.headers.get('x-request-id')).toBe('abc-123');
    const made = await api('/v1/projects', { headers: { 'x-request-id': 'bad id with spaces' } });
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('logs one JSON line per request with tenant, actor, route and status, never the token', async () => {
    await api('/v1/projects', { headers: { 'x-request-id': 'log-me' } });
    const line = s.logs.map((l) => JSON.parse(l)).find((l) => l.requestId === 'log-me' && l.msg === 'request');
    expect(line).toMatchObject({ method: 'GET', route: '/v1/projects', status: 200, tenant: tenantId, actor: 'user:sam', ms: expect.any(Number) });
    expect(s.logs.join('\n')).not.toContain(token.split('.')[2]);
  });

  // curl -X POST …/suspend sends no body and no Content-Type; a client library may send
  // Content-Length: 0 with a JSON Content-Type, or an empty JSON object. All are the same action.
  it.each([
    ['no body, no Content-Type', {}],
    ['an empty body with a JSON Content-Type', { body: '', headers: { 'content-type': 'application/json' } }],
    ['an empty JSON object', { body: '{}', headers: { 'content-type': 'application/json' } }],
  ])('runs body-less actions sent with %s', async (_how, init: { body?: string; headers?: Record<string, string> }) => {
    const send = (path: string, auth: string) => rawPost(`${service.url}${path}`, auth, init);
    const created = await fetch(`${service.url}/admin/tenants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.secrets.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Actions', owner: { user_id: 'olga', email: 'olga@example.test' } }),
    });
    const tenant = ((await created.json()) as { id: string }).id;
    expect((await send(`/admin/tenants/${tenant}/suspend`, s.secrets.adminToken)).status).toBe(200);
    expect((await send(`/admin/tenants/${tenant}/reactivate`, s.secrets.adminToken)).status).toBe(200);
    const owner = await mintToken({ secret: s.secrets.jwtSecret, tenantId: tenant, userId: 'olga', tenantClaim: 'tid', ttl: '5m' });
    const hook = await fetch(`${service.url}/v1/webhooks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${owner}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: 'https://hooks.example.com/in', event_types: ['project.created'] }),
    });
    const hookId = ((await hook.json()) as { id: string }).id;
    expect((await send(`/v1/webhooks/${hookId}/test`, owner)).status).toBe(202);
    expect((await send(`/v1/webhooks/${hookId}/rotate-secret`, owner)).status).toBe(200);
  });

  it('answers 413 for an oversized body sent over the wire', async () => {
    const reply = await api('/v1/projects', { method: 'POST', body: JSON.stringify({ name: 'x', description: 'y'.repeat(2 * 1024 * 1024) }) });
    expect(reply.status).toBe(413);
  });

  it('finishes in-flight requests on shutdown, then stops accepting', async () => {
    const second = (await startTestService(db, {}, s.secrets)).service;
    const project = await fetch(`${second.url}/v1/projects`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'held' }),
    }).then((r) => r.json() as Promise<{ id: string }>);
    // Hold the project's row so the PATCH below is still running when shutdown starts.
    const blocker = await db.ownerClient();
    await blocker.query(`begin; set local role ${TEST_ROLES.system}; select 1 from projects where id = '${project.id}' for update`);
    const inFlight = fetch(`${second.url}/v1/projects/${project.id}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'finished' }),
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const closing = second.close();
    await new Promise((resolve) => setTimeout(resolve, 200));
    await blocker.query('commit');
    expect((await inFlight).status).toBe(200);
    await closing;
    await expect(fetch(`${second.url}/healthz`)).rejects.toThrow();
  });
});

describe('CORS', () => {
  it('is off unless origins are configured', async () => {
    const off = createHarness(db);
    const plain = await off.app.request('/healthz', { headers: { origin: 'https://app.example.test' } });
    expect(plain.headers.get('access-control-allow-origin')).toBeNull();
    const on = createHarness(db, { app: { corsOrigins: ['https://app.example.test'] } });
    const allowed = await on.app.request('/healthz', { headers: { origin: 'https://app.example.test' } });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example.test');
    const other = await on.app.request('/healthz', { headers: { origin: 'https://evil.example.test' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });
});
