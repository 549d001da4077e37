import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordFilters } from '../../src/records/record-filters.js';
import type { RecordType } from '../../src/records/record-schema.js';
import { recordViewSql, viewSchema } from '../../src/records/record-views.js';
import { TEST_ROLES } from '../helpers/cluster.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

// Lookups and sorts on declared fields, at 1,000,000 records across 1,000 tenants, as the app
// role: through the type's view and through the API's list statement. Each must start from an
// index; none may read the shared table or the side table in full.
const TENANTS = 1_000;
const PER_TENANT = 1_000;

let db: TestDatabase;
let app: pg.Client;
let tenant: string;
const customer: RecordType = {
  name: 'customer',
  version: 1,
  json_schema: {},
  fields: [
    { name: 'email', kind: 'text', required: true, unique: true, case_insensitive: true, references: null, deprecated: false },
    { name: 'score', kind: 'integer', required: false, unique: false, case_insensitive: false, references: null, deprecated: false },
    { name: 'joined', kind: 'date', required: false, unique: false, case_insensitive: false, references: null, deprecated: false },
  ],
};

type PlanNode = { 'Node Type': string; 'Relation Name'?: string; 'Index Name'?: string; Plans?: PlanNode[] };
const nodes = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodes)];

async function plan(sql: string, values: unknown[] = []): Promise<{ seqScans: string[]; indexes: string[] }> {
  await app.query('begin');
  try {
    await app.query(`set local app.tenant_id = '${tenant}'`);
    await app.query(`select set_config('app.tenant_proof', $1, true)`, [db.proof(tenant)]);
    const { rows } = await app.query(`explain (format json) ${sql}`, values);
    const all = nodes(rows[0]['QUERY PLAN'][0].Plan);
    return {
      seqScans: all.filter((n) => n['Node Type'] === 'Seq Scan').map((n) => n['Relation Name']!),
      indexes: all.flatMap((n) => (n['Index Name'] ? [n['Index Name']] : [])),
    };
  } finally {
    await app.query('rollback');
  }
}

beforeAll(async () => {
  db = await createTestDatabase();
  const admin = await db.superuserClient();
  // Written in bulk, as the records trigger would have written them.
  await admin.query('set session_replication_role = replica');
  await admin.query(`insert into tenants (id, name) select gen_random_uuid(), 'tenant ' || g from generate_series(1, ${TENANTS}) g`);
  await admin.query(`insert into record_types (tenant_id, name, json_schema) select id, 'customer', '{}' from tenants`);
  await admin.query(
    `insert into record_fields (tenant_id, record_type, name, kind, required, is_unique, case_insensitive, position, added_in_version)
     select t.id, 'customer', f.name, f.kind, f.required, f.is_unique, f.ci, f.position, 1
       from tenants t, (values ('email', 'text', true, true, true, 0), ('score', 'integer', false, false, false, 1), ('joined', 'date', false, false, false, 2)) f(name, kind, required, is_unique, ci, position)`,
  );
  await admin.query(
    `insert into records (tenant_id, type, data, created_at)
     select t.id, 'customer', jsonb_build_object('email', 'User' || g || '@example.test', 'score', g % 997, 'joined', (date '2020-01-01' + g % 2000)::text), now() - g * interval '1 second'
       from tenants t, generate_series(1, ${PER_TENANT}) g`,
  );
  await admin.query(
    `insert into record_values (tenant_id, record_id, type, field, kind, text_value, unique_key) select tenant_id, id, type, 'email', 'text', data->>'email', lower(data->>'email') from records;
     insert into record_values (tenant_id, record_id, type, field, kind, number_value) select tenant_id, id, type, 'score', 'integer', (data->>'score')::numeric from records;
     insert into record_values (tenant_id, record_id, type, field, kind, date_value) select tenant_id, id, type, 'joined', 'date', (data->>'joined')::date from records`,
  );
  await admin.query('reset session_replication_role');
  await admin.query('analyze tenants, record_types, record_fields, records, record_values');
  tenant = (await admin.query('select id from tenants order by id offset 500 limit 1')).rows[0].id;
  const owner = await db.ownerClient();
  await owner.query(`create schema "${viewSchema(tenant)}"`);
  await owner.query(recordViewSql({ tenant_id: tenant, ...customer }));
  await owner.query(`grant usage on schema "${viewSchema(tenant)}" to ${TEST_ROLES.app}; grant select on all tables in schema "${viewSchema(tenant)}" to ${TEST_ROLES.app}`);
  app = await db.appClient();
}, 300_000);
afterAll(() => db.close());

describe(`declared fields use an index (${TENANTS * PER_TENANT} records, ${TENANTS} tenants)`, () => {
  const view = () => `"${viewSchema(tenant)}".customer`;
  it.each([
    ['the view, filtered on a text field', () => `select * from ${view()} where email = 'User500@example.test'`, 'record_values_text'],
    ['the view, sorted on an integer field', () => `select * from ${view()} order by score desc limit 20`, 'record_values_number'],
    ['the view, a range of a date field', () => `select * from ${view()} where joined >= '2024-01-01' order by joined limit 20`, 'record_values_date'],
  ])('%s', async (_, sql, index) => {
    const { seqScans, indexes } = await plan(sql());
    expect(seqScans).toEqual([]);
    expect(indexes).toContain(index);
  });

  it('the API’s list filtered on a case-insensitive unique field', async () => {
    const [filter] = recordFilters(customer, { 'filter[email]': 'user500@EXAMPLE.test' });
    const { seqScans, indexes } = await plan(`select r.* from records r where r.tenant_id = $1 and r.type = $2 and ${filter!.sql('$3')} order by r.created_at desc, r.id desc limit 21`, [tenant, 'customer', filter!.value]);
    expect(seqScans).toEqual([]);
    expect(indexes).toContain('record_values_unique_key');
  });

  it('the API’s list filtered on an integer field, and its newest page', async () => {
    const [filter] = recordFilters(customer, { 'filter[score]': '42' });
    const filtered = await plan(`select r.* from records r where r.tenant_id = $1 and r.type = $2 and ${filter!.sql('$3')} order by r.created_at desc, r.id desc limit 21`, [tenant, 'customer', filter!.value]);
    expect(filtered.seqScans).toEqual([]);
    const newest = await plan(`select r.* from records r where r.tenant_id = $1 and r.type = $2 order by r.created_at desc, r.id desc limit 21`, [tenant, 'customer']);
    expect(newest.seqScans).toEqual([]);
    expect(newest.indexes).toContain('records_tenant_id_type_created_at_id_idx');
  });
});
