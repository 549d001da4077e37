import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { LIMITS } from '../../src/records/record-schema.js';
import { createHarness, type Harness, type TestTenant } from '../helpers/http.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

// What a hostile member of a tenant can try with record types and records.
let db: TestDatabase;
let h: Harness;
let a: TestTenant;
let b: TestTenant;
const call = (t: TestTenant, method: string, path: string, body?: unknown) => h.call(method, path, { token: t.token, body });

beforeAll(async () => {
  db = await createTestDatabase();
  // Larger than a record's data may be, so that the record limit is what answers.
  h = createHarness(db, { app: { bodyLimit: 1024 * 1024 } });
  a = await h.tenant('Northwind');
  b = await h.tenant('Helios');
  for (const t of [a, b]) {
    const reply = await call(t, 'POST', '/v1/record-types', {
      name: 'customer',
      json_schema: { type: 'object', properties: { code: { type: 'string', pattern: '^(a+)+$' } } },
      fields: [{ name: 'email', kind: 'text', required: true, unique: true, case_insensitive: true }, { name: 'score', kind: 'integer' }],
    });
    expect(reply.status, JSON.stringify(reply.body)).toBe(201);
  }
});

describe('names as injection vectors', () => {
  it.each([
    ['a type name', 'POST', '/v1/record-types', { name: `customer"; drop table records; --`, fields: [] }, 400],
    ['a field name', 'POST', '/v1/record-types', { name: 'evil', fields: [{ name: `x') or true; --`, kind: 'text' }] }, 400],
    ['a field kind', 'POST', '/v1/record-types', { name: 'evil', fields: [{ name: 'x', kind: `text'; --` }] }, 400],
    ['a referenced type', 'POST', '/v1/record-types', { name: 'evil', fields: [{ name: 'x', kind: 'reference', references: { type: `customer' or '1'='1` } }] }, 400],
    ['a changed field', 'PATCH', '/v1/record-types/customer', { change_fields: { [`email" = null; --`]: { unique: false } } }, 400],
    ['a type in the path', 'GET', `/v1/records/${encodeURIComponent(`customer' or '1'='1`)}`, undefined, 400],
    ['a filter field', 'GET', `/v1/records/customer?${encodeURIComponent(`filter[email' or 1=1 --]`)}=x`, undefined, 400],
    ['a filter value', 'GET', `/v1/records/customer?filter[score]=${encodeURIComponent('1 or 1=1')}`, undefined, 400],
  ])('%s is refused before it reaches SQL', async (_, method, path, body, status) => {
    const reply = await call(a, method, path, body);
    expect(reply.status, JSON.stringify(reply.body)).toBe(status);
  });

  it('a quoted property name inside data is data, not SQL', async () => {
    const reply = await call(a, 'POST', '/v1/records/customer', { data: { email: `q-${randomUUID()}@x.test`, "x'); delete from records; --": 1 } });
    expect(reply.status).toBe(201);
    expect((await call(a, 'GET', `/v1/records/customer/${reply.body.id}`)).body.data).toHaveProperty("x'); delete from records; --", 1);
  });
});

describe('probing another tenant', () => {
  it('learns nothing of its emails: creating one is 201, looking it up finds nothing', async () => {
    const email = `secret-${randomUUID()}@helios.test`;
    const theirs = await call(b, 'POST', '/v1/records/customer', { data: { email } });
    expect(theirs.status).toBe(201);
    expect((await call(a, 'GET', `/v1/records/customer?filter[email]=${encodeURIComponent(email)}`)).body.data).toEqual([]);
    expect((await call(a, 'POST', '/v1/records/customer', { data: { email: email.toUpperCase() } })).status).toBe(201);
    // A's own duplicate answers exactly as it would if B had never had the email.
    const fresh = `fresh-${randomUUID()}@northwind.test`;
    await call(a, 'POST', '/v1/records/customer', { data: { email: fresh } });
    const ownDuplicate = await call(a, 'POST', '/v1/records/customer', { data: { email: fresh } });
    const sharedDuplicate = await call(a, 'POST', '/v1/records/customer', { data: { email } });
    expect({ ...sharedDuplicate.body, requestId: null }).toEqual({ ...ownDuplicate.body, requestId: null });
  });

  it('cannot refer to, read, change or delete its records by id', async () => {
    await call(b, 'POST', '/v1/record-types', { name: 'invoice', fields: [{ name: 'customer', kind: 'reference', references: { type: 'customer' } }] });
    await call(a, 'POST', '/v1/record-types', { name: 'invoice', fields: [{ name: 'customer', kind: 'reference', references: { type: 'customer' } }] });
    const theirs = await call(b, 'POST', '/v1/records/customer', { data: { email: `ref-${randomUUID()}@helios.test` } });
    expect((await call(a, 'POST', '/v1/records/invoice', { data: { customer: theirs.body.id } })).body.code).toBe('REFERENCE_NOT_FOUND');
    const mine = await call(a, 'POST', '/v1/records/customer', { data: { email: `mine-${randomUUID()}@x.test` } });
    const invoice = await call(a, 'POST', '/v1/records/invoice', { data: { customer: mine.body.id } });
    expect((await call(a, 'PATCH', `/v1/records/invoice/${invoice.body.id}`, { data: { customer: theirs.body.id } })).body.code).toBe('REFERENCE_NOT_FOUND');
    expect((await call(a, 'GET', `/v1/records/invoice?filter[customer]=${theirs.body.id}`)).body.data).toEqual([]);
    expect((await call(a, 'DELETE', `/v1/records/customer/${theirs.body.id}`)).status).toBe(404);
    expect((await call(b, 'GET', `/v1/records/customer/${theirs.body.id}`)).status).toBe(200);
  });
});

describe('JSON bombs', () => {
  const nested = (depth: number): unknown => (depth === 0 ? 1 : { x: nested(depth - 1) });
  it.each([
    ['data nested too deep', { data: { email: 'deep@x.test', x: nested(LIMITS.depth + 1) } }, 400],
    ['data with too many values', { data: { email: 'wide@x.test', ...Object.fromEntries(Array.from({ length: LIMITS.nodes + 1 }, (_, i) => [`k${i}`, i])) } }, 400],
    ['data larger than a record may be', { data: { email: 'big@x.test', blob: 'x'.repeat(LIMITS.dataBytes) } }, 413],
  ])('%s is refused', async (_, body, status) => {
    const reply = await call(a, 'POST', '/v1/records/customer', body);
    expect(reply.status, JSON.stringify(reply.body).slice(0, 300)).toBe(status);
  });

  it.each([
    ['a schema nested too deep', { type: 'object', properties: { x: nested(LIMITS.depth + 1) } }],
    ['a remote $ref', { $ref: 'http://169.254.169.254/latest/meta-data' }],
    ['a $dynamicRef', { $dynamicRef: '#meta' }],
    ['a pattern with a backreference, which linear-time matching cannot run', { type: 'object', properties: { x: { type: 'string', pattern: '(a)\\1' } } }],
    ['an unknown keyword', { type: 'object', propertees: {} }],
  ])('%s is refused when the type is defined', async (_, json_schema) => {
    const reply = await call(a, 'POST', '/v1/record-types', { name: 'bomb', json_schema });
    expect(reply.status, JSON.stringify(reply.body).slice(0, 300)).toBe(422);
    expect(reply.body.code).toBe('SCHEMA_INVALID');
  });

  it('a catastrophic pattern runs in linear time on a long input', async () => {
    // ^(a+)+$ on 29 characters takes seconds with a backtracking engine; on 100,000 it never ends.
    const reply = await call(a, 'POST', '/v1/records/customer', { data: { email: `redos-${randomUUID()}@x.test`, code: `${'a'.repeat(100_000)}b` } });
    expect(reply.status).toBe(422);
    expect(reply.body.errors[0].pointer).toBe('/data/code');
  });
});

describe('type changes racing writes', () => {
  it('a unique constraint added while duplicates are being written either fails or holds: never duplicates under it', async () => {
    for (let round = 0; round < 5; round++) {
      const type = `race_${round}`;
      await call(a, 'POST', '/v1/record-types', { name: type, fields: [{ name: 'phone', kind: 'text' }] });
      const writes = Array.from({ length: 12 }, () => call(a, 'POST', `/v1/records/${type}`, { data: { phone: '555-0100' } }));
      const change = new Promise((resolve) => setTimeout(resolve, round * 5)).then(() => call(a, 'PATCH', `/v1/record-types/${type}`, { change_fields: { phone: { unique: true } } }));
      const [changed, ...written] = await Promise.all([change, ...writes]);
      const created = written.filter((w) => w.status === 201).length;
      expect(written.every((w) => w.status === 201 || w.status === 409), JSON.stringify(written.map((w) => w.status))).toBe(true);
      if (changed.status === 200) {
        // Unique from its version on: at most one record holds the value.
        expect(created).toBe(1);
      } else {
        expect(changed.body.code).toBe('TYPE_CHANGE_CONFLICTS');
      }
      const stored = await call(a, 'GET', `/v1/records/${type}?filter[phone]=555-0100&limit=100`);
      expect(stored.body.data).toHaveLength(created);
    }
  });
});
