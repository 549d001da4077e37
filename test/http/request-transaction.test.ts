import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCitus } from '@rowguard/kernel';
import { registerResource } from '../../src/http/resource.js';
import { apiKeys } from '../../src/http/routes/api-keys.js';
import { projects } from '../../src/http/routes/projects.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { createHarness, type Harness, type TestTenant } from '../helpers/http.js';

// One transaction per request: what it commits, what it rolls back, and what the database
// itself refuses when a handler forgets the application's permission check.
let db: TestDatabase;
let h: Harness;
let admin: pg.Client;
let acme: TestTenant;

beforeAll(async () => {
  db = await createTestDatabase();
  h = createHarness(db);
  // Careless copies of real routes: they ask only for the read permission where the real
  // ones ask for write (projects) and manage (API keys), as a handler that forgot authorize().
  registerResource(h.app, { ...projects, path: '/v1/careless-projects', write: 'read' });
  registerResource(h.app, { ...apiKeys, path: '/v1/careless-api-keys', read: 'read', write: 'read' });
  admin = await db.superuserClient();
  acme = await h.tenant('Acme');
});
afterAll(() => db.close());

const count = async (sql: string, values: unknown[]) => Number((await admin.query(`select count(*) as n ${sql}`, values)).rows[0].n);

describe('permissions held in the database, behind a handler that forgot to check them', () => {
  it('a viewer cannot create, change or delete through a route that asks only for read', async () => {
    const viewer = await h.member(acme, 'viewer');
    const created = await h.call('POST', '/v1/careless-projects', { token: viewer.token, body: { name: 'By a viewer' } });
    expect([created.status, created.body.code]).toEqual([403, 'FORBIDDEN']);
    expect(await count(`from projects where tenant_id = $1 and name = 'By a viewer'`, [acme.id])).toBe(0);

    const project = await h.call('POST', '/v1/projects', { token: acme.token, body: { name: 'Owned' } });
    const patched = await h.call('PATCH', `/v1/careless-projects/${project.body.id}`, { token: viewer.token, body: { name: 'Renamed by a viewer' } });
    expect(patched.status).not.toBe(200);
    const deleted = await h.call('DELETE', `/v1/careless-projects/${project.body.id}`, { token: viewer.token });
    expect(deleted.status).not.toBe(204);
    expect((await admin.query('select name from projects where id = $1', [project.body.id])).rows).toEqual([{ name: 'Owned' }]);
  });

  it('the same careless route lets a member write: the database holds the permission, not the route', async () => {
    const member = await h.member(acme, 'member');
    const created = await h.call('POST', '/v1/careless-projects', { token: member.token, body: { name: 'By a member' } });
    expect(created.status).toBe(201);
    expect(await count(`from projects where tenant_id = $1 and name = 'By a member'`, [acme.id])).toBe(1);
  });

  it('a member neither reads nor creates API keys through routes that ask only for read', async () => {
    await h.call('POST', '/v1/api-keys', { token: acme.token, body: { name: 'owner key', scopes: ['read'] } });
    const member = await h.member(acme, 'member');
    const listed = await h.call('GET', '/v1/careless-api-keys', { token: member.token });
    expect(listed.status).toBe(200);
    expect(listed.body.data).toEqual([]);
    const created = await h.call('POST', '/v1/careless-api-keys', { token: member.token, body: { name: 'member key', scopes: ['read'] } });
    expect([created.status, created.body.code]).toEqual([403, 'FORBIDDEN']);
    expect(await count(`from api_keys where tenant_id = $1 and name = 'member key'`, [acme.id])).toBe(0);
  });

  it('a read-only API key cannot write through a careless route either', async () => {
    const key = (await h.call('POST', '/v1/api-keys', { token: acme.token, body: { name: 'reader', scopes: ['read'] } })).body.key as string;
    const created = await h.call('POST', '/v1/careless-projects', { token: key, body: { name: 'By a read key' } });
    expect([created.status, created.body.code]).toEqual([403, 'FORBIDDEN']);
    expect(await count(`from projects where tenant_id = $1 and name = 'By a read key'`, [acme.id])).toBe(0);
  });
});

describe('an Idempotency-Key request commits its write only with its stored response', () => {
  beforeAll(async () => {
    // Storing the response fails after the handler's last statement has run.
    await admin.query(`
      create function fail_store() returns trigger language plpgsql as $$
      begin if new.key like 'fail-%' then raise exception 'cannot store'; end if; return new; end $$`);
    // On Citus the trigger runs on the shards, which Citus wants to be told is safe.
    if (await isCitus(admin)) await admin.query('set citus.enable_unsafe_triggers = on');
    await admin.query(`create trigger fail_store before insert on idempotency_keys for each row execute function fail_store()`);
  });

  it('when the response cannot be stored, the write is rolled back and the answer is 500', async () => {
    const reply = await h.call('POST', '/v1/projects', { token: acme.token, body: { name: 'Not stored' }, headers: { 'idempotency-key': 'fail-1' } });
    expect([reply.status, reply.body.code]).toEqual([500, 'INTERNAL']);
    expect(await count(`from projects where tenant_id = $1 and name = 'Not stored'`, [acme.id])).toBe(0);
    expect(await count(`from audit_log where tenant_id = $1 and action = 'project.created' and changes->>'name' = 'Not stored'`, [acme.id])).toBe(0);
    // The retry runs as new once the store works.
    const retry = await h.call('POST', '/v1/projects', { token: acme.token, body: { name: 'Not stored' }, headers: { 'idempotency-key': 'ok-1' } });
    expect(retry.status).toBe(201);
    expect(await count(`from projects where tenant_id = $1 and name = 'Not stored'`, [acme.id])).toBe(1);
  });

  it('a handler whose write is its last statement: the COMMIT waits for the stored response', async () => {
    const harness = createHarness(db);
    harness.app.post('/v1/last-write', async (c) => {
      const { rows } = await c.var.scope.last(`insert into projects (tenant_id, name) values ($1, 'Last write') returning id`, [c.var.scope.tenantId]);
      return c.json(rows[0], 201);
    });
    const t = await harness.tenant('Last');
    const reply = await harness.call('POST', '/v1/last-write', { token: t.token, headers: { 'idempotency-key': 'fail-3' } });
    expect(reply.status).toBe(500);
    expect(await count(`from projects where tenant_id = $1 and name = 'Last write'`, [t.id])).toBe(0);
  });

  it('a DELETE whose last statement carries its record is rolled back too', async () => {
    const project = await h.call('POST', '/v1/projects', { token: acme.token, body: { name: 'Kept' } });
    const reply = await h.call('DELETE', `/v1/projects/${project.body.id}`, { token: acme.token, headers: { 'idempotency-key': 'fail-2' } });
    expect(reply.status).toBe(500);
    expect(await count('from projects where id = $1', [project.body.id])).toBe(1);
  });
});

describe('an error response rolls back what the handler wrote', () => {
  it('a handler that writes and then returns 4xx without throwing leaves nothing behind', async () => {
    const harness = createHarness(db);
    harness.app.post('/v1/write-then-refuse', async (c) => {
      await c.var.scope.query(`insert into projects (tenant_id, name) values ($1, 'Written then refused')`, [c.var.scope.tenantId]);
      return c.json({ code: 'REFUSED' }, 409);
    });
    const t = await harness.tenant('Refuser');
    const reply = await harness.call('POST', '/v1/write-then-refuse', { token: t.token });
    expect(reply.status).toBe(409);
    expect(await count(`from projects where name = 'Written then refused'`, [])).toBe(0);
  });
});
