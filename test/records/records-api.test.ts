import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { useHarness, type TestTenant } from '../helpers/http.js';

// The README's worked example, built from the seed: a customer type with a unique
// case-insensitive email, an invoice type that refers to a customer.
const context = useHarness();
let a: TestTenant;
let b: TestTenant;

const CUSTOMER = {
  name: 'customer',
  json_schema: { type: 'object', properties: { email: { type: 'string', format: 'email' }, name: { type: 'string', minLength: 1 } }, required: ['name'] },
  fields: [
    { name: 'email', kind: 'text', required: true, unique: true, case_insensitive: true },
    { name: 'name', kind: 'text' },
  ],
};
const INVOICE = {
  name: 'invoice',
  json_schema: { type: 'object', properties: { total: { type: 'integer', minimum: 0 } } },
  fields: [
    { name: 'customer', kind: 'reference', required: true, references: { type: 'customer', on_delete: 'restrict' } },
    { name: 'total', kind: 'integer', required: true },
    { name: 'due', kind: 'date' },
  ],
};

const call = (t: TestTenant, method: string, path: string, body?: unknown, headers?: Record<string, string>) => context.h.call(method, path, { token: t.token, body, headers });

beforeAll(async () => {
  a = await context.h.tenant('Northwind Properties');
  b = await context.h.tenant('Helios Solar');
  for (const t of [a, b]) {
    for (const type of [CUSTOMER, INVOICE]) {
      const reply = await call(t, 'POST', '/v1/record-types', type);
      expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    }
  }
});

describe('record types', () => {
  it('are defined by admins, read by members, versioned and audited', async () => {
    const type = await call(a, 'GET', '/v1/record-types/customer');
    expect(type.status).toBe(200);
    expect(type.headers.get('etag')).toBe('"1"');
    expect(type.body.fields.map((f: { name: string }) => f.name)).toEqual(['email', 'name']);
    const viewer = await context.h.member(a, 'viewer');
    expect((await context.h.call('GET', '/v1/record-types', { token: viewer.token })).body.data.map((t: { name: string }) => t.name).sort()).toEqual(['customer', 'invoice']);
    const refused = await context.h.call('POST', '/v1/record-types', { token: viewer.token, body: { name: 'secret', fields: [] } });
    expect(refused.status).toBe(403);
    const member = await context.h.member(a, 'member');
    expect((await context.h.call('POST', '/v1/record-types', { token: member.token, body: { name: 'secret', fields: [] } })).status).toBe(403);
    const audit = await call(a, 'GET', `/v1/audit-log?entity_id=${type.body.id}`);
    expect(audit.body.data.map((e: { action: string }) => e.action)).toEqual(['record_type.created']);
  });

  it('refuse names and field names that are not identifiers, and invalid JSON Schemas, with a pointer', async () => {
    for (const name of ['Customer', 'x"; drop table records; --', '1abc', 'a'.repeat(41), 'café']) {
      const reply = await call(a, 'POST', '/v1/record-types', { name, fields: [] });
      expect(reply.status, name).toBe(400);
    }
    const badField = await call(a, 'POST', '/v1/record-types', { name: 'thing', fields: [{ name: 'a b', kind: 'text' }] });
    expect(badField.status).toBe(400);
    const badSchema = await call(a, 'POST', '/v1/record-types', { name: 'thing', json_schema: { type: 'object', properties: { x: { type: 'strnig' } } } });
    expect(badSchema.status).toBe(422);
    expect(badSchema.body.code).toBe('SCHEMA_INVALID');
    const remote = await call(a, 'POST', '/v1/record-types', { name: 'thing', json_schema: { $ref: 'https://example.test/schema.json' } });
    expect(remote.body.errors[0].pointer).toBe('/json_schema/$ref');
    const missingTarget = await call(a, 'POST', '/v1/record-types', { name: 'thing', fields: [{ name: 'owner', kind: 'reference', references: { type: 'nobody' } }] });
    expect(missingTarget.status).toBe(422);
  });
});

describe('records', () => {
  it('are created, read, listed by a declared field, changed with If-Match and deleted', async () => {
    const created = await call(a, 'POST', '/v1/records/customer', { data: { email: 'Alice@Acme.test', name: 'Alice' } });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(`/v1/records/customer/${created.body.id}`);
    const found = await call(a, 'GET', '/v1/records/customer?filter[email]=alice@acme.TEST');
    expect(found.body.data.map((r: { id: string }) => r.id)).toEqual([created.body.id]);
    const byName = await call(a, 'GET', '/v1/records/customer?filter[name]=Alice');
    expect(byName.body.data).toHaveLength(1);
    const got = await call(a, 'GET', `/v1/records/customer/${created.body.id}`);
    expect(got.body.data).toEqual({ email: 'Alice@Acme.test', name: 'Alice' });
    const stale = await call(a, 'PATCH', `/v1/records/customer/${created.body.id}`, { data: { name: 'Al' } }, { 'if-match': '"7"' });
    expect(stale.status).toBe(412);
    const changed = await call(a, 'PATCH', `/v1/records/customer/${created.body.id}`, { data: { name: 'Alice B.' } }, { 'if-match': got.headers.get('etag')! });
    expect(changed.status).toBe(200);
    expect(changed.body.version).toBe(2);
    expect(changed.body.data.name).toBe('Alice B.');
    const invoice = await call(a, 'POST', '/v1/records/invoice', { data: { customer: created.body.id, total: 1200, due: '2026-12-31' } });
    expect(invoice.status).toBe(201);
    const referenced = await call(a, 'DELETE', `/v1/records/customer/${created.body.id}`);
    expect(referenced.status).toBe(409);
    expect(referenced.body.code).toBe('RECORD_REFERENCED');
    expect((await call(a, 'DELETE', `/v1/records/invoice/${invoice.body.id}`)).status).toBe(204);
    expect((await call(a, 'DELETE', `/v1/records/customer/${created.body.id}`)).status).toBe(204);
    const audit = await call(a, 'GET', `/v1/audit-log?entity_id=${created.body.id}`);
    expect(audit.body.data.map((e: { action: string }) => e.action).sort()).toEqual(['record.customer.created', 'record.customer.deleted', 'record.customer.updated']);
  });

  it('keep uniqueness per tenant: B may hold A’s email, A may not hold it twice', async () => {
    const email = `bob-${randomUUID()}@acme.test`;
    expect((await call(a, 'POST', '/v1/records/customer', { data: { email, name: 'Bob' } })).status).toBe(201);
    expect((await call(b, 'POST', '/v1/records/customer', { data: { email, name: 'Bob' } })).status).toBe(201);
    const duplicate = await call(a, 'POST', '/v1/records/customer', { data: { email: email.toUpperCase(), name: 'Bob' } });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.code).toBe('CONFLICT');
    expect(duplicate.body.errors).toEqual([{ field: 'body.data.email', pointer: '/data/email', message: 'record field "email" must be unique: another customer record has this value' }]);
  });

  it('let exactly one of parallel creations of the same unique value win', async () => {
    const email = `race-${randomUUID()}@acme.test`;
    const replies = await Promise.all(Array.from({ length: 8 }, () => call(a, 'POST', '/v1/records/customer', { data: { email, name: 'Race' } })));
    expect(replies.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);
    expect((await call(a, 'GET', `/v1/records/customer?filter[email]=${email}`)).body.data).toHaveLength(1);
  });

  it('cannot refer to another tenant’s record: the same answer as an id that does not exist', async () => {
    const theirs = await call(b, 'POST', '/v1/records/customer', { data: { email: `c-${randomUUID()}@helios.test`, name: 'Theirs' } });
    const foreign = await call(a, 'POST', '/v1/records/invoice', { data: { customer: theirs.body.id, total: 1 } });
    const missing = await call(a, 'POST', '/v1/records/invoice', { data: { customer: randomUUID(), total: 1 } });
    expect(foreign.status).toBe(422);
    expect(foreign.body.code).toBe('REFERENCE_NOT_FOUND');
    expect({ ...foreign.body, requestId: undefined }).toEqual({ ...missing.body, requestId: undefined });
    // Nor read it, change it or delete it through its own type's path.
    for (const [method, body] of [['GET'], ['PATCH', { data: { name: 'Mine' } }], ['DELETE']] as const) {
      expect((await call(a, method, `/v1/records/customer/${theirs.body.id}`, body)).status).toBe(404);
    }
  });

  it('answer schema violations with 422 and a JSON pointer per error', async () => {
    const reply = await call(a, 'POST', '/v1/records/invoice', { data: { customer: 'nope', total: -5, due: 'tomorrow' } });
    expect(reply.status).toBe(422);
    expect(reply.body.code).toBe('RECORD_INVALID');
    const pointers = reply.body.errors.map((e: { pointer: string }) => e.pointer);
    expect(pointers).toEqual(expect.arrayContaining(['/data/customer', '/data/total', '/data/due']));
    const missing = await call(a, 'POST', '/v1/records/customer', { data: { name: 'No email' } });
    expect(missing.body.errors.map((e: { pointer: string }) => e.pointer)).toEqual(['/data/email']);
  });

  it('emit record.<type>.created events to subscribed webhooks, and replay an Idempotency-Key', async () => {
    const key = `k-${randomUUID()}`;
    const body = { data: { email: `idem-${randomUUID()}@acme.test`, name: 'Once' } };
    const first = await call(a, 'POST', '/v1/records/customer', body, { 'idempotency-key': key });
    const again = await call(a, 'POST', '/v1/records/customer', body, { 'idempotency-key': key });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.id).toBe(first.body.id);
    const hook = await call(a, 'POST', '/v1/webhooks', { url: 'https://example.test/hook', event_types: ['record.customer.created'] });
    expect(hook.status, JSON.stringify(hook.body)).toBe(201);
  });
});

describe('changing a type', () => {
  it('adds an optional field, refuses a unique constraint over duplicates listing them, and deprecates a field', async () => {
    await call(a, 'POST', '/v1/record-types', { name: 'lead', fields: [{ name: 'phone', kind: 'text' }] });
    const one = await call(a, 'POST', '/v1/records/lead', { data: { phone: '555-0100' } });
    const two = await call(a, 'POST', '/v1/records/lead', { data: { phone: '555-0100' } });
    const unique = await call(a, 'PATCH', '/v1/record-types/lead', { change_fields: { phone: { unique: true } } });
    expect(unique.status).toBe(409);
    expect(unique.body.code).toBe('TYPE_CHANGE_CONFLICTS');
    expect(unique.body.errors[0].message).toContain([one.body.id, two.body.id].sort().join(', '));
    const added = await call(a, 'PATCH', '/v1/record-types/lead', { add_fields: [{ name: 'score', kind: 'integer' }] }, { 'if-match': '"1"' });
    expect(added.status, JSON.stringify(added.body)).toBe(200);
    expect(added.body.version).toBe(2);
    const required = await call(a, 'PATCH', '/v1/record-types/lead', { add_fields: [{ name: 'city', kind: 'text', required: true }] });
    expect(required.status).toBe(409);
    expect(required.body.detail).toContain('record field "city" is required');
    const deprecated = await call(a, 'PATCH', '/v1/record-types/lead', { change_fields: { phone: { deprecated: true } } });
    expect(deprecated.body.fields[0]).toMatchObject({ name: 'phone', deprecated: true, required: false });
    const versions = await call(a, 'GET', '/v1/record-types/lead/versions');
    expect(versions.body.data.map((v: { version: number }) => v.version)).toEqual([3, 2, 1]);
    expect((await call(a, 'DELETE', '/v1/record-types/lead')).body.code).toBe('RECORD_TYPE_IN_USE');
  });
});
