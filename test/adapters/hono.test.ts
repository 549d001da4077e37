import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { stream } from 'hono/streaming';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kernel } from '@rowguard/kernel';
import { tenantMiddleware, type TenantVariables } from '@rowguard/kernel/hono';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { createNotesSchema } from '../helpers/own-schema.js';

let db: TestDatabase;
let kernel: Kernel;
let appPool: pg.Pool;
const [a, b] = [randomUUID(), randomUUID()];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const checkedOut = () => appPool.totalCount - appPool.idleCount;
let streaming: { checkedOutDuringStream: number; lateError: unknown } = { checkedOutDuringStream: -1, lateError: null };
let aborted: { written: boolean; release: () => void; gone: Promise<void> };

/** An app written as a team would: the tenant from the caller's own check, no tenant filter in the SQL. */
function app() {
  const api = new Hono<{ Variables: TenantVariables }>();
  api.use(
    '/api/*',
    tenantMiddleware({
      kernel,
      tenantOf: (c) => {
        const tenant = c.req.header('x-test-tenant');
        if (!tenant) throw new HTTPException(401, { message: 'no credential' });
        return tenant;
      },
    }),
  );
  const author = (c: { var: TenantVariables }, name: string) => c.var.tx.query<{ id: string }>('insert into authors (name) values ($1) returning id', [name]);
  api.get('/api/authors', async (c) => c.json((await c.var.tx.query('select name from authors order by name')).rows.map((r) => r.name)));
  api.post('/api/ok', async (c) => c.json((await author(c, 'kept')).rows[0], 201));
  api.post('/api/throws', async (c) => {
    await author(c, 'thrown');
    throw new Error('the handler failed after writing');
  });
  api.post('/api/returns-422', async (c) => {
    await author(c, 'refused');
    return c.json({ error: 'invalid' }, 422);
  });
  api.post('/api/http-exception', async (c) => {
    await author(c, 'forbidden');
    throw new HTTPException(403);
  });
  api.get('/api/no-database', (c) => c.text(`tenant ${c.var.tenantId}`));
  api.get('/api/stream', async (c) => {
    const names = (await c.var.tx.query('select name from authors order by name')).rows.map((r) => r.name as string);
    return stream(c, async (s) => {
      await sleep(50);
      streaming.checkedOutDuringStream = checkedOut();
      streaming.lateError = await c.var.tx.query('select 1').catch((error: unknown) => error);
      await s.write(names.join(','));
    });
  });
  api.post('/api/slow', async (c) => {
    await author(c, 'abandoned');
    aborted.written = true;
    await aborted.gone; // the client is gone by now
    return c.json({ ok: true }, 201);
  });
  return api;
}

const names = async (tenant: string) => (await kernel.withTenant(tenant, (tx) => tx.query('select name from authors order by name'))).rows.map((r) => r.name);

beforeAll(async () => {
  db = await createTestDatabase();
  await createNotesSchema(db);
  ({ kernel, appPool } = db.kernel());
});
afterAll(() => db.close());

describe('tenantMiddleware (Hono)', () => {
  it('commits a successful write and scopes every statement to the caller’s tenant', async () => {
    const api = app();
    expect((await api.request('/api/ok', { method: 'POST', headers: { 'x-test-tenant': a } })).status).toBe(201);
    expect((await api.request('/api/ok', { method: 'POST', headers: { 'x-test-tenant': b } })).status).toBe(201);
    expect(await (await api.request('/api/authors', { headers: { 'x-test-tenant': a } })).json()).toEqual(['kept']);
    expect(await names(a)).toEqual(['kept']);
    expect(checkedOut()).toBe(0);
  });

  it('rolls back a write when the handler then throws, returns a 4xx, or throws an HTTPException', async () => {
    const api = app();
    const tenant = randomUUID();
    expect((await api.request('/api/throws', { method: 'POST', headers: { 'x-test-tenant': tenant } })).status).toBe(500);
    expect((await api.request('/api/returns-422', { method: 'POST', headers: { 'x-test-tenant': tenant } })).status).toBe(422);
    expect((await api.request('/api/http-exception', { method: 'POST', headers: { 'x-test-tenant': tenant } })).status).toBe(403);
    expect(await names(tenant)).toEqual([]);
    expect(checkedOut()).toBe(0);
  });

  it('refuses a missing or malformed tenant with a 401 before any statement', async () => {
    const api = app();
    expect((await api.request('/api/authors')).status).toBe(401);
    expect((await api.request('/api/authors', { headers: { 'x-test-tenant': "x' or true --" } })).status).toBe(401);
  });

  it('holds no connection for a request that does no database work', async () => {
    const before = appPool.totalCount;
    const reply = await app().request('/api/no-database', { headers: { 'x-test-tenant': a.toUpperCase() } });
    expect(await reply.text()).toBe(`tenant ${a}`);
    expect(appPool.totalCount).toBe(before);
    expect(checkedOut()).toBe(0);
  });

  it('ends the transaction when a streaming response starts: no connection held while it streams', async () => {
    streaming = { checkedOutDuringStream: -1, lateError: null };
    const reply = await app().request('/api/stream', { headers: { 'x-test-tenant': a } });
    expect(await reply.text()).toBe('kept');
    expect(streaming.checkedOutDuringStream).toBe(0);
    expect(streaming.lateError).toMatchObject({ code: 'TRANSACTION_CLOSED' });
  });

  it('rolls back when the client goes away before the response is ready', async () => {
    let release!: () => void;
    aborted = { written: false, release: () => release(), gone: new Promise<void>((resolve) => (release = resolve)) };
    const server: ServerType = serve({ fetch: app().fetch, hostname: '127.0.0.1', port: 0 });
    await new Promise((resolve) => server.once('listening', resolve));
    const { port } = server.address() as AddressInfo;
    const tenant = randomUUID();
    const client = new AbortController();
    const request = fetch(`http://127.0.0.1:${port}/api/slow`, { method: 'POST', headers: { 'x-test-tenant': tenant }, signal: client.signal }).catch(() => 'aborted');
    while (!aborted.written) await sleep(10);
    client.abort();
    expect(await request).toBe('aborted');
    await sleep(100); // the server sees the socket close
    aborted.release();
    await sleep(100);
    expect(await names(tenant)).toEqual([]);
    expect(checkedOut()).toBe(0);
    (server as import('node:http').Server).closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
});
