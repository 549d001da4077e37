import { describe, expect, it } from 'vitest';
import { encodeCursor, keyset, pageOf } from '../../src/http/pagination.js';
import { ResourceSql } from '../../src/http/resource-sql.js';

// The statements a resource's routes send, as text and values: no database needed.
const sql = new ResourceSql('projects', ['id', 'name', 'created_at'], true);
const cursor = encodeCursor({ createdAt: '2026-12-03T10:00:00.123456Z', id: '11111111-1111-4111-8111-111111111111' });

describe('ResourceSql', () => {
  // Every statement names its tenant ($1) as well as leaving it to row-level security: Citus
  // routes a statement to one shard only by the tenant it names.
  it('reads one row by tenant and id, and locks it for a change', () => {
    expect(sql.byId('t', 'x')).toEqual({ text: 'select "id", "name", "created_at", "version" from "projects" where tenant_id = $1 and id = $2', values: ['t', 'x'] });
    expect(sql.byId('t', 'x', { forUpdate: true }).text).toMatch(/ where tenant_id = \$1 and id = \$2 for update$/);
    expect(new ResourceSql('audit_log', ['id'], false).byId('t', 'x').text).toBe('select "id" from "audit_log" where tenant_id = $1 and id = $2');
  });

  it('lists the tenant’s rows newest first with the filters, then the cursor, then limit + 1, each value a bind parameter', () => {
    const first = sql.list('t', [], { limit: 20 });
    expect(first.text).toBe(
      `select "id", "name", "created_at", "version", to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as "_cursor" from "projects" where tenant_id = $1 order by created_at desc, id desc limit $2`,
    );
    expect(first.values).toEqual(['t', 21]);
    const filtered = sql.list('t', [{ sql: (p) => `status = ${p}`, value: "active' or 1=1" }], { limit: 5, cursor });
    expect(filtered.text).toMatch(/ where tenant_id = \$1 and status = \$2 and \(created_at, id\) < \(\$3::timestamptz, \$4::uuid\) order by created_at desc, id desc limit \$5$/);
    expect(filtered.values).toEqual(['t', "active' or 1=1", '2026-12-03T10:00:00.123456Z', '11111111-1111-4111-8111-111111111111', 6]);
  });

  it('inserts with the tenant first and quotes every column name', () => {
    expect(sql.insert('t', { name: 'n', 'we"ird': 1 })).toEqual({
      text: 'insert into "projects" (tenant_id, "name", "we""ird") values ($1, $2, $3) returning "id", "name", "created_at", "version"',
      values: ['t', 'n', 1],
    });
  });

  it('updates and deletes by tenant and id, or with the resource’s own statement', () => {
    expect(sql.update('t', 'x', { name: 'n' })).toEqual({
      text: 'update "projects" set "name" = $3 where tenant_id = $1 and id = $2 returning "id", "name", "created_at", "version"',
      values: ['t', 'x', 'n'],
    });
    expect(sql.delete('t', 'x')).toEqual({ text: 'delete from "projects" where tenant_id = $1 and id = $2', values: ['t', 'x'] });
    expect(sql.delete('t', 'x', 'update api_keys set revoked_at = now() where tenant_id = $1 and id = $2')).toEqual({
      text: 'update api_keys set revoked_at = now() where tenant_id = $1 and id = $2',
      values: ['t', 'x'],
    });
  });
});

describe('keyset pagination', () => {
  it('qualifies its columns with an alias and adds its values after the caller’s', () => {
    const values: unknown[] = ['w'];
    const page = keyset({ limit: 2, cursor }, values, 'd.');
    expect(page.after).toBe('(d.created_at, d.id) < ($2::timestamptz, $3::uuid)');
    expect(page.orderAndLimit).toBe('order by d.created_at desc, d.id desc limit $4');
    expect(values).toEqual(['w', '2026-12-03T10:00:00.123456Z', '11111111-1111-4111-8111-111111111111', 3]);
  });

  it('cuts the extra row, drops the cursor column, and points the next cursor at the last row shown', () => {
    const rows = [1, 2, 3].map((n) => ({ id: `id-${n}`, _cursor: `c-${n}` }));
    const page = pageOf(rows, 2);
    expect(page.data).toEqual([{ id: 'id-1' }, { id: 'id-2' }]);
    expect(JSON.parse(Buffer.from(page.next_cursor!, 'base64url').toString())).toEqual(['c-2', 'id-2']);
    expect(pageOf(rows, 3).next_cursor).toBeNull();
  });
});
