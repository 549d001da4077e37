import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/http/auth/mint-token.js';
import { createJwtVerifier } from '../../src/http/auth/jwt-verifier.js';
import { RowguardError } from '../../packages/kernel/src/errors.js';
import { createHarness, useHarness, type TestTenant } from '../helpers/http.js';

const context = useHarness();
let a: TestTenant;
let b: TestTenant;
const owner = 'alice';

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);
/** Signs `claims` with iat now and exp in 10 minutes, unless `claims` has its own (even undefined). */
const sign = (claims: Record<string, unknown>, secret: string | Uint8Array, alg = 'HS256', header: Record<string, unknown> = {}) =>
  new SignJWT({ iat: now(), exp: now() + 600, ...claims }).setProtectedHeader({ alg, ...header }).sign(typeof secret === 'string' ? new TextEncoder().encode(secret) : secret);

beforeAll(async () => {
  a = await context.h.tenant('Acme', owner);
  b = await context.h.tenant('Globex', 'bob');
});

const projects = (token: string) => context.h.call('GET', '/v1/projects', { token });

describe('JWT', () => {
  it('accepts a valid token, and 401s without credentials', async () => {
    expect((await projects(a.token)).status).toBe(200);
    const none = await context.h.call('GET', '/v1/projects');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect(none.body.code).toBe('UNAUTHENTICATED');
  });

  it.each([
    ['alg none', async () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: owner, tid: a.id, exp: Math.floor(Date.now() / 1000) + 600 })}.`],
    ['a token signed with another key', () => sign({ sub: owner, tid: a.id, exp: Math.floor(Date.now() / 1000) + 600 }, 'x'.repeat(40))],
    ['an expired token', () => sign({ sub: owner, tid: a.id, exp: Math.floor(Date.now() / 1000) - 120 }, context.h.jwtSecret)],
    ['a token not valid yet', () => sign({ sub: owner, tid: a.id, nbf: Math.floor(Date.now() / 1000) + 600 }, context.h.jwtSecret)],
    ['a token without sub', () => sign({ tid: a.id }, context.h.jwtSecret)],
    ['a token whose tid is not a UUID', () => sign({ sub: owner, tid: "' or 1=1 --" }, context.h.jwtSecret)],
    ['an HS512 token (not in the allowlist)', () => sign({ sub: owner, tid: a.id }, context.h.jwtSecret, 'HS512')],
    ['garbage', async () => 'not.a.jwt'],
  ])('refuses %s with 401', async (_label, make) => {
    const reply = await projects(await make());
    expect(reply.status).toBe(401);
    expect(reply.body.code).toBe('UNAUTHENTICATED');
  });

  it('refuses a tampered payload (the tenant swapped, signature kept)', async () => {
    const [header, , signature] = a.token.split('.');
    const payload = JSON.parse(Buffer.from(a.token.split('.')[1]!, 'base64url').toString());
    const forged = `${header}.${b64({ ...payload, tid: b.id })}.${signature}`;
    expect((await projects(forged)).status).toBe(401);
  });

  it("gives 403 to a valid token for a tenant the user is not a member of", async () => {
    const reply = await projects(await context.h.mint(b.id, owner));
    expect(reply.status).toBe(403);
    expect(reply.body.code).toBe('NOT_A_MEMBER');
    expect((await projects(await context.h.mint('00000000-0000-4000-8000-000000000001', owner))).status).toBe(403);
  });

  it('gives 403 to a removed member', async () => {
    const m = await context.h.member(a, 'member');
    await context.h.call('PATCH', `/v1/members/${m.id}`, { token: a.token, body: { status: 'removed' } });
    expect((await projects(m.token)).body.code).toBe('NOT_A_MEMBER');
  });
});

describe('token lifetime', () => {
  const detail = async (token: string) => {
    const reply = await projects(token);
    expect(reply.status).toBe(401);
    expect(reply.body.code).toBe('UNAUTHENTICATED');
    return reply.body.detail as string;
  };
  const hours = (n: number) => Math.round(n * 3600);

  it('refuses a token without exp', async () => {
    expect(await detail(await sign({ sub: owner, tid: a.id, exp: undefined }, context.h.jwtSecret))).toBe('the token has no exp claim');
  });

  it('refuses a token whose exp - iat is longer than the maximum lifetime (24 h)', async () => {
    expect(await detail(await sign({ sub: owner, tid: a.id, iat: now(), exp: now() + hours(25) }, context.h.jwtSecret))).toBe('the token lives longer than 86400 seconds');
    // Issued an hour ago and valid for 23.5 more hours: exp is near enough, the lifetime is not.
    expect(await detail(await sign({ sub: owner, tid: a.id, iat: now() - hours(1), exp: now() + hours(23.5) }, context.h.jwtSecret))).toBe('the token lives longer than 86400 seconds');
  });

  it('refuses a token without iat whose exp is further away than the maximum lifetime', async () => {
    const token = await new SignJWT({ sub: owner, tid: a.id, exp: now() + hours(25) }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(context.h.jwtSecret));
    expect(await detail(token)).toBe('the token lives longer than 86400 seconds');
  });

  it('accepts a token of exactly the maximum lifetime, as the demo issues', async () => {
    expect((await projects(await context.h.mint(a.id, owner, '24h'))).status).toBe(200);
    const token = await new SignJWT({ sub: owner, tid: a.id, exp: now() + hours(23) }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(context.h.jwtSecret));
    expect((await projects(token)).status).toBe(200);
  });

  it('has a configurable maximum', async () => {
    const secret = context.h.jwtSecret;
    const short = createHarness(context.db, { jwt: { secret, maxLifetimeSeconds: 3600 } });
    expect((await short.call('GET', '/v1/projects', { token: await sign({ sub: owner, tid: a.id, exp: now() + 1800 }, secret) })).status).toBe(200);
    const long = await short.call('GET', '/v1/projects', { token: await sign({ sub: owner, tid: a.id, exp: now() + 7200 }, secret) });
    expect(long.status).toBe(401);
    expect(long.body.detail).toBe('the token lives longer than 3600 seconds');
    expect(() => createJwtVerifier({ secret, maxLifetimeSeconds: 0 })).toThrow(RowguardError);
  });

  it('the token command refuses to mint a token the service would refuse', async () => {
    const error = await mintToken({ secret: context.h.jwtSecret, tenantId: a.id, userId: owner, tenantClaim: 'tid', ttl: '7d' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RowguardError);
    expect((error as RowguardError).code).toBe('CONFIG_INVALID');
    const longer = await mintToken({ secret: context.h.jwtSecret, tenantId: a.id, userId: owner, tenantClaim: 'tid', ttl: '7d', maxLifetimeSeconds: 7 * 86_400 });
    const { iat, exp } = JSON.parse(Buffer.from(longer.split('.')[1]!, 'base64url').toString()) as { iat: number; exp: number };
    expect(exp - iat).toBe(7 * 86_400);
  });
});

describe('typ header', () => {
  it.each([undefined, 'JWT', 'jwt', 'at+jwt', 'AT+JWT', 'application/at+jwt', 'application/jwt'])('accepts typ %s', async (typ) => {
    expect((await projects(await sign({ sub: owner, tid: a.id }, context.h.jwtSecret, 'HS256', typ === undefined ? {} : { typ }))).status).toBe(200);
  });

  it.each(['JWE', 'dpop+jwt', 'secevent+jwt', 'logout+jwt', 'application/json', ''])('refuses typ %j', async (typ) => {
    const reply = await projects(await sign({ sub: owner, tid: a.id }, context.h.jwtSecret, 'HS256', { typ }));
    expect(reply.status).toBe(401);
    expect(reply.body.detail).toBe('the token is not an access token (typ)');
  });
});

describe('issuer and audience with a public key or JWKS', () => {
  let pem: string;
  beforeAll(async () => {
    pem = await exportSPKI((await generateKeyPair('ES256', { extractable: true })).publicKey);
  });

  it.each([
    ['a PEM key without issuer and audience', () => ({ publicKeyPem: pem })],
    ['a PEM key with an issuer only', () => ({ publicKeyPem: pem, issuer: 'https://idp.example.test' })],
    ['a JWKS URL with an audience only', () => ({ jwksUrl: 'https://idp.example.test/jwks.json', audience: 'rowguard' })],
  ])('refuses to start with %s', (_label, options) => {
    let error: unknown;
    try {
      createJwtVerifier(options());
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RowguardError);
    expect((error as RowguardError).code).toBe('CONFIG_INVALID');
    expect((error as RowguardError).message).toMatch(/ROWGUARD_JWT_ISSUER and ROWGUARD_JWT_AUDIENCE/);
  });

  it('starts when both are given, when the requirement is turned off, and with a shared secret', () => {
    expect(createJwtVerifier({ publicKeyPem: pem, issuer: 'https://idp.example.test', audience: 'rowguard' })).toBeTypeOf('function');
    expect(createJwtVerifier({ publicKeyPem: pem, requireIssuerAudience: false })).toBeTypeOf('function');
    expect(createJwtVerifier({ secret: context.h.jwtSecret })).toBeTypeOf('function');
  });
});

describe('shared secret with more than one HMAC algorithm allowed', () => {
  it('verifies each allowed algorithm with the same secret and still refuses the others', async () => {
    const secret = context.h.jwtSecret;
    const h = createHarness(context.db, { jwt: { secret, algorithms: ['HS256', 'HS512'] } });
    for (const alg of ['HS512', 'HS256', 'HS512']) {
      expect((await h.call('GET', '/v1/projects', { token: await sign({ sub: owner, tid: a.id }, secret, alg) })).status).toBe(200);
    }
    expect((await h.call('GET', '/v1/projects', { token: await sign({ sub: owner, tid: a.id }, secret, 'HS384') })).status).toBe(401);
    expect((await h.call('GET', '/v1/projects', { token: await sign({ sub: owner, tid: a.id }, 'another secret of sufficient length!!', 'HS512') })).status).toBe(401);
  });
});

describe('asymmetric keys', () => {
  it.each(['RS256', 'ES256', 'EdDSA'] as const)('verifies %s from a PEM key and refuses algorithm confusion', async (alg) => {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    const pem = await exportSPKI(publicKey);
    const rsa = createHarness(context.db, { jwt: { publicKeyPem: pem, issuer: 'https://idp.example.test', audience: 'rowguard' } });
    const good = await new SignJWT({ sub: owner, tid: a.id }).setProtectedHeader({ alg }).setIssuer('https://idp.example.test').setAudience('rowguard').setExpirationTime('5m').sign(privateKey);
    expect((await rsa.call('GET', '/v1/projects', { token: good })).status).toBe(200);
    // The classic confusion attack: an HS256 token "signed" with the public key as the secret.
    const confused = await sign({ sub: owner, tid: a.id, iss: 'https://idp.example.test', aud: 'rowguard' }, pem);
    expect((await rsa.call('GET', '/v1/projects', { token: confused })).status).toBe(401);
  });

  describe('from a JWKS URL, with issuer and audience checks', () => {
    let server: Server;
    let url: string;
    let privateKey: CryptoKey;
    beforeAll(async () => {
      const pair = await generateKeyPair('ES256', { extractable: true });
      privateKey = pair.privateKey;
      const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
      server = createServer((req, res) => {
        fetches.push(req.url ?? '');
        // /hang never answers: an identity provider that accepts connections and stalls.
        if (req.url?.startsWith('/hang')) return;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as { port: number }).port}/jwks.json`;
    });
    afterAll(() => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const fetches: string[] = [];
    const idp = { issuer: 'https://idp.example.test', audience: 'rowguard' };
    const signed = (kid = 'k1') => new SignJWT({ sub: owner, tid: a.id }).setProtectedHeader({ alg: 'ES256', kid }).setIssuer(idp.issuer).setAudience(idp.audience).setExpirationTime('5m').sign(privateKey);
    const fetchesOf = (path: string) => fetches.filter((f) => f === path).length;

    it('gives up on a stalled JWKS fetch after jwksTimeoutMs', async () => {
      const jwks = createHarness(context.db, { jwt: { jwksUrl: url.replace('/jwks.json', '/hang/timeout'), ...idp, jwksTimeoutMs: 200 } });
      const started = Date.now();
      const reply = await jwks.call('GET', '/v1/projects', { token: await signed() });
      expect(reply.status).toBe(401);
      // jose's own default is 5 s; the configured 200 ms must be what applies.
      expect(Date.now() - started).toBeLessThan(2500);
      expect(fetchesOf('/hang/timeout')).toBe(1);
    });

    it('caches the key set: one fetch for many tokens, unknown kids within the cooldown fetch nothing more', async () => {
      const jwks = createHarness(context.db, { jwt: { jwksUrl: `${url}?cached`, ...idp } });
      for (let i = 0; i < 3; i++) expect((await jwks.call('GET', '/v1/projects', { token: await signed() })).status).toBe(200);
      for (let i = 0; i < 3; i++) expect((await jwks.call('GET', '/v1/projects', { token: await signed(`unknown-${i}`) })).status).toBe(401);
      expect(fetchesOf('/jwks.json?cached')).toBe(1);
    });

    it('fetches again once the cache is older than jwksCacheMaxAgeMs', async () => {
      const jwks = createHarness(context.db, { jwt: { jwksUrl: `${url}?uncached`, ...idp, jwksCacheMaxAgeMs: 0 } });
      for (let i = 0; i < 2; i++) expect((await jwks.call('GET', '/v1/projects', { token: await signed() })).status).toBe(200);
      expect(fetchesOf('/jwks.json?uncached')).toBe(2);
    });

    it('accepts the right issuer and audience, refuses others', async () => {
      const jwks = createHarness(context.db, { jwt: { jwksUrl: url, issuer: 'https://idp.example.test', audience: 'rowguard' } });
      const token = (iss: string, aud: string) =>
        new SignJWT({ sub: owner, tid: a.id }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(iss).setAudience(aud).setExpirationTime('5m').sign(privateKey);
      expect((await jwks.call('GET', '/v1/projects', { token: await token('https://idp.example.test', 'rowguard') })).status).toBe(200);
      expect((await jwks.call('GET', '/v1/projects', { token: await token('https://evil.example.test', 'rowguard') })).status).toBe(401);
      expect((await jwks.call('GET', '/v1/projects', { token: await token('https://idp.example.test', 'other') })).status).toBe(401);
    });
  });
});

describe('API keys', () => {
  const key = async (scopes: string[], extra: Record<string, unknown> = {}) => {
    const reply = await context.h.call('POST', '/v1/api-keys', { token: a.token, body: { name: `k-${scopes.join('-')}`, scopes, ...extra } });
    expect(reply.status).toBe(201);
    return reply.body as { id: string; key: string; prefix: string };
  };

  it('is shown once, stored only as a hash, and works as a bearer credential', async () => {
    const created = await key(['read']);
    expect(created.key).toMatch(/^rg_[A-Za-z0-9_-]{62}$/);
    expect(created.key.startsWith(created.prefix)).toBe(true);
    const read = await context.h.call('GET', `/v1/api-keys/${created.id}`, { token: a.token });
    expect(read.body).not.toHaveProperty('key');
    expect(JSON.stringify(read.body)).not.toContain(created.key.slice(10));
    const { rows } = await context.h.kernel.asSystem((tx) => tx.query<{ key_hash: Buffer }>('select key_hash from api_keys where id = $1', [created.id]));
    expect(rows[0]!.key_hash).toHaveLength(32);
    expect(rows[0]!.key_hash.toString('latin1')).not.toContain(created.key);
    expect((await projects(created.key)).status).toBe(200);
    const used = await context.h.call('GET', `/v1/api-keys/${created.id}`, { token: a.token });
    expect(used.body.last_used_at).not.toBeNull();
  });

  it('names its tenant, and is not found under another tenant', async () => {
    const created = await key(['read']);
    const tenantPart = (id: string) => Buffer.from(id.replaceAll('-', ''), 'hex').toString('base64url');
    expect(created.key.slice(43)).toBe(tenantPart(a.id));
    // Same secret, pointed at another tenant: looked up among that tenant's keys, not found.
    const elsewhere = `${created.key.slice(0, 43)}${tenantPart(b.id)}`;
    expect((await projects(elsewhere)).status).toBe(401);
  });

  it('keys made before keys named their tenant keep working', async () => {
    const old = `rg_${randomBytes(30).toString('base64url')}`;
    await context.h.kernel.asSystem((tx) =>
      tx.query(`insert into api_keys (tenant_id, name, scopes, prefix, key_hash) values ($1, 'old', '{read}', $2, $3)`, [a.id, old.slice(0, 10), createHash('sha256').update(old).digest()]),
    );
    expect((await projects(old)).status).toBe(200);
  });

  it('sees only its own tenant', async () => {
    const created = await key(['read']);
    const theirs = await context.h.call('POST', '/v1/projects', { token: b.token, body: { name: 'Globex secret' } });
    expect((await context.h.call('GET', `/v1/projects/${theirs.body.id}`, { token: created.key })).status).toBe(404);
  });

  it('a read key cannot write; a write key can write content but not manage', async () => {
    const reader = await key(['read']);
    const denied = await context.h.call('POST', '/v1/projects', { token: reader.key, body: { name: 'nope' } });
    expect(denied.status).toBe(403);
    expect(denied.body.code).toBe('FORBIDDEN');
    const writer = await key(['read', 'write']);
    expect((await context.h.call('POST', '/v1/projects', { token: writer.key, body: { name: 'by key' } })).status).toBe(201);
    expect((await context.h.call('POST', '/v1/api-keys', { token: writer.key, body: { name: 'escalate', scopes: ['write'] } })).status).toBe(403);
  });

  it('stops working when revoked or expired, and malformed keys get 401', async () => {
    const revoked = await key(['read']);
    expect((await context.h.call('DELETE', `/v1/api-keys/${revoked.id}`, { token: a.token })).status).toBe(204);
    const expired = await key(['read'], { expires_at: new Date(Date.now() - 1000).toISOString() });
    // The last one: 22 characters carry 132 bits, and a tenant part with the last 4 set was not made here.
    for (const token of [revoked.key, expired.key, 'rg_short', `rg_${'A'.repeat(40)}`, `rg_${'A'.repeat(61)}B`]) {
      const reply = await projects(token);
      expect(reply.status).toBe(401);
      expect(reply.body.code).toBe('UNAUTHENTICATED');
    }
  });
});

describe('suspended tenants', () => {
  it('get 403 for tokens and keys until reactivated', async () => {
    const t = await context.h.tenant('Initech', 'peter');
    const k = await context.h.call('POST', '/v1/api-keys', { token: t.token, body: { name: 'k', scopes: ['read'] } });
    expect((await context.h.call('POST', `/admin/tenants/${t.id}/suspend`, { token: context.h.adminToken })).status).toBe(200);
    for (const token of [t.token, k.body.key]) {
      const reply = await projects(token);
      expect(reply.status).toBe(403);
      expect(reply.body.code).toBe('TENANT_SUSPENDED');
    }
    expect((await context.h.call('POST', `/admin/tenants/${t.id}/reactivate`, { token: context.h.adminToken })).status).toBe(200);
    expect((await projects(t.token)).status).toBe(200);
  });
});

describe('roles', () => {
  it('viewer reads; member writes content; admin manages; only an owner grants ownership', async () => {
    const viewer = await context.h.member(a, 'viewer');
    const member = await context.h.member(a, 'member');
    const admin = await context.h.member(a, 'admin');
    expect((await projects(viewer.token)).status).toBe(200);
    expect((await context.h.call('POST', '/v1/projects', { token: viewer.token, body: { name: 'x' } })).status).toBe(403);
    expect((await context.h.call('POST', '/v1/projects', { token: member.token, body: { name: 'x' } })).status).toBe(201);
    expect((await context.h.call('POST', '/v1/members', { token: member.token, body: { user_id: 'z', email: 'z@example.test', role: 'viewer' } })).status).toBe(403);
    expect((await context.h.call('GET', '/v1/audit-log', { token: member.token })).status).toBe(403);
    expect((await context.h.call('POST', '/v1/members', { token: admin.token, body: { user_id: 'y', email: 'y@example.test', role: 'viewer' } })).status).toBe(201);
    expect((await context.h.call('PATCH', `/v1/members/${member.id}`, { token: admin.token, body: { role: 'owner' } })).status).toBe(403);
    expect((await context.h.call('PATCH', `/v1/members/${member.id}`, { token: a.token, body: { role: 'owner' } })).status).toBe(200);
  });
});

describe('admin credential', () => {
  it('is separate: tenant tokens and keys cannot use the admin API, the admin token cannot use the tenant API', async () => {
    expect((await context.h.call('GET', '/admin/tenants', { token: a.token })).status).toBe(401);
    expect((await context.h.call('GET', '/admin/tenants', { token: 'x'.repeat(43) })).status).toBe(401);
    expect((await context.h.call('GET', '/v1/projects', { token: context.h.adminToken })).status).toBe(401);
    const off = createHarness(context.db, { app: { adminToken: undefined } });
    expect((await off.call('GET', '/admin/tenants', { token: context.h.adminToken })).status).toBe(401);
  });
});
