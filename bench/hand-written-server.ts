// The hand-written contender of the HTTP benchmark: what a careful team writes without Rowguard,
// Hono + pg + jose in its own process. The same JWT check (HS256, key imported once, claims tid
// and sub), the same membership check (tenant active, user an active member with the route's
// permission), explicit tenant filters on the copies of the tables without RLS, named prepared
// statements; a POST writes its project, audit entry and outbox event in one transaction.
import { randomUUID } from 'node:crypto';
import { serve } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { jwtVerify } from 'jose';
import pg from 'pg';

const pool = new pg.Pool({ connectionString: process.env.BENCH_APP_URL, max: 8, idleTimeoutMillis: 0, application_name: 'bench hand-written' });
const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(process.env.BENCH_JWT_SECRET), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const COLUMNS = 'id, name, description, status, created_by, created_at, updated_at, version';
const LISTED = `${COLUMNS}, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as cursor`;
class Refusal extends Error {
  constructor(readonly status: 400 | 401 | 403 | 404, readonly code: string) { super(code); }
}
type Db = pg.Pool | pg.PoolClient;
const query = (db: Db, name: string, text: string, values: unknown[]) => db.query({ name, text, values }).then((r) => r.rows);
const present = ({ version: _v, cursor: _c, ...project }: Record<string, unknown>) => project;

async function verify(c: Context): Promise<{ tenant: string; user: string }> {
  const token = /^Bearer +(\S+) *$/i.exec(c.req.header('authorization') ?? '')?.[1] ?? '';
  const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'], requiredClaims: ['exp'] }).catch(() => { throw new Refusal(401, 'UNAUTHENTICATED'); });
  if (typeof payload.tid !== 'string' || !UUID.test(payload.tid) || typeof payload.sub !== 'string' || !payload.sub) throw new Refusal(401, 'UNAUTHENTICATED');
  return { tenant: payload.tid, user: payload.sub };
}
async function member(db: Db, tenant: string, user: string, write: boolean): Promise<string> {
  const [m] = await query(db, 'hw_member', `select t.status as tenant_status, m.id, m.role, m.status from tenants_plain t
    left join team_members_plain m on m.tenant_id = t.id and m.user_id = $2 where t.id = $1`, [tenant, user]);
  if (!m?.id || m.status !== 'active') throw new Refusal(403, 'NOT_A_MEMBER');
  if (m.tenant_status !== 'active') throw new Refusal(403, 'TENANT_SUSPENDED');
  if (write && m.role === 'viewer') throw new Refusal(403, 'FORBIDDEN');
  return m.id;
}

const app = new Hono();
app.onError((e, c) => (e instanceof Refusal ? c.json({ status: e.status, code: e.code }, e.status) : c.json({ status: 500, code: 'INTERNAL' }, 500)));
app.get('/projects/:id', async (c) => {
  const { tenant, user } = await verify(c);
  if (!UUID.test(c.req.param('id'))) throw new Refusal(404, 'NOT_FOUND');
  await member(pool, tenant, user, false);
  const [row] = await query(pool, 'hw_get', `select ${COLUMNS} from projects_plain where tenant_id = $1 and id = $2`, [tenant, c.req.param('id')]);
  if (!row) throw new Refusal(404, 'NOT_FOUND');
  return c.json(present(row), 200, { ETag: `"${row.version}"` });
});
app.get('/projects', async (c) => {
  const { tenant, user } = await verify(c);
  const limit = Number(c.req.query('limit') ?? 20);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new Refusal(400, 'VALIDATION_FAILED');
  const cursor = c.req.query('cursor');
  let after: unknown = null;
  try { after = cursor ? JSON.parse(Buffer.from(cursor, 'base64url').toString()) : null; } catch { /* refused below */ }
  if (cursor && !(Array.isArray(after) && after.length === 2 && UUID.test(String(after[1])))) throw new Refusal(400, 'INVALID_CURSOR');
  await member(pool, tenant, user, false);
  const rows = Array.isArray(after)
    ? await query(pool, 'hw_list_after', `select ${LISTED} from projects_plain where tenant_id = $1 and (created_at, id) < ($3::timestamptz, $4::uuid) order by created_at desc, id desc limit $2`, [tenant, limit + 1, ...after])
    : await query(pool, 'hw_list', `select ${LISTED} from projects_plain where tenant_id = $1 order by created_at desc, id desc limit $2`, [tenant, limit + 1]);
  const last = rows.length > limit ? rows[limit - 1] : undefined;
  return c.json({ data: rows.slice(0, limit).map(present), next_cursor: last ? Buffer.from(JSON.stringify([last.cursor, last.id])).toString('base64url') : null });
});
app.post('/projects', async (c) => {
  const { tenant, user } = await verify(c);
  const body = await c.req.json().catch(() => null);
  const { name, description = '', status = 'active' } = body ?? {};
  if (typeof name !== 'string' || name.length < 1 || name.length > 200 || typeof description !== 'string' || description.length > 10_000 || !['active', 'archived'].includes(status)) throw new Refusal(400, 'VALIDATION_FAILED');
  const client = await pool.connect();
  try {
    await client.query('begin');
    const memberId = await member(client, tenant, user, true);
    const [row] = await query(client, 'hw_insert', `insert into projects_plain (tenant_id, name, description, status, created_by) values ($1, $2, $3, $4, $5) returning ${COLUMNS}`, [tenant, name, description, status, memberId]);
    const project = JSON.stringify(present(row!));
    await query(client, 'hw_audit', `insert into audit_log_plain (tenant_id, actor, action, entity_type, entity_id, changes, request_id) values ($1, $2, 'project.created', 'project', $3, $4, $5)`, [tenant, `user:${user}`, row!.id, project, randomUUID()]);
    await query(client, 'hw_outbox', `insert into outbox_events_plain (tenant_id, type, entity_type, entity_id, payload) values ($1, 'project.created', 'project', $2, $3)`, [tenant, row!.id, project]);
    await client.query('commit');
    return c.json(present(row!), 201, { ETag: `"${row!.version}"`, Location: `/projects/${row!.id}` });
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
});
serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info) => process.stdout.write(`port ${info.port}\n`));
