import pg from 'pg';
import { quoteIdent } from '../../db/sql.js';

/**
 * Whether the connected database runs Citus: the `citus` extension is installed in it.
 *
 * @param client - any connection to the database
 * @example
 * ```ts
 * import { isCitus } from '@rowguard/kernel';
 * if (await isCitus(owner)) console.log('tenant tables are distributed by tenant_id');
 * ```
 */
export async function isCitus(client: pg.ClientBase): Promise<boolean> {
  const { rows } = await client.query<{ citus: boolean }>(`select exists (select 1 from pg_extension where extname = 'citus') as citus`);
  return rows[0]!.citus;
}

/**
 * Creates `database` on every node of the Citus cluster the superuser `admin` is connected to
 * (its database lists the nodes in pg_dist_node), with the citus extension and the workers
 * registered: Citus keeps its metadata per database. Then makes `owner` known to Citus in it:
 * a role created from another database is not, and the first object the owner creates would
 * make Citus replay `ALTER ROLE … NOSUPERUSER` on the workers as the owner, which only a
 * superuser may. An object given to the owner by the superuser registers the role.
 */
export async function createCitusDatabase(admin: pg.ClientBase, adminUrl: string, database: string, owner: string): Promise<void> {
  const nodes = await admin.query<{ nodename: string; nodeport: number; coordinator: boolean }>(
    `select nodename, nodeport, groupid = 0 as coordinator from pg_dist_node where noderole = 'primary' and isactive order by groupid`,
  );
  await admin.query(`set citus.enable_create_database_propagation = on`);
  try {
    await admin.query(`create database ${quoteIdent(database)} owner ${quoteIdent(owner)}`);
  } finally {
    await admin.query(`reset citus.enable_create_database_propagation`);
  }
  const coordinator = nodes.rows.find((n) => n.coordinator);
  for (const node of nodes.rows) {
    await onNode(adminUrl, node, database, (client) => client.query('create extension if not exists citus'));
  }
  await onNode(adminUrl, coordinator, database, async (client) => {
    if (coordinator) await client.query('select citus_set_coordinator_host($1, $2)', [coordinator.nodename, coordinator.nodeport]);
    for (const worker of nodes.rows.filter((n) => !n.coordinator)) await client.query('select citus_add_node($1, $2)', [worker.nodename, worker.nodeport]);
    await client.query(`create function public.rowguard_register_owner() returns int language sql as 'select 1'`);
    await client.query(`alter function public.rowguard_register_owner() owner to ${quoteIdent(owner)}`);
    await client.query('drop function public.rowguard_register_owner()');
  });
}

/** Whether the superuser's database is a Citus coordinator with workers: new databases are created on every node. */
export async function isCitusCoordinator(admin: pg.ClientBase): Promise<boolean> {
  if (!(await isCitus(admin))) return false;
  const { rows } = await admin.query<{ workers: boolean }>(`select exists (select 1 from pg_dist_node where groupid <> 0) as workers`);
  return rows[0]!.workers;
}

async function onNode(adminUrl: string, node: { nodename: string; nodeport: number } | undefined, database: string, work: (client: pg.Client) => Promise<unknown>): Promise<void> {
  const url = new URL(adminUrl);
  if (node) {
    url.hostname = node.nodename;
    url.port = String(node.nodeport);
  }
  url.pathname = `/${encodeURIComponent(database)}`;
  const client = new pg.Client({ connectionString: url.toString(), application_name: 'rowguard bootstrap' });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}
