import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { serve } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { stream } from 'hono/streaming';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kernel, Transaction } from '@rowguard/kernel';
import { tenantMiddleware as expressTenant } from '@rowguard/kernel/express';
import { tenantPlugin } from '@rowguard/kernel/fastify';
import { tenantMiddleware as honoTenant, type TenantVariables } from '@rowguard/kernel/hono';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { createNotesSchema } from '../helpers/own-schema.js';

let db: TestDatabase;
let kernel: Kernel;
let appPool: pg.Pool;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const checkedOut = () => appPool.totalCount - appPool.idleCount;

/** What the routes do, written once; each framework below mounts them its own way. */
type Outcome = { status: number; body: unknown } | { chunks: AsyncIterable<string> };
type Route = { method: 'GET' | 'POST'; path: string; handle: (tx: Transaction, tenantId: string) => Promise<Outcome> };
const seen = { duringStream: -1, lateError: null as unknown, written: false, gone: Promise.resolve() };
const addAuthor = (tx: Transaction, name: string) => tx.query<{ id: string }>('insert into authors (name) values ($1) returning id', [name]);
const routes: Route[] = [
  { method: 'GET', path: '/api/authors', handle: async (tx) => ({ status: 200, body: (await tx.query('select name from authors order by name')).rows.map((r) => r.name) }) },
  { method: 'POST', path: '/api/ok', handle: async (tx) => ({ status: 201, body: (await addAuthor(tx, 'kept')).rows[0] }) },
  {
    method: 'POST',
    path: '/api/throws',
    handle: async (tx) => {
      await addAuthor(tx, 'thrown');
      throw new Error('the handler failed after writing');
    },
  },
  { method: 'POST', path: '/api/returns-422', handle: async (tx) => (await addAuthor(tx, 'refused'), { status: 422, body: { error: 'invalid' } }) },
  { method: 'GET', path: '/api/no-database', handle: async (_tx, tenantId) => ({ status: 200, body: { tenantId } }) },
  // Deferred unique: both inserts succeed, the COMMIT fails.
  { method: 'POST', path: '/api/commit-fails', handle: async (tx) => (await tx.query("insert into labels (name) values ('twice'), ('twice')"), { status: 201, body: { ok: true } }) },
  {
    method: 'GET',
    path: '/api/stream',
    handle: async (tx) => {
      const names = (await tx.query('select name from authors order by name')).rows.map((r) => r.name as string);
      return {
        chunks: (async function* () {
          yield 'authors:';
          await sleep(50);
          seen.duringStream = checkedOut();
          seen.lateError = await tx.query('select 1').catch((error: unknown) => error);
          yield names.join(',');
        })(),
      };
    },
  },
  {
    method: 'POST',
    path: '/api/slow',
    handle: async (tx) => {
      await addAuthor(tx, 'abandoned');
      seen.written = true;
      await seen.gone;
      return { status: 201, body: { ok: true } };
    },
  },
];

/** The tenant from a test header, as a team's own credential check would give it. */
const header = (value: string | string[] | undefined) => (typeof value === 'string' ? value : undefined);

const frameworks: Record<string, () => Promise<Server>> = {
  async hono() {
    const app = new Hono<{ Variables: TenantVariables }>();
    app.use(
      '/api/*',
      honoTenant({
        kernel,
        tenantOf: (c) => header(c.req.header('x-tenant')) ?? Promise.reject(new HTTPException(401)),
      }),
    );
    for (const route of routes) {
      app.on(route.method, route.path, async (c) => {
        const outcome = await route.handle(c.var.tx, c.var.tenantId);
        if ('chunks' in outcome) return stream(c, async (s) => { for await (const chunk of outcome.chunks) await s.write(chunk); });
        return c.json(outcome.body, outcome.status as 200);
      });
    }
    app.onError((error, c) => (error instanceof HTTPException ? error.getResponse() : c.text('failed', 500)));
    const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }) as Server;
    await new Promise((resolve) => server.once('listening', resolve));
    return server;
  },
  async fastify() {
    const app = Fastify();
    await app.register(async (api) => {
      await api.register(tenantPlugin, {
        kernel,
        tenantOf: async (request) => header(request.headers['x-tenant']) ?? Promise.reject(Object.assign(new Error('no credential'), { statusCode: 401 })),
      });
      for (const route of routes) {
        api.route({
          method: route.method,
          url: route.path.replace('/api', ''),
          handler: async (request, reply) => {
            const outcome = await route.handle(request.tx, request.tenantId);
            if ('chunks' in outcome) return reply.send(Readable.from(outcome.chunks));
            return reply.code(outcome.status).send(outcome.body);
          },
        });
      }
    }, { prefix: '/api' });
    await app.listen({ host: '127.0.0.1', port: 0 });
    return app.server;
  },
  async express() {
    const app = express();
    app.use(
      '/api',
      expressTenant({
        kernel,
        tenantOf: async (req) => header(req.headers['x-tenant']) ?? Promise.reject(Object.assign(new Error('no credential'), { status: 401 })),
      }),
    );
    for (const route of routes) {
      app[route.method === 'GET' ? 'get' : 'post'](route.path, async (_req, res) => {
        const outcome = await route.handle(res.locals.tx, res.locals.tenantId);
        if (!('chunks' in outcome)) return void res.status(outcome.status).json(outcome.body);
        for await (const chunk of outcome.chunks) res.write(chunk);
        res.end();
      });
    }
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    return server;
  },
};

beforeAll(async () => {
  db = await createTestDatabase();
  await createNotesSchema(db);
  ({ kernel, appPool } = db.kernel());
});
afterAll(() => db.close());

const names = async (tenant: string) => (await kernel.withTenant(tenant, (tx) => tx.query('select name from authors order by name'))).rows.map((r) => r.name);

describe.each(Object.keys(frameworks))('the %s middleware', (framework) => {
  let server: Server;
  let base: string;
  const call = (method: string, path: string, tenant?: string, signal?: AbortSignal) => fetch(`${base}${path}`, { method, headers: tenant ? { 'x-tenant': tenant } : {}, signal });

  beforeAll(async () => {
    server = await frameworks[framework]!();
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('commits a successful write, and every statement sees only the caller’s tenant', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    expect((await call('POST', '/api/ok', a)).status).toBe(201);
    expect((await call('POST', '/api/ok', b)).status).toBe(201);
    expect(await (await call('GET', '/api/authors', a)).json()).toEqual(['kept']);
    expect(await names(a)).toEqual(['kept']);
    expect(checkedOut()).toBe(0);
  });

  it('rolls back a write when the handler then throws or answers 4xx', async () => {
    const tenant = randomUUID();
    expect((await call('POST', '/api/throws', tenant)).status).toBe(500);
    expect((await call('POST', '/api/returns-422', tenant)).status).toBe(422);
    expect(await names(tenant)).toEqual([]);
    expect(checkedOut()).toBe(0);
  });

  it('answers 500, not 201, when the commit itself fails', async () => {
    const tenant = randomUUID();
    expect((await call('POST', '/api/commit-fails', tenant)).status).toBe(500);
    expect((await kernel.withTenant(tenant, (tx) => tx.query('select count(*)::int as n from labels'))).rows).toEqual([{ n: 0 }]);
    expect(checkedOut()).toBe(0);
  });

  it('refuses a missing or malformed tenant with 401', async () => {
    expect((await call('GET', '/api/authors')).status).toBe(401);
    expect((await call('GET', '/api/authors', "x' or true --")).status).toBe(401);
  });

  it('takes no connection for a request that does no database work', async () => {
    const tenant = randomUUID();
    const before = appPool.totalCount;
    expect(await (await call('GET', '/api/no-database', tenant.toUpperCase())).json()).toEqual({ tenantId: tenant });
    expect(appPool.totalCount).toBe(before);
    expect(checkedOut()).toBe(0);
  });

  it('holds no connection while a response streams', async () => {
    const tenant = randomUUID();
    await call('POST', '/api/ok', tenant);
    seen.duringStream = -1;
    seen.lateError = null;
    expect(await (await call('GET', '/api/stream', tenant)).text()).toBe('authors:kept');
    expect(seen.duringStream).toBe(0);
    expect(seen.lateError).toMatchObject({ code: 'TRANSACTION_CLOSED' });
  });

  it('rolls back when the client goes away before the response is ready', async () => {
    const tenant = randomUUID();
    let release!: () => void;
    seen.written = false;
    seen.gone = new Promise<void>((resolve) => (release = resolve));
    const client = new AbortController();
    const request = call('POST', '/api/slow', tenant, client.signal).catch(() => 'aborted');
    while (!seen.written) await sleep(10);
    client.abort();
    expect(await request).toBe('aborted');
    await sleep(100); // the server sees the socket close
    release();
    await sleep(100);
    expect(await names(tenant)).toEqual([]);
    expect(checkedOut()).toBe(0);
  });
});
