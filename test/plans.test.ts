import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ROLES } from './helpers/cluster.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { discoverTenantTables } from './helpers/isolation-check.js';

// The tenant-scoped queries the service runs, written as handlers write them: no tenant
// filter of their own. Row-level security adds it, and an index must serve it.
const QUERIES: Record<string, string> = {
  'project by id': 'select * from projects where id = $project',
  'newest 20 projects': 'select * from projects order by created_at desc, id desc limit 20',
  'next page of projects': 'select * from projects where (created_at, id) < (now(), $project) order by created_at desc, id desc limit 20',
  'count projects': 'select count(*) from projects',
  'tasks of a project': 'select * from tasks where project_id = $project order by created_at desc limit 20',
  'task by id': 'select * from tasks where id = $task',
  'newest 20 tasks': 'select * from tasks order by created_at desc, id desc limit 20',
  'comments of a task': 'select * from comments where task_id = $task',
  'documents, newest first': 'select * from documents order by created_at desc, id desc limit 20',
  'invoices by status': "select * from invoices where status = 'sent' order by created_at desc limit 20",
  'members by user': "select * from team_members where user_id = 'user-1'",
  'project summary': 'select * from project_summaries where id = $project',
  'audit log page': 'select * from audit_log order by created_at desc, id desc limit 50',
  'update a task': "update tasks set status = 'done' where id = $task",
  'delete a comment': 'delete from comments where id = $task',
};

let db: TestDatabase;
let app: pg.Client;
let tenantTables: string[];
let ids: { tenant: string; project: string; task: string };

type PlanNode = { 'Node Type': string; 'Relation Name'?: string; Plans?: PlanNode[] };
function seqScans(node: PlanNode): string[] {
  const own = node['Node Type'] === 'Seq Scan' && node['Relation Name'] ? [node['Relation Name']] : [];
  return [...own, ...(node.Plans ?? []).flatMap(seqScans)];
}

beforeAll(async () => {
  db = await createTestDatabase();
  const owner = await db.ownerClient();
  await owner.query(`set role ${TEST_ROLES.system}`);
  // 100 tenants; 100k projects, 100k tasks, 10k members; some of everything else.
  await owner.query(`insert into tenants (id, name) select gen_random_uuid(), 'tenant ' || g from generate_series(1, 100) g`);
  await owner.query(`insert into team_members (tenant_id, user_id, email, role) select id, 'user-' || g, g || '@example.test', 'member' from tenants, generate_series(1, 100) g`);
  await owner.query(`insert into projects (tenant_id, name, created_at) select t.id, 'p' || g, now() - g * interval '1 minute' from tenants t, generate_series(1, 1000) g`);
  await owner.query(`insert into tasks (tenant_id, project_id, title) select tenant_id, id, 'task' from projects`);
  await owner.query(`insert into documents (tenant_id, title) select tenant_id, 'doc' from projects where name like 'p1%'`);
  await owner.query(`insert into comments (tenant_id, task_id, body) select tenant_id, id, 'c' from tasks where title = 'task' and random() < 0.2`);
  await owner.query(`insert into invoices (tenant_id, number, customer_name, currency, status) select tenant_id, 'INV-' || id, 'c', 'EUR', 'sent' from projects where name like 'p2%'`);
  await owner.query(`insert into audit_log (tenant_id, actor, action, entity_type) select tenant_id, 'u', 'x', 'project' from projects where name like 'p3%'`);
  const row = (await owner.query(`select p.tenant_id, p.id as project, t.id as task from projects p join tasks t on t.project_id = p.id and t.tenant_id = p.tenant_id limit 1`)).rows[0];
  await owner.query('reset role');
  await owner.query('analyze');
  ids = { tenant: row.tenant_id, project: row.project, task: row.task };
  tenantTables = (await discoverTenantTables(owner)).map((t) => t.table);
  app = await db.appClient();
});
afterAll(() => db.close());

describe('tenant-scoped queries use an index on tenant_id (as the app role, 100k rows, 100 tenants)', () => {
  it.each(Object.entries(QUERIES))('%s', async (_name, template) => {
    const text = template.replace('$project', `'${ids.project}'`).replace('$task', `'${ids.task}'`);
    await app.query('begin');
    try {
      await app.query(`select set_config('app.tenant_id', $1, true), set_config('app.tenant_proof', $2, true)`, [ids.tenant, db.proof(ids.tenant)]);
      const { rows } = await app.query(`explain (format json) ${text}`);
      const plan = rows[0]['QUERY PLAN'][0].Plan as PlanNode;
      expect(seqScans(plan).filter((relation) => tenantTables.includes(relation))).toEqual([]);
    } finally {
      await app.query('rollback');
    }
  });
});
