import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { TestDatabase } from '../helpers/database.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncRecordViews, viewSchema } from '../../src/records/record-views.js';
import { TEST_ROLES } from '../helpers/cluster.js';
import { useHarness, type TestTenant } from '../helpers/http.js';
import { asTenant } from '../helpers/fixtures.js';

// The seed's read layer: customers read their records through views owned by the privileged
// role. Each type gets a typed view, made by the owner (never by the app role), safe through
// security_invoker and FORCE.
const context = useHarness();
let db: TestDatabase;
let owner: pg.Client;
let app: pg.Client;
let a: TestTenant;
let b: TestTenant;
let ownerPool: pg.Pool;

const sync = () => syncRecordViews({ kernel: context.h.kernel, ownerPool });
const view = (t: TestTenant, type: string) => `"${viewSchema(t.id)}"."${type}"`;
const as = <T>(t: TestTenant | null, fn: () => Promise<T>) => asTenant(app, t && { tenantId: t.id, proof: db.proof(t.id) }, fn);

beforeAll(async () => {
  db = context.db;
  owner = await db.ownerClient();
  app = await db.appClient();
  const pg = (await import('pg')).default;
  ownerPool = new pg.Pool({ connectionString: db.ownerUrl, max: 2 });
  a = await context.h.tenant('Northwind');
  b = await context.h.tenant('Helios');
  for (const t of [a, b]) {
    const type = await context.h.call('POST', '/v1/record-types', {
      token: t.token,
      body: {
        name: 'property',
        fields: [
          { name: 'address', kind: 'text', required: true, unique: true },
          { name: 'rooms', kind: 'integer' },
          { name: 'listed', kind: 'boolean' },
          { name: 'built', kind: 'date' },
          { name: 'inspected_at', kind: 'timestamp' },
          { name: 'price', kind: 'number' },
        ],
      },
    });
    expect(type.status, JSON.stringify(type.body)).toBe(201);
    for (const n of [1, 2, 3]) {
      const record = await context.h.call('POST', '/v1/records/property', { token: t.token, body: { data: { address: `${n} Main St`, rooms: n, listed: n % 2 === 0, built: '1990-05-01', inspected_at: '2026-01-02T03:04:05Z', price: n * 1000.5 } } });
      expect(record.status).toBe(201);
    }
  }
  expect(await sync()).toBe(2);
});
afterAll(() => ownerPool?.end());

describe('typed views of record types', () => {
  it('show the tenant its own records with one typed column per field, and nothing to anyone else', async () => {
    const rows = await as(a, async () => (await app.query(`select * from ${view(a, 'property')} order by rooms`)).rows);
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatchObject({ tenant_id: a.id, address: '1 Main St', rooms: '1', listed: false, price: '1000.5' });
    expect(rows[0].built).toBeInstanceOf(Date);
    expect(rows[0].inspected_at.toISOString()).toBe('2026-01-02T03:04:05.000Z');
    expect(await as(b, async () => (await app.query(`select * from ${view(a, 'property')}`)).rowCount)).toBe(0);
    expect(await as(null, async () => (await app.query(`select * from ${view(a, 'property')}`)).rowCount)).toBe(0);
  });

  it('are created by the owner, security_invoker, over a table with FORCE row level security', async () => {
    const { rows } = await owner.query(
      `select c.relname, pg_get_userbyid(c.relowner) as owner, c.reloptions from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname in ($1, $2) and c.relkind = 'v'`,
      [viewSchema(a.id), viewSchema(b.id)],
    );
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      expect(row.owner).toBe(TEST_ROLES.owner);
      expect(row.reloptions).toContain('security_invoker=true');
    }
    const force = await owner.query(`select relname from pg_class where relname in ('records', 'record_values') and relrowsecurity and relforcerowsecurity`);
    expect(force.rowCount).toBe(2);
  });

  // Each of the two closes the seed's gotcha alone; the suite above fails if either is gone
  // from a view or the table. Without both, the owner's view shows every tenant the rows.
  it('leak every row to another tenant without security_invoker and FORCE, and hold with either', async () => {
    // Committed and put back after, not rolled back: Citus refuses a transaction that changes
    // a distributed table as one role and reads it as another.
    const leak = async (remove: string[], restore: string[]) => {
      const admin = await db.superuserClient();
      try {
        for (const statement of remove) await admin.query(statement);
        return await as(b, async () => (await app.query(`select * from ${view(a, 'property')}`)).rowCount);
      } finally {
        for (const statement of restore) await admin.query(statement);
      }
    };
    const invoker = (on: boolean) => [`alter view ${view(a, 'property')} set (security_invoker = ${on})`];
    const force = (on: boolean) => ['records', 'record_values'].map((table) => `alter table ${table} ${on ? '' : 'no '}force row level security`);
    expect(await leak(invoker(false), invoker(true))).toBe(0);
    expect(await leak(force(false), force(true))).toBe(0);
    // Citus reads a distributed table's shards as the querying role, whoever owns the view: there
    // the seed's leak does not happen even without both (measured, as the probe reports).
    const onCitus = process.env.ROWGUARD_TEST_ON_CITUS === '1';
    expect(await leak([...invoker(false), ...force(false)], [...invoker(true), ...force(true)])).toBe(onCitus ? 0 : 3);
  });

  it('follow the type: a new field is a new column, a deleted type loses its view', async () => {
    const added = await context.h.call('PATCH', '/v1/record-types/property', { token: a.token, body: { add_fields: [{ name: 'agent', kind: 'text' }] } });
    expect(added.status).toBe(200);
    expect(await sync()).toBe(1);
    const columns = await as(a, async () => (await app.query(`select * from ${view(a, 'property')} limit 1`)).fields.map((f) => f.name));
    expect(columns).toEqual(['tenant_id', 'id', 'version', 'created_at', 'updated_at', 'address', 'rooms', 'listed', 'built', 'inspected_at', 'price', 'agent', 'data']);
    await context.h.call('POST', '/v1/record-types', { token: a.token, body: { name: 'scratch', fields: [{ name: 'x', kind: 'text' }] } });
    expect(await sync()).toBe(1);
    expect((await context.h.call('DELETE', '/v1/record-types/scratch', { token: a.token })).status).toBe(204);
    expect(await sync()).toBe(1);
    const left = await owner.query(`select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relname = 'scratch'`, [viewSchema(a.id)]);
    expect(left.rowCount).toBe(0);
    expect(await sync()).toBe(0);
  });

  it('cannot be made or changed by the app role', async () => {
    const schema = viewSchema(a.id);
    for (const statement of [`create view "${schema}".mine as select * from records`, `drop view "${schema}".property`, `create schema tenant_${randomUUID().replace(/-/g, '')}`]) {
      const code = await as(a, () => app.query(statement)).then(() => null, (error) => (error as { code: string }).code);
      expect(code, statement).toBe('42501');
    }
  });
});
