import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { substituteVariables } from '../packages/kernel/src/schema/sql-variables.js';
import { tenantTableSql } from '../packages/kernel/src/schema/tenant-table.js';
import { startEmbeddedPostgres } from '../packages/testing/src/embedded/embedded-postgres.js';
import { bootstrapDatabase } from '../packages/kernel/src/schema/bootstrap.js';
import { migrate } from '../packages/kernel/src/schema/migrate.js';
import { SERVICE_MIGRATIONS } from '../src/service-migrations.js';

export const BENCH_ROLES = { ownerRole: 'rowguard_bench_owner', appRole: 'rowguard_bench_app', systemRole: 'rowguard_bench_system' };

export interface BenchDatabase {
  ownerUrl: string;
  appUrl: string;
  /** A superuser in this database: bulk writes past row-level security and triggers. */
  adminUrl: string;
  serverVersion: string;
  settings: Record<string, string>;
  close(): Promise<void>;
}

/**
 * A migrated database for benchmarks: the embedded server, or ROWGUARD_BENCH_DATABASE_URL
 * (a superuser URL). Projects are seeded across `tenants` tenants, one of which holds 15 %
 * of the rows; projects_plain is the same data with no row-level security (the floor and the
 * hand-written server, with tenants_plain, team_members_plain, audit_log_plain and
 * outbox_events_plain), and projects_signed the same data under the signed tenant context.
 */
export async function benchDatabase({ tenants, rows, log }: { tenants: number; rows: number; log: (line: string) => void }): Promise<BenchDatabase> {
  let superuserUrl = process.env.ROWGUARD_BENCH_DATABASE_URL;
  let stopEmbedded = async () => {};
  if (!superuserUrl) {
    const dir = await mkdtemp(join(tmpdir(), 'rowguard-bench-'));
    const embedded = await startEmbeddedPostgres({ dataDir: dir });
    superuserUrl = embedded.superuserUrl;
    stopEmbedded = async () => {
      await embedded.stop();
      await rm(dir, { recursive: true, force: true });
    };
  }
  const database = `rowguard_bench_${randomUUID().slice(0, 8)}`;
  const password = randomUUID();
  const { ownerUrl, appUrl } = await bootstrapDatabase({ superuserUrl, database, ...BENCH_ROLES, ownerPassword: password, appPassword: password });
  await migrate({ connectionString: ownerUrl, directory: SERVICE_MIGRATIONS, variables: { app_role: BENCH_ROLES.appRole, system_role: BENCH_ROLES.systemRole } });

  const owner = new pg.Client({ connectionString: ownerUrl });
  await owner.connect();
  const started = performance.now();
  log(`seeding ${rows.toLocaleString('en-US')} projects across ${tenants} tenants (one holds 15 %)…`);
  await owner.query(`set role ${BENCH_ROLES.systemRole}`);
  await owner.query(`insert into tenants (id, name) select gen_random_uuid(), 'tenant ' || lpad(g::text, 5, '0') from generate_series(1, $1) g`, [tenants]);
  const big = Math.round(rows * 0.15);
  const each = Math.max(1, Math.round((rows - big) / (tenants - 1)));
  await owner.query(
    `insert into projects (tenant_id, name, created_at)
     select (select id from tenants order by name limit 1), 'p' || g, now() - g * interval '1 second' from generate_series(1, $1) g`,
    [big],
  );
  await owner.query(
    `insert into projects (tenant_id, name, created_at)
     select t.id, 'p' || g, now() - g * interval '1 second' from (select id from tenants order by name offset 1) t, generate_series(1, $1) g`,
    [each],
  );
  // One member per tenant, so a JWT for ('bench-user', tenant) passes the membership check.
  await owner.query(`insert into team_members (tenant_id, user_id, email, role) select id, 'bench-user', 'bench@example.test', 'owner' from tenants`);
  await owner.query('reset role');
  // The floor: the same rows and indexes, no row-level security.
  await owner.query(`create table projects_plain (like projects including defaults including indexes)`);
  await owner.query(`grant select, insert, update, delete on projects_plain to ${BENCH_ROLES.appRole}`);
  // The hand-written contender's audit log and outbox: the same columns, defaults, checks and
  // indexes as audit_log and outbox_events, no row-level security (foreign keys below, once
  // their tables exist; no triggers).
  await owner.query(`create table audit_log_plain (like audit_log including all)`);
  await owner.query(`create table outbox_events_plain (like outbox_events including all)`);
  await owner.query(`grant insert on audit_log_plain, outbox_events_plain to ${BENCH_ROLES.appRole}`);
  // The same rows under the signed tenant context (rowguard signed-context on), for its cost.
  await owner.query(`create table projects_signed (like projects including defaults including indexes)`);
  await owner.query(
    substituteVariables(tenantTableSql({ table: 'projects_signed', index: false, signedContext: true }), { app_role: BENCH_ROLES.appRole, system_role: BENCH_ROLES.systemRole }),
  );
  await owner.query('vacuum analyze');
  await owner.end();

  const inDatabase = new URL(superuserUrl);
  inDatabase.pathname = `/${database}`;
  // A superuser copies the rows: it is not bound by row-level security.
  const admin = new pg.Client({ connectionString: inDatabase.toString() });
  await admin.connect();
  await admin.query('insert into projects_plain select * from projects');
  await admin.query('insert into projects_signed select * from projects');
  // The HTTP floor route checks the tenant and membership without RLS too.
  await admin.query('create table team_members_plain as select * from team_members; alter table team_members_plain add primary key (tenant_id, id)');
  await admin.query('create unique index on team_members_plain (tenant_id, user_id)');
  await admin.query('create table tenants_plain as select * from tenants; alter table tenants_plain add primary key (id)');
  await admin.query(`grant select on team_members_plain, tenants_plain to ${BENCH_ROLES.appRole}`);
  // The real tables' foreign keys to tenants and members, so that a write costs the same checks
  // with and without row-level security: what differs is Rowguard's, not the schema's.
  await admin.query(`alter table projects_plain add foreign key (tenant_id) references tenants_plain (id) on delete cascade,
    add foreign key (tenant_id, created_by) references team_members_plain (tenant_id, id) on delete set null (created_by)`);
  await admin.query('alter table audit_log_plain add foreign key (tenant_id) references tenants_plain (id) on delete cascade');
  await admin.query('alter table outbox_events_plain add foreign key (tenant_id) references tenants_plain (id) on delete cascade');
  await admin.query('vacuum analyze projects_plain, projects_signed, team_members_plain, tenants_plain');
  const version = (await admin.query<{ server_version: string }>('show server_version')).rows[0]!.server_version;
  const settings = Object.fromEntries(
    (await admin.query<{ name: string; setting: string }>(`select name, setting from pg_settings where name in ('shared_buffers', 'max_connections', 'synchronous_commit', 'work_mem')`)).rows.map((r) => [r.name, r.setting]),
  );
  await admin.end();
  log(`seeded in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  return {
    ownerUrl,
    appUrl,
    adminUrl: inDatabase.toString(),
    serverVersion: version,
    settings,
    async close() {
      const drop = new pg.Client({ connectionString: superuserUrl });
      await drop.connect();
      await drop.query(`drop database if exists ${database} with (force)`);
      await drop.end();
      await stopEmbedded();
    },
  };
}
