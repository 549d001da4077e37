import { describe, expect, it } from 'vitest';
import { encodeCursor, keyset, pageOf } from '../../src/http/pagination.js';
import { ResourceSql } from '../../src/http/resource-sql.js';

// The statements a resource's routes send, as text and values: no database needed.
const sql = new ResourceSql('projects', ['id', 'name', 'created_at'], true);
const cursor = encodeCursor({ createdAt: '2026-12-03T10:00:00.123456Z', id: '11111111-1111-4111-8111-111111111111' });

describe('ResourceSql', () => {
  it('reads one row by id, and locks it for a change', () => {
    expect(sql.byId('x')).toEqual({ text: 'select "id", "name", "created_at", "version" from "projects" where id = $1', values: ['x'] });
    expect(sql.byId('x', { forUpdate: true }).text).toMatch(/ where id = \$1 for update$/);
    expect(new ResourceSql('audit_log', ['id'], false).byId('x').text).toBe('select "id" from "audit_log" where id = $1');
  });

  it('lists newest first with the filters, then the cursor, then limit + 1, each value a bind parameter', () => {
    const first = sql.list([], { limit: 20 });
    expect(first.text).toBe(
      `select "id", "name", "created_at", "version", to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as "_cursor" from "projects" order by created_at desc, id desc limit $1`,
    );
    expect(first.values).toEqual([21]);
    const filtered = sql.list([{ sql: (p) => `status = ${p}`, value: "active' or 1=1" }], { limit: 5, cursor });
    expect(filtered.text).toMatch(/ where status = \$1 and \(created_at, id\) < \(\$2::timestamptz, \$3::uuid\) order by created_at desc, id desc limit \$4$/);
    expect(filtered.values).toEqual(["active' or 1=1", '2026-12-03T10:00:00.123456Z', '11111111-1111-4111-8111-111111111111', 6]);
  });

  it('inserts with the tenant first and quotes every column name', () => {
    expect(sql.insert('t', { name: 'n', 'we"ird': 1 })).toEqual({
      text: 'insert into "projects" (tenant_id, "name", "we""ird") values ($1, $2, $3) returning "id", "name", "created_at", "version"',
      values: ['t', 'n', 1],
    });
  });

  it('updates by id and deletes by id, or with the resource’s own statement', () => {
    expect(sql.update('x', { name: 'n' })).toEqual({ text: 'update "projects" set "name" = $2 where id = $1 returning "id", "name", "created_at", "version"', values: ['x', 'n'] });
    expect(sql.delete('x')).toEqual({ text: 'delete from "projects" where id = $1', values: ['x'] });
    expect(sql.delete('x', 'update api_keys set revoked_at = now() where id = $1').text).toBe('update api_keys set revoked_at = now() where id = $1');
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
