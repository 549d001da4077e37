import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { createHarness, type TestTenant } from '../helpers/http.js';
import { recordFigures, SOAK } from '../helpers/reliability.js';
import { startTestService, type TestService } from '../helpers/service.js';

// Property-based fuzzing of every documented operation: whatever arrives, the answer is never a
// 5xx, never shows a stack trace or SQL, and never holds another tenant's rows.
const RUNS = SOAK ? 100_000 : 5_000;

let db: TestDatabase;
let h: ReturnType<typeof createHarness>;
let a: TestTenant;
let b: TestTenant;
/** Every id and the marker in every name of tenant B: none may reach tenant A. */
const secretsOfB: string[] = [];
const MARKER = 'B-ONLY-3f9a';
let operations: { method: string; path: string }[];
/** One of A's own projects, so that updates and deletes also reach rows A may change. */
let aProject = '';

beforeAll(async () => {
  db = await createTestDatabase();
  h = createHarness(db);
  a = await h.tenant('Acme', 'alice');
  b = await h.tenant('Globex', 'bob');
  const bProject = await h.call('POST', '/v1/projects', { token: b.token, body: { name: `${MARKER} project`, description: MARKER } });
  const bTask = await h.call('POST', '/v1/tasks', { token: b.token, body: { project_id: bProject.body.id, title: `${MARKER} task` } });
  const bDocument = await h.call('POST', '/v1/documents', { token: b.token, body: { project_id: bProject.body.id, title: `${MARKER} doc`, body: MARKER } });
  secretsOfB.push(MARKER, b.id, bProject.body.id, bTask.body.id, b.ownerId, ...(bDocument.body.id ? [bDocument.body.id] : []));
  // Both tenants have a record type of the same name; B's record holds the marker.
  const customer = { name: 'customer', fields: [{ name: 'email', kind: 'text', required: true, unique: true, case_insensitive: true }, { name: 'score', kind: 'integer' }, { name: 'owner', kind: 'reference', references: { type: 'customer' } }] };
  for (const t of [a, b]) await h.call('POST', '/v1/record-types', { token: t.token, body: customer });
  const bRecord = await h.call('POST', '/v1/records/customer', { token: b.token, body: { data: { email: `${MARKER}@globex.test`, note: MARKER } } });
  secretsOfB.push(bRecord.body.id);
  aProject = (await h.call('POST', '/v1/projects', { token: a.token, body: { name: 'Acme project' } })).body.id;
  const doc = (await h.call('GET', '/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
  operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((method) => ({ method: method.toUpperCase(), path })));
});
afterAll(() => db?.close());

const SQLISH = ["'; drop table projects; --", "' or '1'='1", '1) or (1=1', '$1', "app.tenant_id', '", '\\x00', 'current_setting(\'app.tenant_id\')', "'::uuid", 'null', '/*', '%', '_'];
const NUMBERS = ['1e400', '-1e400', '1e308', '18446744073709551616', '-0', '0.0000000000000000000001', '9'.repeat(400), 'NaN', 'Infinity'];

const text = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary', maxLength: 50 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.constantFrom(...SQLISH, ...NUMBERS, '\u0000', 'a\u0000b', '\uFEFF', '\u202Eevil', '😀'.repeat(300), 'x'.repeat(70_000)),
  fc.constantFrom(...secretsOfBPlaceholder()),
);

// The ids are only known after beforeAll; the arbitrary reads them lazily.
function secretsOfBPlaceholder(): string[] {
  return ['<b-project>', '<b-tenant>', '<b-task>', '<b-member>', '<a-project>', '<b-record>'];
}
const resolve = (value: string) =>
  value
    .replace('<b-project>', secretsOfB[2] ?? '')
    .replace('<b-tenant>', secretsOfB[1] ?? '')
    .replace('<b-task>', secretsOfB[3] ?? '')
    .replace('<b-member>', secretsOfB[4] ?? '')
    .replace('<a-project>', aProject)
    .replace('<b-record>', secretsOfB.at(-1) ?? '');

const json = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    text,
    fc.double(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(text, fc.constantFrom('name', 'tenant_id', 'project_id', 'id', 'role', 'status', 'title', 'url', 'events', '__proto__', 'constructor')), tie('value'), {
      maxKeys: 5,
    }),
  ),
})).value;

/** Objects with the fields the API knows, so many requests get past validation to the database. */
const plausible = fc.dictionary(
  fc.constantFrom('name', 'title', 'description', 'status', 'project_id', 'document_id', 'email', 'user_id', 'role', 'url', 'events', 'body', 'amount_cents', 'currency', 'due_date', 'owner'),
  fc.oneof(text, fc.integer(), fc.double(), fc.constant(null), fc.uuid(), fc.constantFrom('active', 'archived', 'todo', 'member', 'admin', 'EUR', '2026-11-22', 'https://hooks.example.test/x')),
  { minKeys: 1, maxKeys: 5 },
);

/** Records and record type definitions, with what the fields declare and what they do not. */
const recordish = fc.oneof(
  fc.record({ data: fc.dictionary(fc.constantFrom('email', 'score', 'owner', 'note', '__proto__'), fc.oneof(text, fc.integer(), fc.double(), fc.uuid(), fc.constant(null), json, fc.constant('<b-record>')), { maxKeys: 4 }) }),
  fc.record({
    name: fc.oneof(text, fc.constantFrom('customer', 'invoice', 'x')),
    json_schema: fc.oneof(json, fc.constant({ type: 'object' }), fc.constant({ type: 'object', properties: { x: { type: 'string', pattern: '^(a+)+$' } } })),
    fields: fc.array(fc.record({ name: fc.oneof(text, fc.constantFrom('email', 'x')), kind: fc.constantFrom('text', 'number', 'integer', 'boolean', 'date', 'timestamp', 'reference', 'evil'), unique: fc.boolean(), references: fc.option(fc.record({ type: fc.oneof(text, fc.constant('customer')) })) }), { maxLength: 3 }),
  }),
  fc.record({ add_fields: fc.array(fc.record({ name: text, kind: fc.constantFrom('text', 'integer') }), { maxLength: 2 }), change_fields: fc.dictionary(fc.constantFrom('email', 'score', 'nope'), fc.record({ unique: fc.boolean(), required: fc.boolean() })) }),
);

/** Raw request bodies: JSON, JSON-looking text and bytes that are not UTF-8. */
const body = fc.oneof(
  recordish.map((v) => JSON.stringify(v, (_k, x) => (typeof x === 'string' ? resolve(x) : x))),
  plausible.map((v) => JSON.stringify(v, (_k, x) => (typeof x === 'string' ? resolve(x) : x))),
  plausible.map((v) => JSON.stringify(v, (_k, x) => (typeof x === 'string' ? resolve(x) : x))),
  json.map((v) => JSON.stringify(v, (_k, x) => (typeof x === 'string' ? resolve(x) : x))),
  fc.constantFrom(
    '[' .repeat(100_000) + ']'.repeat(100_000),
    '{"a":'.repeat(5_000) + '1' + '}'.repeat(5_000),
    '{"name": 1e400}',
    '{"name": "x", "name": "y"}',
    '{',
    '',
    'null',
    '"just a string"',
  ),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from(bytes), Buffer.from('"}')])),
);

/** A path parameter as it appears in the URL: percent-encoded UTF-8, or raw broken escapes. */
const segment = fc.oneof(
  fc.uuid(),
  text.map((t) => [...Buffer.from(resolve(t).slice(0, 300))].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('')),
  fc.constantFrom('%C0%AF', '%ZZ', '%', '%00', '%FF%FE', '..%2F..%2Fadmin', '<b-project>', '<b-task>', '<b-member>', '<a-project>', '<a-project>', '<b-record>', 'customer', 'customer').map(resolve),
);

const query = fc.array(fc.tuple(fc.constantFrom('limit', 'cursor', 'status', 'updated_since', 'tenant_id', 'project_id', 'q', 'order', 'filter[email]', 'filter[score]', 'filter[owner]', 'filter[nope]'), segment), { maxLength: 4 });

/** Mostly the right credential for the route (A's token, or the admin token on /admin), else a wrong one. */
const token = fc.constantFrom(...Array<string>(12).fill('right'), 'crossed', 'none', 'garbage', 'b-tampered', 'alg-none');

const headers = fc.dictionary(
  fc.constantFrom('x-tenant-id', 'if-match', 'idempotency-key', 'content-type', 'accept', 'x-forwarded-for', 'prefer'),
  fc.string({ unit: 'binary-ascii', maxLength: 80 }).map((v) => v.replace(/[\r\n\0]/g, '').trim()),
  { maxKeys: 3 },
);

function bearer(kind: string, admin: boolean): string | undefined {
  switch (kind) {
    case 'right':
      return admin ? h.adminToken : a.token;
    case 'crossed':
      return admin ? a.token : h.adminToken;
    case 'garbage':
      return 'x'.repeat(5000);
    case 'b-tampered': {
      const [head, , sig] = b.token.split('.');
      return `${head}.${Buffer.from(JSON.stringify({ sub: 'alice', tid: b.id })).toString('base64url')}.${sig}`;
    }
    case 'alg-none':
      return `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'alice', tid: a.id })).toString('base64url')}.`;
    default:
      return undefined;
  }
}

// What the server must never say: a stack frame, a source path, or PostgreSQL's own messages.
// (Validation errors may quote the client's own input, such as an unknown key, back to it.)
const LEAKY = /\bat [\w.<>]+ \(|node_modules|\.ts:\d+|syntax error at or near|violates [\w -]*constraint|relation "|duplicate key value|invalid input syntax|ERROR: |\bSQLSTATE\b/;

describe('hostile input to every endpoint', () => {
  it(`${RUNS} generated requests: no 5xx, no stack traces or SQL, no foreign rows`, async () => {
    const statuses: Record<number, number> = {};
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.array(segment, { minLength: 3, maxLength: 3 }), query, body, token, headers, fc.boolean(), async (pick, params, q, raw, kind, extra, withBody) => {
        const op = operations[pick % operations.length]!;
        let i = 0;
        const path = op.path.replace(/\{\w+\}/g, () => params[i++]!) + (q.length ? `?${q.map(([k, v]) => `${k}=${v}`).join('&')}` : '');
        const admin = op.path.startsWith('/admin');
        const auth = bearer(kind, admin);
        const init: RequestInit = {
          method: op.method,
          headers: { ...extra, ...(auth ? { authorization: `Bearer ${auth}` } : {}), ...(withBody ? { 'content-type': 'application/json' } : {}) },
          body: withBody && op.method !== 'GET' && op.method !== 'HEAD' ? raw : undefined,
        };
        const response = await h.app.request(path, init);
        const reply = await response.text();
        statuses[response.status] = (statuses[response.status] ?? 0) + 1;
        const where = `${op.method} ${path.slice(0, 200)} → ${response.status} ${reply.slice(0, 300)}`;
        expect(response.status, where).toBeLessThan(500);
        expect(LEAKY.test(reply), where).toBe(false);
        // Admin routes cross tenants by design; every tenant route answers as A at most.
        if (!(admin && kind === 'right')) for (const secret of secretsOfB) expect(reply.includes(secret), where).toBe(false);
      }),
      { numRuns: RUNS, seed: Number(process.env.ROWGUARD_FUZZ_SEED ?? 20261122) },
    );
    await recordFigures('fuzz, every endpoint', { requests: RUNS, operations: operations.length, byStatus: statuses, serverErrors: 0, leaks: 0 });
  }, 600_000);
});

describe('bytes no client library would send, over a real socket', () => {
  let s: TestService;
  beforeAll(async () => {
    s = await startTestService(db, { ROWGUARD_WORKER: 'off', ROWGUARD_BODY_LIMIT: '65536' });
  });
  afterAll(() => s?.service.close());

  const raw = (request: Buffer | string) =>
    new Promise<string>((resolveReply, reject) => {
      const url = new URL(s.service.url);
      const socket = connect(Number(url.port), url.hostname, () => socket.end(request));
      let reply = '';
      socket.on('data', (d) => (reply += d.toString('latin1')));
      socket.on('end', () => resolveReply(reply));
      socket.on('error', reject);
    });

  it.each([
    ['malformed UTF-8 in the path', Buffer.from('GET /v1/projects/\xc3\x28\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 'latin1')],
    ['a NUL byte in the path', Buffer.from('GET /v1/projects/\x00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 'latin1')],
    ['malformed UTF-8 in a header', Buffer.from('GET /v1/projects HTTP/1.1\r\nHost: x\r\nX-Tenant-Id: \xc3\x28\xff\r\nAuthorization: Bearer \xff\xfe\r\nConnection: close\r\n\r\n', 'latin1')],
    ['a body longer than its Content-Length', 'POST /v1/projects HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{"name":"x"}'],
    ['an oversized body', `POST /v1/projects HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200000\r\nConnection: close\r\n\r\n{"name":"${'x'.repeat(199_989)}"}`],
    ['an oversized chunked body', `POST /v1/projects HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${'1000\r\n' + 'x'.repeat(4096) + '\r\n'}`.repeat(1) + ('1000\r\n' + 'x'.repeat(4096) + '\r\n').repeat(30) + '0\r\n\r\n'],
  ])('%s: a 4xx, no stack trace', async (_name, request) => {
    const reply = await raw(request);
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1]);
    expect(status, reply.slice(0, 300)).toBeGreaterThanOrEqual(400);
    expect(status, reply.slice(0, 300)).toBeLessThan(500);
    expect(LEAKY.test(reply)).toBe(false);
  });
});
