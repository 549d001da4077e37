import pg from 'pg';
import type { Kernel } from '../packages/kernel/src/db/kernel.js';
import { recordFilters } from '../src/records/record-filters.js';
import type { RecordType } from '../src/records/record-schema.js';
import type { Key } from './driver-workloads.js';
import { httpBenchmark, type RecordKey, type RouteResult } from './http-workloads.js';
import { quantile, summarize } from './statistics.js';

/** The record type every benchmark tenant gets: the README's customer. */
export const CUSTOMER: RecordType = {
  name: 'customer',
  version: 1,
  json_schema: { type: 'object' },
  fields: [
    { name: 'email', kind: 'text', required: true, unique: true, case_insensitive: true, references: null, deprecated: false },
    { name: 'name', kind: 'text', required: false, unique: false, case_insensitive: false, references: null, deprecated: false },
    { name: 'score', kind: 'integer', required: false, unique: false, case_insensitive: false, references: null, deprecated: false },
  ],
};

export interface RecordsResult {
  /** Records in the table when the HTTP routes were measured. */
  records: number;
  http: RouteResult[];
  /** A small tenant's lookup by its unique email (driver level, one at a time) as the table grows. */
  scale: { records: number; p50: number; p99: number }[];
  /** Inserts per second, one connection: the side table against partial expression indexes, one per tenant. */
  design: { variant: string; indexes: number; insertsPerSecond: number }[];
}

interface Options {
  ownerUrl: string;
  appUrl: string;
  /** A superuser URL of the same database: it writes the grown rows in bulk, as the records trigger would. */
  adminUrl: string;
  systemRole: string;
  kernel: Kernel;
  keys: readonly Key[];
  perTenant: number;
  seconds: number;
  rounds: number;
  log: (line: string) => void;
}

// Records and their record_values rows for the given tenants, written in bulk with the triggers
// off (session_replication_role = replica): what the records trigger writes, minus its checks.
async function growRecords(admin: pg.Client, tenants: readonly string[], perTenant: number, tag: string): Promise<void> {
  await admin.query('begin');
  await admin.query('set local session_replication_role = replica');
  await admin.query(
    `insert into records (tenant_id, type, data, created_at)
     select t, 'customer', jsonb_build_object('email', $3 || g || '@example.test', 'name', 'Customer ' || g, 'score', g % 997), now() - g * interval '1 ms'
       from unnest($1::uuid[]) t, generate_series(1, $2) g`,
    [tenants, perTenant, tag],
  );
  await admin.query(
    `insert into record_values (tenant_id, record_id, type, field, kind, text_value, number_value, unique_key)
     select r.tenant_id, r.id, r.type, f.field, f.kind,
            case when f.kind = 'text' then r.data->>f.field end,
            case when f.kind = 'integer' then (r.data->>f.field)::numeric end,
            case when f.field = 'email' then lower(r.data->>'email') end
       from records r cross join (values ('email', 'text'), ('name', 'text'), ('score', 'integer')) f(field, kind)
      where r.tenant_id = any($1) and r.data->>'email' like $2 || '%'`,
    [tenants, tag],
  );
  await admin.query('commit');
  await admin.query('analyze records, record_values');
}

async function count(admin: pg.Client): Promise<number> {
  return Number((await admin.query<{ n: string }>('select count(*) as n from records')).rows[0]!.n);
}

/** One lookup by unique email at a time for `seconds`, `rounds` times: the medians of p50 and p99. */
async function lookupLatency(kernel: Kernel, tenant: string, emails: string[], seconds: number, rounds: number) {
  const [filter] = recordFilters(CUSTOMER, { 'filter[email]': emails[0]! });
  const text = `select r.id, r.data, r.version from records r where r.tenant_id = $1 and r.type = $2 and ${filter!.sql('$3')} limit 21`;
  const p50s: number[] = [];
  const p99s: number[] = [];
  let i = 0;
  for (let round = 0; round < rounds; round++) {
    const samples: number[] = [];
    const until = performance.now() + seconds * 1000;
    while (performance.now() < until) {
      const started = performance.now();
      const { rows } = await kernel.tenantQuery(tenant, text, [tenant, 'customer', emails[i++ % emails.length]!.toUpperCase()]);
      if (rows.length !== 1) throw new Error('a lookup by unique email must find one record');
      samples.push(performance.now() - started);
    }
    p50s.push(quantile(samples, 0.5));
    p99s.push(quantile(samples, 0.99));
  }
  return { p50: summarize(p50s).median, p99: summarize(p99s).median };
}

/**
 * Why a side table: inserts into a shared records table with one partial unique expression
 * index per tenant (what "an index per tenant and field" means) against the records trigger
 * writing record_values. Each variant in a scratch table or a tenant of its own, one connection,
 * one insert per transaction with the tenant context set.
 */
async function designMeasurement(admin: pg.Client, tenants: readonly string[], seconds: number, log: (line: string) => void): Promise<RecordsResult['design']> {
  const design: RecordsResult['design'] = [];
  const timed = async (variant: string, indexes: number, insert: (i: number) => Promise<unknown>) => {
    let done = 0;
    const until = performance.now() + seconds * 1000;
    const started = performance.now();
    while (performance.now() < until) await insert(done++);
    design.push({ variant, indexes, insertsPerSecond: Math.round(done / ((performance.now() - started) / 1000)) });
  };
  const tenant = tenants[0]!;
  const inTenant = async (sql: string, values: unknown[]) => {
    await admin.query('begin');
    await admin.query(`select set_config('app.tenant_id', $1, true)`, [tenant]);
    await admin.query(sql, values);
    await admin.query('commit');
  };
  log('records: side table, inserts through the records trigger…');
  await timed('side table (record_values, written by the trigger)', 0, (i) => inTenant(`insert into records (tenant_id, type, data) values ($1, 'customer', $2)`, [tenant, { email: `design-${i}@example.test`, name: 'x', score: i }]));
  await admin.query('create table design_records (tenant_id uuid not null, type text not null, id uuid not null default gen_random_uuid(), data jsonb not null, primary key (tenant_id, id))');
  try {
    let made = 0;
    for (const indexes of [0, 100, 1000]) {
      log(`records: ${indexes} partial expression indexes, inserts…`);
      for (; made < Math.min(indexes, tenants.length); made++) {
        await admin.query(`create unique index on design_records ((lower(data->>'email'))) where tenant_id = '${tenants[made]}' and type = 'customer'`);
      }
      await timed('partial unique expression index per tenant', made, (i) =>
        inTenant(`insert into design_records (tenant_id, type, data) values ($1, 'customer', $2)`, [tenant, { email: `design-${indexes}-${i}@example.test`, name: 'x', score: i }]),
      );
    }
  } finally {
    await admin.query('drop table design_records');
  }
  return design;
}

/**
 * Records against projects on one run: the customer type for every benchmark tenant with
 * `perTenant` records each; the HTTP routes (create, get by id, get by unique field) side by
 * side with the projects routes; a small tenant's lookup by unique field as other tenants'
 * records grow the table to 10×; and the design measurement. Removes every record after.
 */
export async function recordsBenchmark(o: Options): Promise<RecordsResult> {
  const admin = new pg.Client({ connectionString: o.adminUrl });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ id: string }>('select id from tenants order by id');
    const tenants = rows.map((r) => r.id);
    o.log(`records: the customer type for ${tenants.length} tenants, ${o.perTenant} records each…`);
    await admin.query(`insert into record_types (tenant_id, name, json_schema) select id, 'customer', '{"type": "object"}' from tenants`);
    await admin.query(
      `insert into record_fields (tenant_id, record_type, name, kind, required, is_unique, case_insensitive, position, added_in_version)
       select t.id, 'customer', f.name, f.kind, f.required, f.is_unique, f.ci, f.position, 1
         from tenants t, (values ('email', 'text', true, true, true, 0), ('name', 'text', false, false, false, 1), ('score', 'integer', false, false, false, 2)) f(name, kind, required, is_unique, ci, position)`,
    );
    await growRecords(admin, tenants, o.perTenant, 'seed-');
    const start = await count(admin);

    const sample = o.keys.slice(0, 200);
    const recordKeys: RecordKey[] = (
      await admin.query<{ tenant: string; id: string; email: string }>(
        `select distinct on (r.tenant_id) r.tenant_id::text as tenant, r.id::text, r.data->>'email' as email from records r where r.tenant_id = any($1) order by r.tenant_id, random()`,
        [[...new Set(sample.map((k) => k.tenant))]],
      )
    ).rows;
    const service = { appUrl: o.appUrl, ownerUrl: o.ownerUrl, systemRole: o.systemRole };
    const http = await httpBenchmark(service, o.keys, {
      seconds: o.seconds * 5,
      rounds: o.rounds,
      connections: 8,
      log: o.log,
      routes: ['GET project by id', 'GET record by id', 'GET record by unique field', 'POST project', 'POST record'],
      recordKeys,
    });

    // One tenant's lookups, while the growth adds records to every other tenant.
    const small = tenants[tenants.length - 1]!;
    const emails = (await admin.query<{ email: string }>(`select data->>'email' as email from records where tenant_id = $1 limit 100`, [small])).rows.map((r) => r.email);
    const others = tenants.slice(0, -1);
    const scale = [{ records: await count(admin), ...(await lookupLatency(o.kernel, small, emails, o.seconds * 2, o.rounds)) }];
    for (const multiple of [2, 5, 10]) {
      const add = Math.round((start * multiple - scale[scale.length - 1]!.records) / others.length);
      o.log(`records: growing to ${multiple}× (${(start * multiple).toLocaleString('en-US')} records)…`);
      await growRecords(admin, others, add, `grown${multiple}-`);
      scale.push({ records: await count(admin), ...(await lookupLatency(o.kernel, small, emails, o.seconds * 2, o.rounds)) });
    }
    const design = await designMeasurement(admin, tenants, o.seconds * 2, o.log);
    // Leave the database as it was: the projects' scale curve must not share the buffer cache
    // with a million records.
    await admin.query('truncate record_values, records, record_type_versions, record_fields, record_types');
    return { records: start, http, scale, design };
  } finally {
    await admin.end();
  }
}

/** The "## Records" section of BENCHMARKS.md. */
export function recordsSection(result: RecordsResult, perTenant: number): string {
  const route = (name: string) => result.http.find((r) => r.route === name)!;
  const pair = (ours: string, theirs: string) => (route(ours).rate.median / route(theirs).rate.median).toFixed(2);
  const first = result.scale[0]!;
  const last = result.scale[result.scale.length - 1]!;
  const sideTable = result.design.find((d) => d.indexes === 0 && d.variant.startsWith('side'))!;
  return [
    '## Records',
    '',
    `Tenant-defined records (\`/v1/records/{type}\`) against the fixed projects resource, on the same run and server: every tenant has the README's customer type (unique case-insensitive email, name, integer score) with ${perTenant.toLocaleString('en-US')} records, ${result.records.toLocaleString('en-US')} in all. HTTP as above (8 connections, real JWTs, routes interleaved, median of the rounds).`,
    '',
    '| route | requests/s | p50 | p99 | non-2xx or errors | CPU µs per request: service | PostgreSQL |',
    '|---|---|---|---|---|---|---|',
    ...result.http.map((r) => `| ${r.route} | ${Math.round(r.rate.median)} (${Math.round(r.rate.min)}–${Math.round(r.rate.max)}) | ${r.p50} ms | ${r.p99} ms | ${r.errors} | ${r.cpu.service} | ${r.cpu.postgres} |`),
    '',
    `- Record / project: create ${pair('POST record', 'POST project')}, get by id ${pair('GET record by id', 'GET project by id')}, get by unique field (\`?filter[email]=\`) against a project by id ${pair('GET record by unique field', 'GET project by id')}.`,
    '- A record create reads its type (the JSON Schema and fields) first, then inserts; the records trigger checks the declared fields and writes one record_values row per field; the audit entry and event carry the COMMIT. A get by unique field reads the type (to know the field), then the record through the unique index.',
    '',
    `Lookup by a declared unique field as the table grows: a small tenant's \`filter[email]\` statement (driver level, one at a time), while other tenants' records grow the table from ${first.records.toLocaleString('en-US')} to ${last.records.toLocaleString('en-US')}.`,
    '',
    '| records in all | p50 | p99 | p50 / p50 at the start |',
    '|---|---|---|---|',
    ...result.scale.map((p) => `| ${p.records.toLocaleString('en-US')} | ${p.p50.toFixed(3)} ms | ${p.p99.toFixed(3)} ms | ${(p.p50 / first.p50).toFixed(2)} |`),
    '',
    `- Lookups by a declared field at 10× records ≤ 1.2× their latency at 1×: ${(last.p50 / first.p50).toFixed(2)} — ${last.p50 / first.p50 <= 1.2 ? '**met**' : '**missed**'}.`,
    '',
    'Why the rules live in a side table: inserts per second on one connection (a transaction each, tenant context set), through the records trigger into record_values, against a records table with one partial unique expression index per tenant (`create unique index … ((lower(data->>\'email\'))) where tenant_id = … and type = …`), which every insert has to test.',
    '',
    '| variant | indexes on the table | inserts/s |',
    '|---|---|---|',
    ...result.design.map((d) => `| ${d.variant} | ${d.variant.startsWith('side') ? '3 on records; 8 on record_values, partial: a value enters 2 or 3' : d.indexes} | ${d.insertsPerSecond} |`),
    '',
    `- The side table costs the same whatever the number of tenants (${sideTable.insertsPerSecond} inserts/s); per-tenant indexes slow every tenant's inserts as tenants are added, and each one is DDL: a lock on the whole table, by a role the app does not have.`,
    '',
  ].join('\n');
}

/** Replaces (or adds) the "## Records" section of a BENCHMARKS.md text, before the Citus section. */
export function withRecordsSection(markdown: string, section: string): string {
  const start = markdown.indexOf('\n## Records\n');
  const citus = markdown.indexOf('\n## Citus\n');
  if (start >= 0) {
    const end = citus > start ? citus : markdown.length;
    return `${markdown.slice(0, start + 1)}${section}${markdown.slice(end)}`;
  }
  if (citus >= 0) return `${markdown.slice(0, citus + 1)}${section}${markdown.slice(citus)}`;
  return `${markdown.trimEnd()}\n\n${section}`;
}
