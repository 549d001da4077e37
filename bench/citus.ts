import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { bootstrapDatabase, withCredentials } from '../packages/kernel/src/schema/bootstrap.js';
import { migrate } from '../packages/kernel/src/schema/migrate.js';
import { setupRoles } from '../packages/kernel/src/schema/roles.js';
import { createKernel } from '../packages/kernel/src/db/kernel.js';
import { createPool } from '../packages/kernel/src/db/pool.js';
import { SERVICE_MIGRATIONS } from '../src/service-migrations.js';
import { BENCH_ROLES } from './bench-database.js';
import { measure, STATEMENTS, type Key } from './driver-workloads.js';
import { httpBenchmark, httpWireCounts, type Route, type RouteResult } from './http-workloads.js';
import { quantile, summarize, type Summary } from './statistics.js';
import { formatValue } from './svg-chart.js';

// `npm run bench -- --citus <superuser URL of a Citus coordinator>`: the same statements and
// service on a cluster, in a database of their own created on every node.

const OPERATIONS = ['get by id', 'list 20 with cursor', 'insert'] as const;
type Operation = (typeof OPERATIONS)[number];
const VARIANTS = ['V0 floor', 'V1 tenant filter and RLS', 'V1 RLS only'] as const;
type Variant = (typeof VARIANTS)[number];

/**
 * Each operation three ways: V0 with an explicit tenant filter on a distributed copy without
 * RLS; V1 as the service sends it (the tenant named in the statement, RLS too); V1 with RLS
 * alone, no tenant in the statement, which Citus cannot route.
 */
const STATEMENT: Record<Operation, Record<Variant, { text: string; values: (k: Key) => unknown[] }>> = {
  'get by id': {
    'V0 floor': { text: STATEMENTS['get by id'].floor, values: (k) => [k.id, k.tenant] },
    'V1 tenant filter and RLS': { text: 'select id, name, status, created_at from projects where tenant_id = $2 and id = $1', values: (k) => [k.id, k.tenant] },
    'V1 RLS only': { text: STATEMENTS['get by id'].scoped, values: (k) => [k.id] },
  },
  'list 20 with cursor': {
    'V0 floor': { text: STATEMENTS['list 20 with cursor'].floor, values: (k) => [k.createdAt, k.id, k.tenant] },
    'V1 tenant filter and RLS': {
      text: 'select id, name, status, created_at from projects where tenant_id = $3 and (created_at, id) < ($1::timestamptz, $2::uuid) order by created_at desc, id desc limit 20',
      values: (k) => [k.createdAt, k.id, k.tenant],
    },
    'V1 RLS only': { text: STATEMENTS['list 20 with cursor'].scoped, values: (k) => [k.createdAt, k.id] },
  },
  insert: {
    'V0 floor': { text: STATEMENTS.insert.floor, values: (k) => ['bench', k.tenant] },
    'V1 tenant filter and RLS': { text: 'insert into projects (tenant_id, name) values ($2, $1) returning id', values: (k) => ['bench', k.tenant] },
    'V1 RLS only': { text: STATEMENTS.insert.scoped, values: () => ['bench'] },
  },
};

const HTTP_ROUTES: Route[] = ['GET project by id', 'GET 20 projects', 'POST project'];

export interface CitusResult {
  date: string;
  cluster: { version: string; citus: string; workers: number; shardCount: number };
  setup: { tenants: number; rowsPerTenant: number; seconds: number; rounds: number };
  tasks: Record<string, number>;
  driver: { operation: Operation; concurrency: number; variant: Variant; rate: Summary; p50: number; p99: number }[];
  tenantsTable: { layout: string; createTenant: Summary; readTenant: Summary }[];
  http: RouteResult[];
  httpCounts: Record<string, { statements: number; roundTrips: number; failed: number }>;
}

/** Runs the Citus benchmark against the coordinator at `superuserUrl`; drops its database afterwards. */
export async function citusBenchmark(superuserUrl: string, { seconds, rounds, log }: { seconds: number; rounds: number; log: (line: string) => void }): Promise<CitusResult> {
  const tenants = 200;
  const rowsPerTenant = 200;
  const database = `rowguard_bench_${randomUUID().slice(0, 8)}`;
  const password = randomUUID();
  log(`Citus: creating ${database} on every node, migrating, seeding ${tenants} tenants × ${rowsPerTenant} projects…`);
  const { ownerUrl, appUrl } = await bootstrapDatabase({ superuserUrl, database, ...BENCH_ROLES, ownerPassword: password, appPassword: password });
  const admin = new pg.Client({ connectionString: withCredentials(superuserUrl, new URL(superuserUrl).username || 'postgres', decodeURIComponent(new URL(superuserUrl).password) || undefined, database) });
  await admin.connect();
  try {
    await migrate({ connectionString: ownerUrl, directory: SERVICE_MIGRATIONS, variables: { app_role: BENCH_ROLES.appRole, system_role: BENCH_ROLES.systemRole } });
    const owner = new pg.Client({ connectionString: ownerUrl });
    await owner.connect();
    await setupRoles(owner, { appRole: BENCH_ROLES.appRole, systemRole: BENCH_ROLES.systemRole });
    await owner.end();
    await seed(admin, tenants, rowsPerTenant);
    const keys: Key[] = (
      await admin.query<{ tenant: string; id: string; created_at: string }>(
        `select tenant_id::text as tenant, id::text, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as created_at from projects order by random() limit 2000`,
      )
    ).rows.map((r) => ({ tenant: r.tenant, id: r.id, createdAt: r.created_at }));

    const pool = createPool({ connectionString: appUrl, max: 8, applicationName: 'bench app' });
    const systemPool = createPool({ connectionString: ownerUrl, max: 1, applicationName: 'bench system' });
    const kernel = createKernel({ appPool: pool, systemPool, systemRole: BENCH_ROLES.systemRole });
    const run = (operation: Operation, variant: Variant) => {
      const { text, values } = STATEMENT[operation][variant];
      return variant === 'V0 floor' ? (k: Key) => pool.query(text, values(k)) : (k: Key) => kernel.tenantQuery(k.tenant, text, values(k));
    };
    const tasks: Record<string, number> = {};
    for (const operation of OPERATIONS) for (const variant of VARIANTS) tasks[`${variant}|${operation}`] = await taskCount(appUrl, keys[0]!, STATEMENT[operation][variant]);

    const driver: CitusResult['driver'] = [];
    for (const operation of OPERATIONS) {
      for (const concurrency of [1, 8]) {
        const runs = new Map<Variant, { rates: number[]; latencies: number[] }>(VARIANTS.map((v) => [v, { rates: [], latencies: [] }]));
        for (let round = 0; round < rounds; round++) {
          for (const variant of VARIANTS) {
            log(`Citus · ${operation} · c=${concurrency} · round ${round + 1} · ${variant}`);
            const { rate, latencies } = await measure(run(operation, variant), keys, concurrency, seconds);
            runs.get(variant)!.rates.push(rate);
            runs.get(variant)!.latencies.push(...latencies);
          }
        }
        for (const [variant, { rates, latencies }] of runs) driver.push({ operation, concurrency, variant, rate: summarize(rates), p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) });
      }
    }
    const tenantsTable = await tenantsLayouts(admin, seconds, rounds, log);
    await pool.end();
    await systemPool.end();

    const service = { appUrl, ownerUrl, systemRole: BENCH_ROLES.systemRole };
    const httpCounts = await httpWireCounts(service, keys, HTTP_ROUTES);
    const http = await httpBenchmark(service, keys, { seconds: seconds * 5, rounds, connections: 8, log, routes: HTTP_ROUTES });
    const about = (await admin.query<{ version: string; citus: string; workers: number; shards: number }>(
      `select current_setting('server_version') as version, (select extversion from pg_extension where extname = 'citus') as citus,
              (select count(*)::int from pg_dist_node where noderole = 'primary' and groupid > 0) as workers,
              (select count(*)::int from pg_dist_shard where logicalrelid = 'projects'::regclass) as shards`,
    )).rows[0]!;
    return {
      date: new Date().toISOString().slice(0, 10),
      cluster: { version: about.version, citus: about.citus, workers: about.workers, shardCount: about.shards },
      setup: { tenants, rowsPerTenant, seconds, rounds },
      tasks,
      driver,
      tenantsTable,
      http,
      httpCounts,
    };
  } finally {
    await admin.end();
    const drop = new pg.Client({ connectionString: superuserUrl });
    await drop.connect();
    await drop.query('set citus.enable_create_database_propagation = on');
    await drop.query(`drop database if exists ${database} with (force)`);
    await drop.end();
  }
}

/** Tenants, one member each (the JWT's user), projects, and projects_plain: the same rows, distributed alike, without RLS. */
async function seed(admin: pg.Client, tenants: number, rowsPerTenant: number): Promise<void> {
  await admin.query(`insert into tenants (id, name) select gen_random_uuid(), 'tenant ' || g from generate_series(1, $1) g`, [tenants]);
  await admin.query(`insert into team_members (tenant_id, user_id, email, role) select id, 'bench-user', 'bench@example.test', 'owner' from tenants`);
  await admin.query(`insert into projects (tenant_id, name, created_at) select t.id, 'p' || g, now() - g * interval '1 second' from tenants t, generate_series(1, $1) g`, [rowsPerTenant]);
  await admin.query(`create table projects_plain (like projects including defaults including indexes)`);
  await admin.query(`select create_distributed_table('projects_plain', 'tenant_id', colocate_with => 'projects')`);
  await admin.query(`insert into projects_plain select * from projects`);
  await admin.query(`grant select, insert on projects_plain to ${BENCH_ROLES.appRole}`);
  await admin.query('analyze');
}

/** How many shards the plan of `statement` touches, as the app role in the key's tenant. */
async function taskCount(appUrl: string, key: Key, statement: { text: string; values: (k: Key) => unknown[] }): Promise<number> {
  const client = new pg.Client({ connectionString: appUrl });
  await client.connect();
  try {
    await client.query('begin');
    await client.query(`set local app.tenant_id = '${key.tenant}'`);
    const { rows } = await client.query(`explain (format json) ${statement.text}`, statement.values(key));
    const counts = JSON.stringify(rows[0]['QUERY PLAN']).match(/"Task Count":(\d+)/g) ?? [];
    return Math.max(0, ...counts.map((c) => Number(c.split(':')[1])));
  } finally {
    await client.query('rollback').catch(() => undefined);
    await client.end();
  }
}

/**
 * The choice for `tenants`: distributed by id with the tenant tables (Rowguard's layout) or a
 * reference table, copied to every node. Measured on copies of the table: creating a tenant,
 * and reading one tenant's row as the principal check does, one at a time.
 */
async function tenantsLayouts(admin: pg.Client, seconds: number, rounds: number, log: (line: string) => void): Promise<CitusResult['tenantsTable']> {
  await admin.query(`create table tenants_distributed (id uuid primary key, name text not null, status text not null default 'active')`);
  await admin.query(`select create_distributed_table('tenants_distributed', 'id', colocate_with => 'tenants')`);
  await admin.query(`create table tenants_reference (id uuid primary key, name text not null, status text not null default 'active')`);
  await admin.query(`select create_reference_table('tenants_reference')`);
  for (const table of ['tenants_distributed', 'tenants_reference']) await admin.query(`insert into ${table} (id, name) select id, name from tenants`);
  const ids = (await admin.query<{ id: string }>('select id from tenants')).rows.map((r) => r.id);
  const results: CitusResult['tenantsTable'] = [];
  for (const [layout, table] of [['distributed by id (Rowguard)', 'tenants_distributed'], ['reference table', 'tenants_reference']] as const) {
    const create: number[] = [];
    const read: number[] = [];
    for (let round = 0; round < rounds; round++) {
      log(`Citus · tenants ${layout} · round ${round + 1}`);
      create.push((await measure(() => admin.query(`insert into ${table} (id, name) values (gen_random_uuid(), 'new')`), [], 1, seconds)).rate);
      let i = 0;
      read.push((await measure(() => admin.query(`select status from ${table} where id = $1`, [ids[i++ % ids.length]]), [], 1, seconds)).rate);
    }
    results.push({ layout, createTenant: summarize(create), readTenant: summarize(read) });
  }
  return results;
}

/** The "## Citus" section of BENCHMARKS.md. */
export function citusSection(r: CitusResult, results: string): string {
  const [distributed, reference] = r.tenantsTable as [CitusResult['tenantsTable'][number], CitusResult['tenantsTable'][number]];
  const cell = (operation: Operation, concurrency: number, variant: Variant) => r.driver.find((c) => c.operation === operation && c.concurrency === concurrency && c.variant === variant)!;
  const lines = [
    '## Citus',
    '',
    `Generated by \`npm run bench -- --citus <coordinator URL>\` on ${r.date}; the raw numbers are in \`${results}\`. PostgreSQL ${r.cluster.version}, Citus ${r.cluster.citus}, a coordinator and ${r.cluster.workers} workers on this machine (loopback, the same two cores), ${r.cluster.shardCount} shards per table. Data: ${r.setup.tenants} tenants × ${r.setup.rowsPerTenant} projects. Each figure: requests per second, median of ${r.setup.rounds} rounds of ${r.setup.seconds} s (HTTP: ${r.setup.seconds * 5} s), variants interleaved; spread = min–max of the rounds.`,
    '',
    '- **V0 floor**: the statement with an explicit `tenant_id` filter on `projects_plain`, a copy distributed the same way without RLS, autocommit.',
    '- **V1 tenant filter and RLS**: `tenantQuery` with the tenant named in the statement as well, what the service sends: Citus routes it to the one shard of the tenant.',
    '- **V1 RLS only**: `tenantQuery` with the statement of the plain-PostgreSQL benchmark, no tenant in it: correct (RLS holds on every shard) but Citus cannot tell which shard, and asks all of them.',
    '',
    '### Shards per statement (Task Count of its plan)',
    '',
    '| operation | ' + VARIANTS.join(' | ') + ' |',
    '|---|' + VARIANTS.map(() => '---|').join(''),
    ...OPERATIONS.map((o) => `| ${o} | ${VARIANTS.map((v) => r.tasks[`${v}|${o}`]).join(' | ')} |`),
    '',
    '### Driver level',
    '',
    '| operation | concurrency | ' + VARIANTS.join(' | ') + ' | V1 routed / V0 |',
    '|---|---|' + VARIANTS.map(() => '---|').join('') + '---|',
    ...OPERATIONS.flatMap((o) =>
      [1, 8].map((c) => {
        const values = VARIANTS.map((v) => {
          const x = cell(o, c, v);
          return `${formatValue(x.rate.median)} (${formatValue(x.rate.min)}–${formatValue(x.rate.max)}); p50 ${x.p50.toFixed(2)} ms`;
        });
        return `| ${o} | ${c} | ${values.join(' | ')} | ${(cell(o, c, 'V1 tenant filter and RLS').rate.median / cell(o, c, 'V0 floor').rate.median).toFixed(2)} |`;
      }),
    ),
    '',
    '### HTTP (the running service on the coordinator, real JWTs, 8 connections)',
    '',
    '| route | requests/s | p50 | p99 | non-2xx or errors | statements / round trips to the coordinator |',
    '|---|---|---|---|---|---|',
    ...r.http.map((h) => {
      const w = r.httpCounts[h.route];
      return `| ${h.route} | ${formatValue(h.rate.median)} (${formatValue(h.rate.min)}–${formatValue(h.rate.max)}) | ${h.p50} ms | ${h.p99} ms | ${h.errors} | ${w ? `${w.statements} / ${w.roundTrips}` : '–'} |`;
    }),
    '',
    '### `tenants`: distributed by id, or a reference table',
    '',
    'Copies of the table in both layouts, one request at a time as a superuser: creating a tenant, and reading one tenant\'s row (what the principal check does in every request).',
    '',
    '| layout | create a tenant / s | read a tenant / s |',
    '|---|---|---|',
    ...r.tenantsTable.map((t) => `| ${t.layout} | ${formatValue(t.createTenant.median)} (${formatValue(t.createTenant.min)}–${formatValue(t.createTenant.max)}) | ${formatValue(t.readTenant.median)} (${formatValue(t.readTenant.min)}–${formatValue(t.readTenant.max)}) |`),
    '',
    `A reference table is written on every node, with a two-phase commit: creating a tenant took ${(distributed.createTenant.median / reference.createTenant.median).toFixed(1)} times as long as in the distributed table, one node. It is read on the coordinator itself, where a distributed \`tenants\` row is read on its worker: ${(reference.readTenant.median / distributed.readTenant.median).toFixed(1)} times as fast, ${(1000 / distributed.readTenant.median - 1000 / reference.readTenant.median).toFixed(2)} ms less per read. The principal check reads the tenant's row once per request, on the node the request's transaction uses anyway. Rowguard keeps \`tenants\` distributed and colocated: creating, suspending or changing a tenant stays a one-node write, and the tenant's own row moves with its data when the tenant is isolated to a shard of its own; the price is that one read per request.`,
    '',
  ];
  return lines.join('\n');
}

/** `markdown` with its "## Citus" section (up to the next "## " heading) replaced by `section`, or `section` appended. */
export function withCitusSection(markdown: string, section: string): string {
  const start = markdown.indexOf('\n## Citus\n');
  if (start < 0) return `${markdown.trimEnd()}\n\n${section}`;
  const next = markdown.indexOf('\n## ', start + 1);
  return `${markdown.slice(0, start + 1)}${section}${next < 0 ? '' : markdown.slice(next)}`;
}
