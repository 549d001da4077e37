import { randomBytes, randomUUID } from 'node:crypto';
import type pg from 'pg';
import { contextProof, readContextKey } from '../../packages/kernel/src/db/context-proof.js';

/** The tenant and the ids of the rows seeded for it, by table. */
export interface TenantSeed {
  tenantId: string;
  /** The tenant context's proof under the database's context key (set with the id). */
  proof: string;
  ids: Record<string, string>;
}

type Row = Record<string, unknown>;
const unique = () => randomBytes(4).toString('hex');

/**
 * A valid row of each service table for one tenant. A tenant table without an entry here
 * fails the isolation suite until someone writes one and so proves its isolation.
 */
export const FIXTURES: Record<string, (seed: TenantSeed) => Row> = {
  tenants: (s) => ({ id: s.tenantId, name: `Tenant ${s.tenantId.slice(0, 8)}` }),
  team_members: (s) => ({ tenant_id: s.tenantId, user_id: `user-${unique()}`, email: `${unique()}@example.test`, role: 'owner' }),
  projects: (s) => ({ tenant_id: s.tenantId, name: `Project ${unique()}`, created_by: s.ids.team_members }),
  tasks: (s) => ({ tenant_id: s.tenantId, project_id: s.ids.projects, title: 'Task', assignee_id: s.ids.team_members }),
  documents: (s) => ({ tenant_id: s.tenantId, project_id: s.ids.projects, title: 'Doc', created_by: s.ids.team_members }),
  comments: (s) => ({ tenant_id: s.tenantId, task_id: s.ids.tasks, author_id: s.ids.team_members, body: 'Looks good' }),
  invoices: (s) => ({
    tenant_id: s.tenantId,
    number: `INV-${unique()}`,
    customer_name: 'Customer',
    currency: 'EUR',
    line_items: JSON.stringify([{ description: 'Work', quantity: 1, unit_amount: 1000, amount: 1000 }]),
    amount_total: 1000,
  }),
  api_keys: (s) => ({ tenant_id: s.tenantId, name: 'ci', prefix: 'rg_test', key_hash: randomBytes(32), scopes: ['read'], created_by: s.ids.team_members }),
  webhooks: (s) => ({ tenant_id: s.tenantId, url: 'https://example.test/hook', event_types: ['project.created'], secret: `whsec_${unique()}` }),
  audit_log: (s) => ({ tenant_id: s.tenantId, actor: 'user-1', action: 'project.created', entity_type: 'project', entity_id: s.ids.projects }),
  idempotency_keys: (s) => ({
    tenant_id: s.tenantId,
    principal: 'user:user-1',
    key: `key-${unique()}`,
    fingerprint: 'f',
    status_code: 201,
    response_body: '{}',
    expires_at: new Date(Date.now() + 3_600_000),
  }),
  webhook_deliveries: (s) => ({ tenant_id: s.tenantId, webhook_id: s.ids.webhooks, event_id: randomUUID(), event_type: 'project.created', payload: '{}' }),
  webhook_attempts: (s) => ({ tenant_id: s.tenantId, delivery_id: s.ids.webhook_deliveries, attempt: Math.floor(Math.random() * 1e6), status_code: 200, latency_ms: 12 }),
  outbox_events: (s) => ({ tenant_id: s.tenantId, type: 'project.created', entity_type: 'project', entity_id: s.ids.projects, payload: JSON.stringify({ id: s.ids.projects }) }),
  // Record types are referred to by name, unique per tenant: each tenant's differs, so a row
  // of A that names B's type names a type A does not have.
  record_types: (s) => ({ tenant_id: s.tenantId, name: `type_${unique()}`, json_schema: '{"type": "object"}' }),
  record_fields: (s) => ({ tenant_id: s.tenantId, record_type: s.ids.record_types, name: `field_${unique()}`, kind: 'text', position: 0, added_in_version: 1 }),
  record_type_versions: (s) => ({ tenant_id: s.tenantId, record_type: s.ids.record_types, version: Math.floor(Math.random() * 1e6), json_schema: '{}', fields: '[]', changed_by: 'user:user-1' }),
  records: (s) => ({ tenant_id: s.tenantId, type: s.ids.record_types, data: JSON.stringify({ [s.ids.record_fields!]: 'value' }) }),
  record_values: (s) => ({ tenant_id: s.tenantId, record_id: s.ids.records, type: s.ids.record_types, field: s.ids.record_fields, kind: 'text', text_value: 'value' }),
};

/** The column that identifies a row of the table, when it is not `id`: what other fixtures refer to. */
const KEY_COLUMN: Record<string, string> = { record_types: 'name', record_fields: 'name', record_values: 'field' };

/** Rows the database writes itself (triggers): seeded by their source's fixture, read back here. */
const WRITTEN_BY_TRIGGERS: Record<string, string> = { record_values: 'select field as id from record_values where tenant_id = $1 and record_id = $2' };

/** Tables in the order their rows can be created (parents first). */
export const SEED_ORDER = [
  'tenants', 'team_members', 'projects', 'tasks', 'documents', 'comments', 'invoices', 'api_keys', 'webhooks', 'audit_log', 'idempotency_keys', 'outbox_events',
  'webhook_deliveries', 'webhook_attempts', 'record_types', 'record_fields', 'record_type_versions', 'records', 'record_values',
];

/** Column values for an INSERT of `row` into `table`: text and bind values. */
export function insertStatement(table: string, row: Row): { text: string; values: unknown[] } {
  const columns = Object.keys(row);
  const params = columns.map((_, i) => `$${i + 1}`);
  return {
    text: `insert into "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) values (${params.join(', ')}) returning "${KEY_COLUMN[table] ?? 'id'}" as id`,
    values: Object.values(row),
  };
}

/**
 * Sets the tenant context for the current transaction the way the kernel does: `SET LOCAL`
 * of the id (a UUID made by the test, so inlining it is safe), the form Citus passes on to its
 * workers, and the proof with set_config.
 */
export async function setTenantContext(client: pg.ClientBase, tenant: Pick<TenantSeed, 'tenantId' | 'proof'>): Promise<void> {
  if (!/^[0-9a-f-]{36}$/.test(tenant.tenantId)) throw new Error(`not a tenant id: ${tenant.tenantId}`);
  await client.query(`set local app.tenant_id = '${tenant.tenantId}'`);
  await client.query(`select set_config('app.tenant_proof', $1, true)`, [tenant.proof]);
}

/** Runs `fn` as the given tenant on a direct app-role client, inside a transaction it rolls back or commits. */
export async function asTenant<T>(client: pg.Client, tenant: Pick<TenantSeed, 'tenantId' | 'proof'> | null, fn: () => Promise<T>, { commit = false } = {}): Promise<T> {
  await client.query('begin');
  try {
    if (tenant) await setTenantContext(client, tenant);
    const result = await fn();
    await client.query(commit ? 'commit' : 'rollback');
    return result;
  } catch (error) {
    await client.query('rollback');
    throw error;
  }
}

/**
 * Seeds one row of every fixture table for a new tenant: the tenant row as the system
 * role, everything else as the app role under the tenant's own context.
 */
export async function seedTenant(owner: pg.Client, app: pg.Client, systemRole: string): Promise<TenantSeed> {
  const tenantId = randomUUID();
  const key = await readContextKey(owner);
  const seed: TenantSeed = { tenantId, proof: key ? contextProof(key, tenantId) : '', ids: {} };
  const asSystem = async (table: string) => {
    const statement = insertStatement(table, FIXTURES[table]!(seed));
    await owner.query('begin');
    await owner.query(`set local role ${systemRole}`);
    seed.ids[table] = (await owner.query(statement.text, statement.values)).rows[0].id;
    await owner.query('commit');
  };
  await asSystem('tenants');
  for (const table of SEED_ORDER.slice(1)) {
    if (WRITTEN_BY_TRIGGERS[table]) {
      seed.ids[table] = await asTenant(app, seed, async () => (await app.query(WRITTEN_BY_TRIGGERS[table]!, [tenantId, seed.ids.records])).rows[0].id);
      continue;
    }
    const { rows } = await app.query(`select has_table_privilege(current_user, $1, 'INSERT') as insert, has_table_privilege(current_user, $1, 'SELECT') as select`, [table]);
    // Rows only system mode creates (webhook deliveries) are seeded as the system role.
    if (!rows[0].insert) {
      await asSystem(table);
      continue;
    }
    const statement = insertStatement(table, FIXTURES[table]!(seed));
    await asTenant(
      app,
      seed,
      async () => {
        // Tables the app may write but not read (the outbox) cannot return the new id.
        if (rows[0].select) seed.ids[table] = (await app.query(statement.text, statement.values)).rows[0].id;
        else await app.query(statement.text.replace(/ returning "id" as id$/, ''), statement.values);
      },
      { commit: true },
    );
  }
  return seed;
}
