import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll } from 'vitest';
import { createApp, type AppOptions } from '../../src/http/app.js';
import { createJwtVerifier, type JwtOptions } from '../../src/http/auth/jwt-verifier.js';
import { mintToken } from '../../src/http/auth/mint-token.js';
import { createOutboxNudge } from '../../src/jobs/outbox-nudge.js';
import { createTestDatabase, type TestDatabase } from './database.js';

export interface CallOptions {
  token?: string;
  body?: unknown;
  /** Raw body text (sent as is). */
  raw?: string;
  headers?: Record<string, string>;
}

export interface Reply {
  status: number;
  headers: Headers;
  body: any;
}

export interface TestTenant {
  id: string;
  ownerId: string;
  /** A JWT for the tenant's owner. */
  token: string;
}

/**
 * The real app, in process, over a test database: requests go through app.request. The
 * kernel's tenant context is the service's default (`auto`): set_config on plain PostgreSQL,
 * SET LOCAL on Citus.
 */
export function createHarness(db: TestDatabase, options: { jwt?: JwtOptions; app?: Partial<AppOptions>; kernel?: Parameters<TestDatabase['kernel']>[0] } = {}) {
  const tenantContext = process.env.ROWGUARD_TEST_ON_CITUS === '1' ? 'set-local' : 'set-config';
  const { kernel } = db.kernel({ tenantContext, ...options.kernel });
  const jwtSecret = randomBytes(32).toString('base64url');
  const adminToken = randomBytes(32).toString('base64url');
  const app = createApp({
    kernel,
    log: pino({ level: process.env.ROWGUARD_TEST_LOG ?? 'silent' }),
    ready: () => kernel.ping(),
    verifyJwt: createJwtVerifier(options.jwt ?? { secret: jwtSecret }),
    adminToken,
    bodyLimit: 64 * 1024,
    corsOrigins: [],
    nudgeOutbox: createOutboxNudge(kernel),
    ...options.app,
  });

  async function call(method: string, path: string, { token, body, raw, headers = {} }: CallOptions = {}): Promise<Reply> {
    const init: RequestInit = { method, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } };
    if (body !== undefined || raw !== undefined) {
      init.body = raw ?? JSON.stringify(body);
      init.headers = { 'content-type': 'application/json', ...init.headers };
    }
    const response = await app.request(path, init);
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, headers: response.headers, body: parsed };
  }

  const mint = (tenantId: string, userId: string, ttl = '10m') => mintToken({ secret: jwtSecret, tenantId, userId, tenantClaim: 'tid', ttl });

  /** A tenant with an owner, created through the admin API. */
  async function tenant(name = `Tenant ${randomBytes(3).toString('hex')}`, owner = `owner-${randomBytes(4).toString('hex')}`): Promise<TestTenant> {
    const reply = await call('POST', '/admin/tenants', { token: adminToken, body: { name, owner: { user_id: owner, email: `${owner}@example.test` } } });
    if (reply.status !== 201) throw new Error(`tenant creation failed: ${JSON.stringify(reply.body)}`);
    return { id: reply.body.id, ownerId: reply.body.owner.id, token: await mint(reply.body.id, owner) };
  }

  /** Adds a member with `role` to the tenant (as its owner) and returns a token for them. */
  async function member(t: TestTenant, role: string, userId = `${role}-${randomBytes(4).toString('hex')}`): Promise<{ id: string; token: string }> {
    const reply = await call('POST', '/v1/members', { token: t.token, body: { user_id: userId, email: `${userId}@example.test`, role } });
    if (reply.status !== 201) throw new Error(`member creation failed: ${JSON.stringify(reply.body)}`);
    return { id: reply.body.id, token: await mint(t.id, userId) };
  }

  return { app, kernel, call, mint, tenant, member, adminToken, jwtSecret };
}

export type Harness = ReturnType<typeof createHarness>;

/** A database and harness of the test file's own: made before its tests, closed after. */
export function useHarness(): { db: TestDatabase; h: Harness } {
  const context = {} as { db: TestDatabase; h: Harness };
  beforeAll(async () => {
    context.db = await createTestDatabase();
    context.h = createHarness(context.db);
  });
  afterAll(() => context.db?.close());
  return context;
}
