import { randomUUID } from 'node:crypto';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audit, probe } from '@rowguard/audit';
import { migrate, repairShardPolicies, setSignedContext, shardPolicyProblems } from '@rowguard/kernel';
import { SERVICE_MIGRATIONS } from '../../src/service-migrations.js';
import { TEST_ROLES } from '../helpers/cluster.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { seedTenant } from '../helpers/fixtures.js';
import { discoverTenantTables } from '../helpers/isolation-check.js';
import { startTestService } from '../helpers/service.js';

// The database was made by bootstrapDatabase and migrate on a Citus coordinator, nothing by hand.
let db: TestDatabase;
let superuser: pg.Client;
// The service's migrations, and a later one of a team's own (written by the test below).
let directory: string;

beforeAll(async () => {
  db = await createTestDatabase();
  superuser = await db.superuserClient();
  directory = await mkdtemp(join(tmpdir(), 'rowguard-citus-migrations-'));
  await cp(SERVICE_MIGRATIONS, directory, { recursive: true });
});
afterAll(async () => {
  await db.close();
  await rm(directory, { recursive: true, force: true, maxRetries: 5 });
});

const variables = { app_role: TEST_ROLES.app, system_role: TEST_ROLES.system };

// First: the service migrates at start, and a test below adds a migration of its own.
describe('what does not work on Citus is refused', () => {
  it('the set-config tenant context, which would not reach the workers', async () => {
    await expect(startTestService(db, { ROWGUARD_TENANT_CONTEXT: 'set-config' })).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(/^ROWGUARD_TENANT_CONTEXT=set-config does not reach the Citus workers/) });
  });

  it('the signed tenant context, whose policies Citus cannot run', async () => {
    await expect(setSignedContext(await db.ownerClient(), true)).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(/not available on Citus/) });
  });
});

describe('migrate on Citus', () => {
  it('distributes every tenant table by its tenant column, and tenants by id, in one colocation group', async () => {
    const tenantTables = (await discoverTenantTables(superuser)).map((t) => t.table);
    const { rows } = await superuser.query<{ table: string; column: string; colocation: number; kind: string }>(
      `select logicalrelid::regclass::text as table, column_to_column_name(logicalrelid, partkey) as column, colocationid as colocation, partmethod as kind
         from pg_dist_partition order by 1`,
    );
    const distributed = new Map(rows.map((r) => [r.table, r]));
    expect(distributed.get('tenants')).toMatchObject({ column: 'id', kind: 'h' });
    for (const table of tenantTables.filter((t) => t !== 'tenants')) expect(distributed.get(table), table).toMatchObject({ column: 'tenant_id', kind: 'h' });
    expect(new Set(rows.map((r) => r.colocation)).size).toBe(1);
    // Nothing else is distributed: the migrations table and the context key stay on the coordinator.
    expect([...distributed.keys()].sort()).toEqual([...tenantTables].sort());
  });

  it('creates the views again after distributing their tables, with security_invoker and their grants', async () => {
    const { rows } = await superuser.query<{ options: string[]; acl: string[] }>(`select reloptions as options, relacl::text[] as acl from pg_class where oid = 'project_summaries'::regclass`);
    expect(rows[0]!.options).toEqual(['security_invoker=true']);
    expect(rows[0]!.acl.find((entry) => entry.startsWith(`${TEST_ROLES.app}=`))).toMatch(/^[^=]+=[a-zA-Z]*r[a-zA-Z]*\//);
  });

  it('lets the tenant context of the app role reach the workers, and only the app role', async () => {
    const { rows } = await superuser.query<{ role: string; settings: string[] }>(
      `select r.rolname as role, s.setconfig as settings from pg_db_role_setting s join pg_roles r on r.oid = s.setrole
        where s.setdatabase = (select oid from pg_database where datname = current_database())`,
    );
    expect(rows).toEqual([{ role: TEST_ROLES.app, settings: ['citus.propagate_set_commands=local'] }]);
  });

  it('applies nothing and distributes nothing the second time', async () => {
    const distributed: unknown[] = [];
    const applied = await migrate({ connectionString: db.ownerUrl, directory: SERVICE_MIGRATIONS, variables, onDistributed: (d) => distributed.push(d) });
    expect(applied).toEqual([]);
    expect(distributed).toEqual([]);
  });

  it('distributes a tenant table added by a later migration, applied one statement at a time', async () => {
    // Several statements in one file, a dollar-quoted body with semicolons, and a view over
    // the new table and an already distributed one.
    await writeFile(
      join(directory, '0900_labels.sql'),
      `create table labels (
         tenant_id uuid not null default nullif(current_setting('app.tenant_id', true), '')::uuid references tenants (id) on delete cascade,
         id uuid not null default gen_random_uuid(),
         project_id uuid not null,
         name text not null,
         primary key (tenant_id, id),
         foreign key (tenant_id, project_id) references projects (tenant_id, id) on delete cascade
       );
       alter table labels enable row level security, force row level security;
       create policy tenant_isolation on labels using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
       grant select, insert, update, delete on labels to :"app_role";
       create function label_text(name text) returns text language plpgsql immutable as $$ begin return 'label: ' || name; end; $$;
       create view project_labels with (security_invoker = true) as select p.tenant_id, p.id, count(l.id) as labels from projects p left join labels l on l.tenant_id = p.tenant_id and l.project_id = p.id group by p.tenant_id, p.id;
       grant select on project_labels to :"app_role";`,
    );
    const distributions: unknown[] = [];
    const applied = await migrate({ connectionString: db.ownerUrl, directory, variables, onDistributed: (d) => distributions.push(d) });
    expect(applied.map((m) => m.name)).toEqual(['0900_labels.sql']);
    expect(distributions).toEqual([{ distributed: [{ table: 'labels', column: 'tenant_id' }], recreatedViews: ['project_labels'], repairedTables: 0 }]);
    const { rows } = await superuser.query<{ same: boolean }>(
      `select (select colocationid from pg_dist_partition where logicalrelid = 'labels'::regclass) = (select colocationid from pg_dist_partition where logicalrelid = 'projects'::regclass) as same`,
    );
    expect(rows[0]!.same).toBe(true);
  });
});

describe('policies on the nodes that hold the rows', () => {
  it('are the tables\' own on every shard and worker, restrictive ones included', async () => {
    const owner = await db.ownerClient();
    expect(await shardPolicyProblems(owner)).toEqual([]);
  });

  it('are restored by migrate when Citus copied a restrictive policy as permissive', async () => {
    const owner = await db.ownerClient();
    // Citus 13.2 copies CREATE POLICY … AS RESTRICTIVE to the shards without AS RESTRICTIVE.
    await owner.query(`create policy no_archived_writes on invoices as restrictive for update to ${TEST_ROLES.app} using (status <> 'void')`);
    const problems = await shardPolicyProblems(owner);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.every((p) => p.table === 'invoices')).toBe(true);
    // The audit sees it too, though the coordinator's catalog shows the policy as written.
    const findings = (await audit(db.superuserUrl, { appRole: TEST_ROLES.app })).findings.filter((f) => f.id === 'citus-shard-policies');
    expect(findings).toEqual([expect.objectContaining({ severity: 'error', object: 'invoices' })]);
    const distributions: unknown[] = [];
    await migrate({ connectionString: db.ownerUrl, directory, variables, onDistributed: (d) => distributions.push(d) });
    expect(distributions).toEqual([{ distributed: [], recreatedViews: [], repairedTables: 1 }]);
    expect(await shardPolicyProblems(owner)).toEqual([]);
    expect((await audit(db.superuserUrl, { appRole: TEST_ROLES.app })).findings.filter((f) => f.id === 'citus-shard-policies')).toEqual([]);
  });

  it('are restored by the repair even when it deadlocks with a request holding a shard', async () => {
    const owner = await db.ownerClient();
    await owner.query(`create policy no_deleted_documents on documents as restrictive for update to ${TEST_ROLES.app} using (true)`);
    const problems = await shardPolicyProblems(owner);
    const worker = problems.find((p) => p.relation !== p.table)!;
    // The repair puts a node's relations back in name order, in one transaction on that node.
    const shards = problems.filter((p) => p.nodeport === worker.nodeport && p.relation !== p.table).map((p) => p.relation).sort();
    expect(shards.length).toBeGreaterThan(1);
    const [first, last] = [shards[0]!, shards[shards.length - 1]!];
    const onWorker = new pg.Client({ connectionString: Object.assign(new URL(db.superuserUrl), { port: String(worker.nodeport) }).toString() });
    await onWorker.connect();
    try {
      // A request that holds the last shard, and then wants the first one, which the repair
      // holds by then: a deadlock, which aborts the repair's transaction on that node.
      await onWorker.query('begin');
      await onWorker.query(`select count(*) from ${last}`); // its lock is held to the end of the transaction
      const repaired = repairShardPolicies(owner).catch((error: unknown) => error);
      const waitedFor = async () => (await onWorker.query(`select exists (select 1 from pg_locks where relation = '${last}'::regclass and not granted) as waiting`)).rows[0].waiting;
      while (!(await waitedFor())) await new Promise((resolve) => setTimeout(resolve, 20));
      await onWorker.query(`select count(*) from ${first}`);
      await onWorker.query('commit');
      expect(await repaired).toBe(1);
    } finally {
      await onWorker.end();
    }
    expect(await shardPolicyProblems(owner)).toEqual([]);
    await owner.query('drop policy no_deleted_documents on documents');
  });
});

describe('a tenant on the cluster', () => {
  it('has all its rows on one worker, and tenants on both workers', async () => {
    const { kernel } = db.kernel();
    // Four tenants whose tenants row the cluster places on each worker (random ids alone could
    // all land on one).
    const candidates = Array.from({ length: 64 }, () => randomUUID());
    const placed = await superuser.query<{ id: string; nodeport: number }>(
      `select c.id::text, s.nodeport from unnest($1::uuid[]) as c(id) join citus_shards s on s.shardid = get_shard_id_for_distribution_column('tenants', c.id)`,
      [candidates],
    );
    const tenants = [...new Set(placed.rows.map((r) => r.nodeport))].flatMap((port) => placed.rows.filter((r) => r.nodeport === port).slice(0, 4).map((r) => r.id));
    expect(tenants).toHaveLength(8);
    await kernel.asSystem(async (tx) => {
      for (const tenant of tenants) {
        await tx.query(`insert into tenants (id, name) values ($1, 'citus')`, [tenant]);
        const { rows } = await tx.query<{ id: string }>(`insert into team_members (tenant_id, user_id, email, role, status) values ($1, 'u', 'u@example.test', 'owner', 'active') returning id`, [tenant]);
        await tx.query(`insert into projects (tenant_id, name, created_by) values ($1, 'p', $2)`, [tenant, rows[0]!.id]);
      }
    });
    const { rows } = await superuser.query<{ tenant: string; nodes: string[] }>(
      `select t.id::text as tenant, array_agg(distinct s.nodeport::text) as nodes
         from unnest($1::uuid[]) as t(id)
         cross join lateral (select nodeport from citus_shards where shardid in (
           get_shard_id_for_distribution_column('tenants', t.id),
           get_shard_id_for_distribution_column('team_members', t.id),
           get_shard_id_for_distribution_column('projects', t.id))) s
        group by t.id`,
      [tenants],
    );
    for (const row of rows) expect(row.nodes, row.tenant).toHaveLength(1);
    expect(new Set(rows.map((r) => r.nodes[0])).size).toBe(2);
  });

  it('cannot insert a row of another tenant: row-level security refuses it (42501), not some other error', async () => {
    const { kernel } = db.kernel();
    const [a, b] = [randomUUID(), randomUUID()];
    await kernel.asSystem(async (tx) => {
      for (const tenant of [a, b]) await tx.query(`insert into tenants (id, name) values ($1, 'citus')`, [tenant]);
    });
    const refused = await kernel.withTenant(a, (tx) => tx.query(`insert into projects (tenant_id, name) values ($1, 'foreign')`, [b])).catch((error: { code?: string }) => error);
    expect(refused).toMatchObject({ code: '42501' });
    // Citus routes an insert by the tenant column it names: the column's default is not enough.
    const own = await kernel.withTenant(a, (tx) => tx.query<{ tenant_id: string }>(`insert into projects (tenant_id, name) values ($1, 'mine') returning tenant_id`, [a]));
    expect(own.rows[0]!.tenant_id).toBe(a);
  });
});

describe('the proof tools on the cluster', () => {
  it('audit finds no error, and the probe attacks every tenant table and passes', async () => {
    const owner = await db.ownerClient();
    const app = await db.appClient();
    await seedTenant(owner, app, TEST_ROLES.system);
    await seedTenant(owner, app, TEST_ROLES.system);
    const report = await audit(db.superuserUrl, { appRole: TEST_ROLES.app });
    expect(report.findings.filter((f) => f.severity === 'error')).toEqual([]);
    const probed = await probe({ ownerUrl: db.superuserUrl, appUrl: db.appUrl, expectProbed: 14 });
    expect(probed.results.filter((r) => r.status === 'fail')).toEqual([]);
  });
});

