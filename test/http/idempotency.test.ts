import { beforeAll, describe, expect, it } from 'vitest';
import { TEST_ROLES } from '../helpers/cluster.js';
import { createHarness, useHarness, type TestTenant } from '../helpers/http.js';

const context = useHarness();
let a: TestTenant;
let b: TestTenant;
beforeAll(async () => {
  a = await context.h.tenant('Acme');
  b = await context.h.tenant('Globex');
});

const post = (t: TestTenant, key: string, body: unknown) => context.h.call('POST', '/v1/projects', { token: t.token, body, headers: { 'idempotency-key': key } });
const count = async (t: TestTenant, name: string) =>
  (await context.h.call('GET', '/v1/projects?limit=100', { token: t.token })).body.data.filter((p: { name: string }) => p.name === name).length;

describe('Idempotency-Key', () => {
  it('replays the stored response for a retry, without running it again', async () => {
    const first = await post(a, 'key-replay', { name: 'Once' });
    const second = await post(a, 'key-replay', { name: 'Once' });
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.body).toEqual(first.body);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(second.headers.get('etag')).toBe(first.headers.get('etag'));
    expect(second.headers.get('location')).toBe(first.headers.get('location'));
    // The replay is the retry's own response: its own request id, not the stored one.
    expect(second.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(second.headers.get('x-request-id')).not.toBe(first.headers.get('x-request-id'));
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(await count(a, 'Once')).toBe(1);
    const audit = await context.h.call('GET', `/v1/audit-log?entity_id=${first.body.id}`, { token: a.token });
    expect(audit.body.data).toHaveLength(1);
  });

  it('refuses the same key with a different request (422)', async () => {
    await post(a, 'key-fingerprint', { name: 'First' });
    const other = await post(a, 'key-fingerprint', { name: 'Second' });
    expect(other.status).toBe(422);
    expect(other.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
    const otherPath = await context.h.call('POST', '/v1/documents', { token: a.token, body: { name: 'First' }, headers: { 'idempotency-key': 'key-fingerprint' } });
    expect(otherPath.status).toBe(422);
    expect(await count(a, 'Second')).toBe(0);
  });

  it('answers 409 while the first request with the key is still running', async () => {
    const project = await context.h.call('POST', '/v1/projects', { token: a.token, body: { name: 'Held' } });
    const blocker = await context.db.ownerClient();
    await blocker.query(`begin; set local role ${TEST_ROLES.system}; select 1 from projects where tenant_id = '${a.id}' and id = '${project.body.id}' for update`);
    const patch = (name: string) => context.h.call('PATCH', `/v1/projects/${project.body.id}`, { token: a.token, body: { name }, headers: { 'idempotency-key': 'key-inflight' } });
    const first = patch('Renamed');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const concurrent = await patch('Renamed');
    expect(concurrent.status).toBe(409);
    expect(concurrent.body.code).toBe('IDEMPOTENCY_KEY_IN_USE');
    await blocker.query('commit');
    expect((await first).status).toBe(200);
    const retry = await patch('Renamed');
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
  });

  it('forgets keys after their time to live', async () => {
    const short = createHarness(context.db, { app: { idempotencyTtlSeconds: 1 } });
    const t = await short.tenant('Short');
    const send = () => short.call('POST', '/v1/projects', { token: t.token, body: { name: 'Twice' }, headers: { 'idempotency-key': 'key-expiry' } });
    const first = await send();
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const later = await send();
    expect(later.status).toBe(201);
    expect(later.headers.get('idempotent-replayed')).toBeNull();
    expect(later.body.id).not.toBe(first.body.id);
  });

  it('is tenant-scoped: the same key string from another tenant runs normally', async () => {
    const mine = await post(a, 'key-shared', { name: 'Shared name' });
    const theirs = await post(b, 'key-shared', { name: 'Shared name' });
    expect(theirs.status).toBe(201);
    expect(theirs.headers.get('idempotent-replayed')).toBeNull();
    expect(theirs.body.id).not.toBe(mine.body.id);
    expect((await context.h.call('GET', `/v1/projects/${theirs.body.id}`, { token: b.token })).status).toBe(200);
    expect((await context.h.call('GET', `/v1/projects/${mine.body.id}`, { token: b.token })).status).toBe(404);
  });

  it('stores nothing for a request that failed, so it can be corrected and sent again', async () => {
    const failed = await context.h.call('POST', '/v1/tasks', {
      token: a.token,
      body: { project_id: '00000000-0000-4000-8000-000000000000', title: 't' },
      headers: { 'idempotency-key': 'key-failed' },
    });
    expect(failed.status).toBe(422);
    const again = await context.h.call('POST', '/v1/tasks', {
      token: a.token,
      body: { project_id: '00000000-0000-4000-8000-000000000000', title: 't' },
      headers: { 'idempotency-key': 'key-failed' },
    });
    expect(again.status).toBe(422);
    expect(again.headers.get('idempotent-replayed')).toBeNull();
  });

  it('replays a DELETE, and refuses malformed keys', async () => {
    const project = await context.h.call('POST', '/v1/projects', { token: a.token, body: { name: 'Gone' } });
    const del = () => context.h.call('DELETE', `/v1/projects/${project.body.id}`, { token: a.token, headers: { 'idempotency-key': 'key-delete' } });
    expect((await del()).status).toBe(204);
    const replayed = await del();
    expect(replayed.status).toBe(204);
    expect(replayed.headers.get('idempotent-replayed')).toBe('true');
    const bad = await context.h.call('POST', '/v1/projects', { token: a.token, body: { name: 'x' }, headers: { 'idempotency-key': 'has spaces in it' } });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('INVALID_IDEMPOTENCY_KEY');
  });
});

describe('Idempotency-Key is bound to the caller', () => {
  const apiKeyBody = { name: 'deploy', scopes: ['read', 'write'] };

  it('never replays one principal’s response to another: the same key string runs as a new request', async () => {
    const writer = await context.h.member(a, 'member');
    const mine = await post(a, 'key-other-principal', { name: 'Owner made' });
    const theirs = await context.h.call('POST', '/v1/projects', { token: writer.token, body: { name: 'Owner made' }, headers: { 'idempotency-key': 'key-other-principal' } });
    expect(theirs.status).toBe(201);
    expect(theirs.headers.get('idempotent-replayed')).toBeNull();
    expect(theirs.body.id).not.toBe(mine.body.id);
    // Each replays its own afterwards.
    const again = await context.h.call('POST', '/v1/projects', { token: writer.token, body: { name: 'Owner made' }, headers: { 'idempotency-key': 'key-other-principal' } });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.id).toBe(theirs.body.id);
  });

  it('gives a viewer who knows an admin’s key a 403, not the admin’s response', async () => {
    const admin = await context.h.member(a, 'admin');
    const viewer = await context.h.member(a, 'viewer');
    const created = await context.h.call('POST', '/v1/api-keys', { token: admin.token, body: apiKeyBody, headers: { 'idempotency-key': 'key-admin-secret' } });
    expect(created.status).toBe(201);
    const stolen = await context.h.call('POST', '/v1/api-keys', { token: viewer.token, body: apiKeyBody, headers: { 'idempotency-key': 'key-admin-secret' } });
    expect(stolen.status).toBe(403);
    expect(JSON.stringify(stolen.body)).not.toContain(created.body.key);
    expect(stolen.headers.get('idempotent-replayed')).toBeNull();
  });

  it('checks permission before a replay: a principal demoted since gets 403', async () => {
    const writer = await context.h.member(a, 'member');
    const send = () => context.h.call('POST', '/v1/projects', { token: writer.token, body: { name: 'Before demotion' }, headers: { 'idempotency-key': 'key-demoted' } });
    expect((await send()).status).toBe(201);
    expect((await context.h.call('PATCH', `/v1/members/${writer.id}`, { token: a.token, body: { role: 'viewer' } })).status).toBe(200);
    const replay = await send();
    expect(replay.status).toBe(403);
    expect(replay.headers.get('idempotent-replayed')).toBeNull();
  });

  it('binds API-key callers to their key: another key of the tenant runs its own request', async () => {
    const keyOf = async (name: string) => (await context.h.call('POST', '/v1/api-keys', { token: a.token, body: { name, scopes: ['read', 'write'] } })).body.key as string;
    const [first, second] = [await keyOf('one'), await keyOf('two')];
    const one = await context.h.call('POST', '/v1/projects', { token: first, body: { name: 'By key' }, headers: { 'idempotency-key': 'key-by-api-key' } });
    const two = await context.h.call('POST', '/v1/projects', { token: second, body: { name: 'By key' }, headers: { 'idempotency-key': 'key-by-api-key' } });
    expect(one.status).toBe(201);
    expect(two.status).toBe(201);
    expect(two.headers.get('idempotent-replayed')).toBeNull();
    expect(two.body.id).not.toBe(one.body.id);
  });
});

describe('Idempotency-Key and one-time secrets', () => {
  // Everything the table holds, as text, read past every policy.
  const storedText = async () => {
    const su = await context.db.superuserClient();
    const { rows } = await su.query<{ row: string }>('select t::text as row from idempotency_keys t');
    await su.end();
    return rows.map((r) => r.row).join('\n');
  };

  const secretRequests: [string, () => Promise<{ secret: string; retry: () => ReturnType<typeof context.h.call> }>][] = [
    [
      'API key creation',
      async () => {
        const send = () => context.h.call('POST', '/v1/api-keys', { token: a.token, body: { name: 'ci', scopes: ['read'] }, headers: { 'idempotency-key': 'key-secret-api-key' } });
        const reply = await send();
        expect(reply.status).toBe(201);
        return { secret: reply.body.key, retry: send };
      },
    ],
    [
      'webhook creation',
      async () => {
        const send = () =>
          context.h.call('POST', '/v1/webhooks', { token: a.token, body: { url: 'https://hooks.example.com/in', event_types: ['project.created'] }, headers: { 'idempotency-key': 'key-secret-webhook' } });
        const reply = await send();
        expect(reply.status).toBe(201);
        return { secret: reply.body.secret, retry: send };
      },
    ],
    [
      'webhook secret rotation',
      async () => {
        const hook = await context.h.call('POST', '/v1/webhooks', { token: a.token, body: { url: 'https://hooks.example.com/rotate', event_types: ['project.created'] } });
        const send = () => context.h.call('POST', `/v1/webhooks/${hook.body.id}/rotate-secret`, { token: a.token, headers: { 'idempotency-key': 'key-secret-rotation' } });
        const reply = await send();
        expect(reply.status).toBe(200);
        return { secret: reply.body.secret, retry: send };
      },
    ],
  ];

  it.each(secretRequests)('%s: the secret is never stored, and a retry is refused with a clear code', async (_name, run) => {
    const { secret, retry } = await run();
    expect(secret).toMatch(/^(rg_|whsec_)/);
    const stored = await storedText();
    expect(stored).not.toContain(secret);
    expect(stored).not.toContain(secret.slice(secret.indexOf('_') + 1, secret.indexOf('_') + 17));
    const again = await retry();
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('IDEMPOTENT_SECRET_NOT_REPLAYED');
    expect(JSON.stringify(again.body)).not.toContain(secret);
    expect(await storedText()).not.toContain(secret);
  });
});
