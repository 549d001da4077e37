import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKernel, createPool, migrate, type Kernel } from '@rowguard/kernel';
import { expectTenantIsolation, startEmbeddedPostgres, type EmbeddedDatabase } from '@rowguard/testing';
import { createApp } from '../src/app.js';

const jwtSecret = 'an example secret of 32 bytes or more';
let dataDir: string;
let cluster: EmbeddedDatabase;
let kernel: Kernel;
let server: Server;
let base: string;
const [a, b] = [randomUUID(), randomUUID()];
const authors: Record<string, string> = {};

const token = (tenant: string) =>
  new SignJWT({ tid: tenant, sub: 'user' }).setProtectedHeader({ alg: 'HS256' }).setIssuer('example').setAudience('notes').setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode(jwtSecret));
const call = async (tenant: string | null, method: string, path: string, body?: unknown) => {
  const headers: Record<string, string> = body ? { 'content-type': 'application/json' } : {};
  if (tenant) headers.authorization = `Bearer ${await token(tenant)}`;
  const reply = await fetch(`${base}${path}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
  return { status: reply.status, body: await reply.json() };
};

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'example-'));
  cluster = await startEmbeddedPostgres({ dataDir, database: 'notes' });
  await migrate({ connectionString: cluster.ownerUrl, directory: 'migrations', variables: { app_role: 'rowguard_app', system_role: 'rowguard_system' } });
  kernel = createKernel({ appPool: createPool({ connectionString: cluster.appUrl }), systemPool: createPool({ connectionString: cluster.ownerUrl, max: 2 }), systemRole: 'rowguard_system' });
  server = createApp({ kernel, jwtSecret }).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  for (const [tenant, name] of [[a, 'Ada'], [b, 'Bob']] as const) {
    authors[tenant] = (await kernel.withTenant(tenant, (tx) => tx.query<{ id: string }>('insert into authors (name) values ($1) returning id', [name]))).rows[0]!.id;
  }
}, 120_000);
afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await cluster?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('the notes API', () => {
  it('joins notes and authors right (both have id) and shows a tenant only its own notes', async () => {
    const created = await call(a, 'POST', '/api/notes', { authorId: authors[a], title: 'Ada’s plan' });
    expect(created.status).toBe(201);
    expect((await call(a, 'GET', '/api/notes')).body).toEqual([{ id: created.body.id, title: 'Ada’s plan', authorId: authors[a], author: 'Ada' }]);
    expect((await call(b, 'GET', '/api/notes')).body).toEqual([]);
  });

  it('refuses a note pointing at another tenant’s author as if it did not exist', async () => {
    expect(await call(b, 'POST', '/api/notes', { authorId: authors[a], title: 'stolen' })).toEqual({ status: 422, body: { error: 'no such author' } });
  });

  it('rolls back a write whose request fails after it', async () => {
    expect((await call(b, 'POST', '/api/notes', { authorId: authors[b], title: ' ' })).status).toBe(422);
    expect((await call(b, 'GET', '/api/notes')).body).toEqual([]);
  });

  it('needs a valid token', async () => {
    expect((await call(null, 'GET', '/api/notes')).status).toBe(401);
  });

  it('passes the paranoid isolation test of every tenant table', async () => {
    await call(b, 'POST', '/api/notes', { authorId: authors[b], title: 'Bob’s list' });
    const { probe } = await expectTenantIsolation({ ownerUrl: cluster.superuserUrl, appUrl: cluster.appUrl, expectTables: 2, expectProbed: 2 });
    expect(probe.summary.fail).toBe(0);
  });
});
