import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ROLES } from '../helpers/cluster.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { asTenant } from '../helpers/fixtures.js';

// The rules a tenant declares on fields inside its records' JSON, held by the database: every
// write here is made directly on the app role, as a script or another service would, with no
// API in front of it.
const db: TestDatabase = await createTestDatabase();
let owner: pg.Client;
let app: pg.Client;
let other: pg.Client;
type Tenant = { tenantId: string; proof: string };
let a: Tenant;
let b: Tenant;

async function newTenant(): Promise<Tenant> {
  const tenantId = randomUUID();
  await owner.query('begin');
  await owner.query(`set local role ${TEST_ROLES.system}`);
  await owner.query('insert into tenants (id, name) values ($1, $2)', [tenantId, `Tenant ${tenantId.slice(0, 8)}`]);
  await owner.query('commit');
  return { tenantId, proof: db.proof(tenantId) };
}

interface Field {
  name: string;
  kind: string;
  required?: boolean;
  unique?: boolean;
  caseInsensitive?: boolean;
  target?: string;
  onDelete?: 'restrict' | 'cascade';
}

/** Defines a record type with its fields, as the tenant (committed). */
async function defineType(client: pg.Client, tenant: Tenant, name: string, fields: Field[]): Promise<void> {
  await asTenant(
    client,
    tenant,
    async () => {
      await client.query(`insert into record_types (tenant_id, name, json_schema) values ($1, $2, '{"type": "object"}')`, [tenant.tenantId, name]);
      for (const [position, f] of fields.entries()) await addField(client, tenant, name, f, position);
    },
    { commit: true },
  );
}

function addField(client: pg.Client, tenant: Tenant, type: string, f: Field, position: number) {
  return client.query(
    `insert into record_fields (tenant_id, record_type, name, kind, required, is_unique, case_insensitive, target_type, on_delete, position, added_in_version)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1)`,
    [tenant.tenantId, type, f.name, f.kind, f.required ?? false, f.unique ?? false, f.caseInsensitive ?? false, f.target ?? null, f.onDelete ?? (f.target ? 'restrict' : null), position],
  );
}

/** Inserts a record as the tenant on `client` (committed); returns its id. */
async function insert(client: pg.Client, tenant: Tenant, type: string, data: unknown): Promise<string> {
  return asTenant(client, tenant, async () => (await client.query(`insert into records (tenant_id, type, data) values ($1, $2, $3) returning id`, [tenant.tenantId, type, JSON.stringify(data)])).rows[0].id, { commit: true });
}

async function failure(fn: () => Promise<unknown>): Promise<{ code: string; message: string; column?: string }> {
  try {
    await fn();
  } catch (error) {
    const { code, message, column } = error as { code: string; message: string; column?: string };
    return { code, message, column };
  }
  throw new Error('expected the database to refuse');
}

beforeAll(async () => {
  owner = await db.ownerClient();
  app = await db.appClient();
  other = await db.appClient();
  a = await newTenant();
  b = await newTenant();
  for (const tenant of [a, b]) {
    await defineType(app, tenant, 'customer', [
      { name: 'email', kind: 'text', required: true, unique: true, caseInsensitive: true },
      { name: 'name', kind: 'text' },
      { name: 'credit', kind: 'integer' },
    ]);
    await defineType(app, tenant, 'invoice', [
      { name: 'customer', kind: 'reference', target: 'customer', required: true },
      { name: 'amount', kind: 'number' },
      { name: 'due', kind: 'date' },
      { name: 'sent_at', kind: 'timestamp' },
      { name: 'paid', kind: 'boolean' },
    ]);
  }
});
afterAll(() => db.close());

describe('uniqueness of a declared field', () => {
  it('is scoped to the tenant, case-insensitive when declared so, and its error tells nothing of other tenants', async () => {
    await insert(app, a, 'customer', { email: 'alice@acme.test' });
    await insert(app, b, 'customer', { email: 'alice@acme.test' });
    const duplicate = await failure(() => insert(app, a, 'customer', { email: 'ALICE@acme.test' }));
    expect(duplicate.code).toBe('23505');
    expect(duplicate.message).toBe('record field "email" must be unique: another customer record has this value');
    // B's value is taken in B only: the same error text, whatever other tenants hold.
    const onlyInB = await failure(() => insert(app, b, 'customer', { email: 'Alice@ACME.test' }));
    expect(onlyInB.message).toBe(duplicate.message);
  });

  it('lets exactly one of concurrent inserts of the same value win', async () => {
    const email = `race-${randomUUID()}@acme.test`;
    const clients = [app, other];
    const results = await Promise.allSettled(clients.map((client) => insert(client, a, 'customer', { email })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect((lost.reason as { code: string }).code).toBe('23505');
  });

  it('holds when a record changes: an update to a taken value fails, keeping its own value succeeds', async () => {
    const id = await insert(app, a, 'customer', { email: `keep-${randomUUID()}@acme.test`, name: 'Keep' });
    const updated = await failure(() => asTenant(app, a, () => app.query(`update records set data = data || '{"email": "alice@acme.test"}' where tenant_id = $1 and id = $2`, [a.tenantId, id])));
    expect(updated.code).toBe('23505');
    await asTenant(app, a, () => app.query(`update records set data = data || '{"name": "Kept"}' where tenant_id = $1 and id = $2`, [a.tenantId, id]), { commit: true });
  });
});

describe('references between records', () => {
  it('cannot point at another tenant’s record: the same answer as a record that does not exist', async () => {
    const theirs = await insert(app, b, 'customer', { email: `b-${randomUUID()}@acme.test` });
    const foreign = await failure(() => insert(app, a, 'invoice', { customer: theirs }));
    const missing = await failure(() => insert(app, a, 'invoice', { customer: randomUUID() }));
    expect(foreign.code).toBe('RG013');
    expect(foreign.message).toBe('record field "customer" names no customer record');
    expect(missing).toEqual(foreign);
  });

  it('cannot point at a record of another type', async () => {
    const customer = await insert(app, a, 'customer', { email: `t-${randomUUID()}@acme.test` });
    const invoice = await insert(app, a, 'invoice', { customer });
    expect((await failure(() => insert(app, a, 'invoice', { customer: invoice }))).code).toBe('RG013');
  });

  it('restricts the delete of a referenced record, naming the field, and cascades where declared', async () => {
    const customer = await insert(app, a, 'customer', { email: `r-${randomUUID()}@acme.test` });
    await insert(app, a, 'invoice', { customer });
    const refused = await failure(() => asTenant(app, a, () => app.query('delete from records where tenant_id = $1 and id = $2', [a.tenantId, customer])));
    expect(refused.code).toBe('RG012');
    expect(refused.message).toBe('record field "customer" of a record of type invoice refers to this record');

    await defineType(app, a, 'note', [{ name: 'about', kind: 'reference', target: 'customer', onDelete: 'cascade' }, { name: 'parent', kind: 'reference', target: 'note', onDelete: 'cascade' }]);
    const lone = await insert(app, a, 'customer', { email: `c-${randomUUID()}@acme.test` });
    const note = await insert(app, a, 'note', { about: lone });
    const reply = await insert(app, a, 'note', { parent: note });
    await asTenant(app, a, () => app.query('delete from records where tenant_id = $1 and id = $2', [a.tenantId, lone]), { commit: true });
    const left = await asTenant(app, a, async () => (await app.query('select id from records where tenant_id = $1 and id = any($2)', [a.tenantId, [note, reply]])).rows);
    expect(left).toEqual([]);
  });

  it('deletes records that refer to each other in a cycle of cascades', async () => {
    const first = await insert(app, a, 'note', {});
    const second = await insert(app, a, 'note', { parent: first });
    await asTenant(app, a, () => app.query(`update records set data = jsonb_build_object('parent', $3::text) where tenant_id = $1 and id = $2`, [a.tenantId, first, second]), { commit: true });
    await asTenant(app, a, () => app.query('delete from records where tenant_id = $1 and id = $2', [a.tenantId, first]), { commit: true });
    const left = await asTenant(app, a, async () => (await app.query('select id from records where tenant_id = $1 and id = any($2)', [a.tenantId, [first, second]])).rows);
    expect(left).toEqual([]);
  });
});

describe('required fields and declared kinds', () => {
  it.each([
    [{ name: 'no email' }, 'RG010', 'record field "email" is required'],
    [{ email: null }, 'RG010', 'record field "email" is required'],
    [{ email: 42 }, 'RG011', 'record field "email" must be a string (text)'],
    [{ email: 'x'.repeat(501) }, 'RG011', 'record field "email" is longer than 500 characters'],
    [{ email: 'k@acme.test', credit: 1.5 }, 'RG011', 'record field "credit" must be an integer'],
    [{ email: 'k@acme.test', credit: '12' }, 'RG011', 'record field "credit" must be a number'],
  ])('customer %j is refused with %s', async (data, code, message) => {
    const refused = await failure(() => insert(app, a, 'customer', data));
    expect({ code: refused.code, message: refused.message }).toEqual({ code, message });
  });

  it.each([
    [{ due: '2026-02-30' }, 'record field "due" must be a date (YYYY-MM-DD)'],
    [{ due: '30/01/2026' }, 'record field "due" must be a date (YYYY-MM-DD)'],
    [{ sent_at: '2026-01-01 10:00' }, 'record field "sent_at" must be a timestamp with a time zone (RFC 3339)'],
    [{ paid: 'yes' }, 'record field "paid" must be true or false'],
    [{ amount: '10' }, 'record field "amount" must be a number'],
    [{ customer: 'not-a-uuid' }, 'record field "customer" must be the id of a record of type customer'],
  ])('invoice %j is refused', async (data, message) => {
    const customer = await insert(app, a, 'customer', { email: `k-${randomUUID()}@acme.test` });
    const refused = await failure(() => insert(app, a, 'invoice', { customer, ...data }));
    expect(refused.message).toBe(message);
  });

  it('takes well-formed values of every kind', async () => {
    const customer = await insert(app, a, 'customer', { email: `ok-${randomUUID()}@acme.test`, credit: 10 });
    const id = await insert(app, a, 'invoice', { customer, amount: 12.5, due: '2026-03-01', sent_at: '2026-02-01T09:30:00+01:00', paid: false, note: 'undeclared properties are kept' });
    const { rows } = await asTenant(app, a, () => app.query(`select field, text_value, number_value, bool_value, date_value::text, time_value, target_id from record_values where tenant_id = $1 and record_id = $2 order by field`, [a.tenantId, id]));
    expect(rows.map((r) => r.field)).toEqual(['amount', 'customer', 'due', 'paid', 'sent_at']);
    expect(rows.find((r) => r.field === 'customer')!.target_id).toBe(customer);
    expect(rows.find((r) => r.field === 'sent_at')!.time_value.toISOString()).toBe('2026-02-01T08:30:00.000Z');
  });
});

describe('the app role cannot get around the rules', () => {
  it('cannot write the side table, change a record’s type, or turn the triggers off', async () => {
    const customer = await insert(app, a, 'customer', { email: `g-${randomUUID()}@acme.test` });
    for (const statement of [
      `delete from record_values where tenant_id = '${a.tenantId}'`,
      `update record_values set unique_key = null where tenant_id = '${a.tenantId}'`,
      `insert into record_values (tenant_id, record_id, type, field, kind) values ('${a.tenantId}', '${customer}', 'customer', 'name', 'text')`,
      `update records set type = 'invoice' where tenant_id = '${a.tenantId}' and id = '${customer}'`,
      `update record_fields set kind = 'number' where tenant_id = '${a.tenantId}'`,
      `alter table records disable trigger index_record`,
      `set session_replication_role = replica`,
    ]) {
      expect((await failure(() => asTenant(app, a, () => app.query(statement)))).code, statement).toBe('42501');
    }
  });
});

describe('a type that changes', () => {
  it('refuses a new unique constraint over duplicates, and a new required field over records without it', async () => {
    await defineType(app, a, 'contact', [{ name: 'phone', kind: 'text' }]);
    await insert(app, a, 'contact', { phone: '555' });
    await insert(app, a, 'contact', { phone: '555' });
    const unique = await failure(() => asTenant(app, a, () => app.query(`update record_fields set is_unique = true where tenant_id = $1 and record_type = 'contact' and name = 'phone'`, [a.tenantId])));
    expect(unique.code).toBe('23505');
    const required = await failure(() => asTenant(app, a, () => addField(app, a, 'contact', { name: 'city', kind: 'text', required: true }, 1)));
    expect(required.code).toBe('RG010');
    await asTenant(app, a, () => addField(app, a, 'contact', { name: 'city', kind: 'text' }, 1), { commit: true });
    // The new field is indexed for every record; the fields it had are left as they were.
    const values = await asTenant(app, a, async () =>
      (await app.query(`select field, count(*)::int as n, count(text_value)::int as set from record_values where tenant_id = $1 and type = 'contact' group by field order by field`, [a.tenantId])).rows,
    );
    expect(values).toEqual([
      { field: 'city', n: 2, set: 0 },
      { field: 'phone', n: 2, set: 2 },
    ]);
  });

  it('serializes with writes: a duplicate written while a unique constraint is added cannot slip in', async () => {
    await defineType(app, a, 'lead', [{ name: 'email', kind: 'text' }]);
    await insert(app, a, 'lead', { email: 'lead@acme.test' });
    // The writer is in flight (uncommitted) with a duplicate when the constraint is added.
    await app.query('begin');
    await app.query(`set local app.tenant_id = '${a.tenantId}'`);
    await app.query(`select set_config('app.tenant_proof', $1, true)`, [a.proof]);
    await app.query(`insert into records (tenant_id, type, data) values ($1, 'lead', '{"email": "lead@acme.test"}')`, [a.tenantId]);
    const change = asTenant(other, a, () => other.query(`update record_fields set is_unique = true where tenant_id = $1 and record_type = 'lead' and name = 'email'`, [a.tenantId]), { commit: true });
    await new Promise((resolve) => setTimeout(resolve, 200));
    await app.query('commit');
    expect((await failure(() => change)).code).toBe('23505');
  });
});

describe('deleting a tenant', () => {
  it('removes its records, values and types', async () => {
    const doomed = await newTenant();
    await defineType(app, doomed, 'customer', [{ name: 'email', kind: 'text', unique: true }]);
    await defineType(app, doomed, 'invoice', [{ name: 'customer', kind: 'reference', target: 'customer' }]);
    const customer = await insert(app, doomed, 'customer', { email: 'x@acme.test' });
    await insert(app, doomed, 'invoice', { customer });
    await owner.query('begin');
    await owner.query(`set local role ${TEST_ROLES.system}`);
    await owner.query('delete from tenants where id = $1', [doomed.tenantId]);
    const { rows } = await owner.query(`select (select count(*) from records where tenant_id = $1)::int + (select count(*) from record_values where tenant_id = $1)::int + (select count(*) from record_types where tenant_id = $1)::int as n`, [doomed.tenantId]);
    await owner.query('commit');
    expect(rows[0].n).toBe(0);
  });
});
