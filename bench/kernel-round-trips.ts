/**
 * A quick measurement of what tenant scoping costs per point read: reads/s at concurrency 8
 * for the same lookup done four ways, interleaved, three rounds, medians reported.
 *
 *   npm run bench:kernel                 (embedded PostgreSQL)
 *   ROWGUARD_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench:kernel
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createKernel } from '../src/db/kernel.js';
import { createPool } from '../src/db/pool.js';
import { startEmbeddedPostgres } from '../src/embedded/embedded-postgres.js';
import { bootstrapDatabase } from '../src/schema/bootstrap.js';
import { migrate } from '../src/schema/migrate.js';

const TENANTS = 100;
const PER_TENANT = 1_000;
const CONCURRENCY = 8;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = 3;

async function main() {
  let superuserUrl = process.env.ROWGUARD_BENCH_DATABASE_URL;
  let cleanup = async () => {};
  if (!superuserUrl) {
    const dir = await mkdtemp(join(tmpdir(), 'rowguard-bench-'));
    const embedded = await startEmbeddedPostgres({ dataDir: dir });
    superuserUrl = embedded.superuserUrl;
    cleanup = async () => {
      await embedded.stop();
      await rm(dir, { recursive: true, force: true });
    };
  }
  const database = `rowguard_bench_${randomUUID().slice(0, 8)}`;
  const roles = { ownerRole: 'rowguard_bench_owner', appRole: 'rowguard_bench_app', systemRole: 'rowguard_bench_system' };
  const password = randomUUID();
  const { ownerUrl, appUrl } = await bootstrapDatabase({ superuserUrl, database, ...roles, ownerPassword: password, appPassword: password });
  await migrate({ connectionString: ownerUrl, variables: { app_role: roles.appRole, system_role: roles.systemRole } });

  process.stdout.write(`seeding ${TENANTS * PER_TENANT} projects across ${TENANTS} tenants… `);
  const owner = new pg.Client({ connectionString: ownerUrl });
  await owner.connect();
  await owner.query(`set role ${roles.systemRole}`);
  await owner.query(`insert into tenants (id, name) select gen_random_uuid(), 't' || g from generate_series(1, ${TENANTS}) g`);
  await owner.query(`insert into projects (tenant_id, name) select t.id, 'p' || g from tenants t, generate_series(1, ${PER_TENANT}) g`);
  await owner.query('reset role');
  // The floor: same rows, no RLS, explicit filter.
  await owner.query('create table projects_plain as select * from projects; alter table projects_plain add primary key (tenant_id, id)');
  await owner.query(`grant select on projects_plain to ${roles.appRole}`);
  await owner.query('analyze');
  const keys = (await owner.query<{ tenant_id: string; id: string }>('select tenant_id, id from projects_plain order by random() limit 5000')).rows;
  await owner.end();
  console.log('done');

  const appPool = createPool({ connectionString: appUrl, max: CONCURRENCY, applicationName: 'bench app' });
  const systemPool = createPool({ connectionString: ownerUrl, max: 1, applicationName: 'bench system' });
  const kernel = createKernel({ appPool, systemPool, systemRole: roles.systemRole });
  const setConfigKernel = createKernel({ appPool, systemPool, systemRole: roles.systemRole, tenantContext: 'set-config' });
  const byId = 'select id, name, status, created_at from projects where id = $1';

  const variants: Record<string, (k: { tenant_id: string; id: string }) => Promise<unknown>> = {
    'V0 floor: prepared, WHERE tenant_id = $1, no RLS': (k) =>
      appPool.query({ name: 'floor', text: 'select id, name, status, created_at from projects_plain where tenant_id = $1 and id = $2', values: [k.tenant_id, k.id] }),
    'V1 tenantQuery (1 round trip)': (k) => kernel.tenantQuery(k.tenant_id, byId, [k.id]),
    "V1 tenantQuery, tenantContext 'set-config'": (k) => setConfigKernel.tenantQuery(k.tenant_id, byId, [k.id]),
    'V1 withTenant, one statement (2 round trips)': (k) => kernel.withTenant(k.tenant_id, (tx) => tx.query(byId, [k.id])),
    'V2 BEGIN; set_config; SELECT; COMMIT (4 round trips)': async (k) => {
      const client = await appPool.connect();
      try {
        await client.query('begin');
        await client.query("select set_config('app.tenant_id', $1, true)", [k.tenant_id]);
        await client.query({ name: 'v2', text: byId, values: [k.id] });
        await client.query('commit');
      } finally {
        client.release();
      }
    },
  };

  const results: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [name, run] of Object.entries(variants)) {
      let done = 0;
      const until = performance.now() + SECONDS * 1000;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async (_, worker) => {
          let i = worker;
          while (performance.now() < until) {
            await run(keys[i++ % keys.length]!);
            done++;
          }
        }),
      );
      results[name]!.push(done / SECONDS);
      process.stdout.write(`round ${round}: ${name}: ${Math.round(done / SECONDS)}/s\n`);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const floor = median(Object.values(results)[0]!);
  console.log(`\npoint read by id, ${TENANTS * PER_TENANT} rows, concurrency ${CONCURRENCY}, median of ${ROUNDS} × ${SECONDS}s`);
  for (const [name, xs] of Object.entries(results)) {
    const spread = `${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))}`;
    console.log(`${name.padEnd(56)} ${String(Math.round(median(xs))).padStart(7)}/s  (${spread})  ×${(median(xs) / floor).toFixed(2)}`);
  }
  await Promise.allSettled([appPool.end(), systemPool.end()]);
  const admin = new pg.Client({ connectionString: superuserUrl });
  await admin.connect();
  await admin.query(`drop database ${database} with (force)`);
  await admin.end();
  await cleanup();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
