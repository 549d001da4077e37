import { beforeAll, describe, expect, it } from 'vitest';
import { createHarness, useHarness, type TestTenant } from '../helpers/http.js';

const context = useHarness();
let a: TestTenant;

beforeAll(async () => {
  a = await context.h.tenant('Acme', 'alice');
});

// Read back as the system role, past the API: a refused write must have changed nothing.
const member = async (tenantId: string, id: string) =>
  (await context.h.kernel.asSystem((tx) => tx.query('select role, status from team_members where tenant_id = $1 and id = $2', [tenantId, id]))).rows[0];
const count = async (sql: string, values: unknown[]) => (await context.h.kernel.asSystem((tx) => tx.query<{ n: number }>(`select count(*)::int as n ${sql}`, values))).rows[0]!.n;

describe('members', () => {
  it('the last owner can be neither removed nor demoted', async () => {
    const t = await context.h.tenant('Solo', 'solo');
    for (const [method, body] of [['PATCH', { role: 'admin' }], ['PATCH', { status: 'removed' }], ['DELETE', undefined]] as const) {
      const reply = await context.h.call(method, `/v1/members/${t.ownerId}`, { token: t.token, body });
      expect(reply.status).toBe(409);
      expect(reply.body.code).toBe('LAST_OWNER');
    }
    expect(await member(t.id, t.ownerId)).toEqual({ role: 'owner', status: 'active' });
    const second = await context.h.member(t, 'owner');
    expect((await context.h.call('PATCH', `/v1/members/${t.ownerId}`, { token: second.token, body: { role: 'admin' } })).status).toBe(200);
    const deleted = await context.h.call('DELETE', `/v1/members/${second.id}`, { token: second.token });
    expect([deleted.status, deleted.body.code]).toEqual([409, 'LAST_OWNER']);
    expect(await member(t.id, second.id)).toEqual({ role: 'owner', status: 'active' });
  });

  it('deleting a member keeps what they made, without them as author or assignee', async () => {
    const t = await context.h.tenant('Leaver', 'stays');
    const leaver = await context.h.member(t, 'admin');
    const as = { token: leaver.token };
    const project = (await context.h.call('POST', '/v1/projects', { ...as, body: { name: 'Left behind' } })).body;
    const task = (await context.h.call('POST', '/v1/tasks', { ...as, body: { project_id: project.id, title: 'Orphan', assignee_id: leaver.id } })).body;
    const document = (await context.h.call('POST', '/v1/documents', { ...as, body: { project_id: project.id, title: 'Notes' } })).body;
    const comment = (await context.h.call('POST', '/v1/comments', { ...as, body: { task_id: task.id, body: 'bye' } })).body;
    const key = (await context.h.call('POST', '/v1/api-keys', { ...as, body: { name: 'ci', scopes: ['read'] } })).body;
    expect((await context.h.call('DELETE', `/v1/members/${leaver.id}`, { token: t.token })).status).toBe(204);
    const authors = async (table: string, column: string, id: string) =>
      (await context.h.kernel.asSystem((tx) => tx.query(`select ${column} as who from ${table} where tenant_id = $1 and id = $2`, [t.id, id]))).rows;
    expect(await authors('projects', 'created_by', project.id)).toEqual([{ who: null }]);
    expect(await authors('tasks', 'assignee_id', task.id)).toEqual([{ who: null }]);
    expect(await authors('documents', 'created_by', document.id)).toEqual([{ who: null }]);
    expect(await authors('comments', 'author_id', comment.id)).toEqual([{ who: null }]);
    expect(await authors('api_keys', 'created_by', key.id)).toEqual([{ who: null }]);
  });

  it('keeps an owner when two owners demote each other at once', async () => {
    const t = await context.h.tenant('Race', 'r1');
    const other = await context.h.member(t, 'owner', 'r2');
    const results = await Promise.all([
      context.h.call('PATCH', `/v1/members/${t.ownerId}`, { token: t.token, body: { role: 'admin' } }),
      context.h.call('PATCH', `/v1/members/${other.id}`, { token: other.token, body: { role: 'admin' } }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    expect(results.map((r) => r.body.code).filter(Boolean)).toEqual(['LAST_OWNER']);
    const owners = await context.h.kernel.asSystem((tx) => tx.query("select count(*)::int as n from team_members where tenant_id = $1 and role = 'owner' and status = 'active'", [t.id]));
    expect(owners.rows[0]!.n).toBe(1);
  });

  describe('who may change whom: actor role × target role × field', () => {
    const roles = ['owner', 'admin', 'member', 'viewer'] as const;
    const changes = [
      ['promote to owner', 'PATCH', { role: 'owner' }],
      ['demote to viewer', 'PATCH', { role: 'viewer' }],
      ['remove by status', 'PATCH', { status: 'removed' }],
      ['rename', 'PATCH', { display_name: 'Renamed' }],
      ['delete', 'DELETE', undefined],
    ] as const;
    // Managing members needs admin; anything that touches an owner, or makes one, needs an owner.
    const allowed = (actor: string, target: string, change: string) =>
      actor === 'owner' || (actor === 'admin' && target !== 'owner' && change !== 'promote to owner');
    const cases = roles.flatMap((actor) => roles.flatMap((target) => changes.map(([change, method, body]) => ({ actor, target, change, method, body }))));

    let t: TestTenant;
    const actors: Record<string, string> = {};
    beforeAll(async () => {
      t = await context.h.tenant('Matrix');
      actors.owner = (await context.h.member(t, 'owner')).token;
      for (const role of ['admin', 'member', 'viewer']) actors[role] = (await context.h.member(t, role)).token;
    });

    it.each(cases)('$actor → $target: $change', async ({ actor, target, change, method, body }) => {
      const victim = await context.h.member(t, target);
      const reply = await context.h.call(method, `/v1/members/${victim.id}`, { token: actors[actor], body });
      if (allowed(actor, target, change)) {
        expect(reply.status).toBe(method === 'DELETE' ? 204 : 200);
      } else {
        expect(reply.status).toBe(403);
        expect(reply.body.code).toBe('FORBIDDEN');
        const { rows } = await context.h.kernel.asSystem((tx) => tx.query('select role, status, display_name from team_members where tenant_id = $1 and id = $2', [t.id, victim.id]));
        expect(rows[0]).toMatchObject({ role: target, status: 'active' });
        expect(rows[0]!.display_name).not.toBe('Renamed');
      }
    });

    it('an admin can neither reactivate a removed owner nor remove one', async () => {
      const owner = await context.h.member(t, 'owner');
      const remove = await context.h.call('PATCH', `/v1/members/${owner.id}`, { token: actors.admin, body: { status: 'removed' } });
      expect([remove.status, remove.body.code]).toEqual([403, 'FORBIDDEN']);
      expect(await member(t.id, owner.id)).toEqual({ role: 'owner', status: 'active' });
      expect((await context.h.call('PATCH', `/v1/members/${owner.id}`, { token: actors.owner, body: { status: 'removed' } })).status).toBe(200);
      const back = await context.h.call('PATCH', `/v1/members/${owner.id}`, { token: actors.admin, body: { status: 'active' } });
      expect([back.status, back.body.code]).toEqual([403, 'FORBIDDEN']);
      expect(await member(t.id, owner.id)).toEqual({ role: 'owner', status: 'removed' });
      expect((await context.h.call('PATCH', `/v1/members/${owner.id}`, { token: actors.owner, body: { status: 'active' } })).status).toBe(200);
      expect(await member(t.id, owner.id)).toEqual({ role: 'owner', status: 'active' });
    });

    it('the last active owner cannot be removed by status either, even by another owner made inactive first', async () => {
      const solo = await context.h.tenant('Solo status');
      const second = await context.h.member(solo, 'owner');
      expect((await context.h.call('PATCH', `/v1/members/${second.id}`, { token: solo.token, body: { status: 'invited' } })).status).toBe(200);
      const reply = await context.h.call('PATCH', `/v1/members/${solo.ownerId}`, { token: solo.token, body: { status: 'removed' } });
      expect(reply.status).toBe(409);
      expect(reply.body.code).toBe('LAST_OWNER');
      expect(await member(solo.id, solo.ownerId)).toEqual({ role: 'owner', status: 'active' });
    });
  });

  it('refuses a duplicate user or email in the same tenant with 409, but not across tenants', async () => {
    const body = { user_id: 'dup', email: 'dup@example.test', role: 'member' };
    expect((await context.h.call('POST', '/v1/members', { token: a.token, body })).status).toBe(201);
    const again = await context.h.call('POST', '/v1/members', { token: a.token, body });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('CONFLICT');
    expect(await count("from team_members where tenant_id = $1 and user_id = 'dup'", [a.id])).toBe(1);
    const other = await context.h.tenant('Other');
    expect((await context.h.call('POST', '/v1/members', { token: other.token, body })).status).toBe(201);
  });
});

describe('invoices', () => {
  const create = (token = a.token) =>
    context.h.call('POST', '/v1/invoices', {
      token,
      body: {
        number: `INV-${Math.random().toString(36).slice(2)}`,
        customer_name: 'Globex',
        currency: 'USD',
        line_items: [
          { description: 'Design', quantity: 2, unit_amount: 15_000 },
          { description: 'Hosting', quantity: 12, unit_amount: 999 },
        ],
      },
    });

  it('computes line amounts and the total in minor units', async () => {
    const reply = await create();
    expect(reply.status).toBe(201);
    expect(reply.body.line_items.map((l: { amount: number }) => l.amount)).toEqual([30_000, 11_988]);
    expect(reply.body.amount_total).toBe(41_988);
    expect(reply.body.status).toBe('draft');
  });

  it('moves draft → sent → paid, stamps the times, and freezes the content once sent', async () => {
    const { body: invoice } = await create();
    const sent = await context.h.call('PATCH', `/v1/invoices/${invoice.id}`, { token: a.token, body: { status: 'sent' } });
    expect(sent.status).toBe(200);
    expect(sent.body.sent_at).not.toBeNull();
    const edit = await context.h.call('PATCH', `/v1/invoices/${invoice.id}`, { token: a.token, body: { customer_name: 'Changed' } });
    expect(edit.status).toBe(409);
    expect(edit.body.code).toBe('INVOICE_NOT_EDITABLE');
    expect((await context.h.call('GET', `/v1/invoices/${invoice.id}`, { token: a.token })).body.customer_name).toBe('Globex');
    const paid = await context.h.call('PATCH', `/v1/invoices/${invoice.id}`, { token: a.token, body: { status: 'paid' } });
    expect(paid.body.paid_at).not.toBeNull();
    for (const to of ['draft', 'sent', 'void']) {
      const reply = await context.h.call('PATCH', `/v1/invoices/${invoice.id}`, { token: a.token, body: { status: to } });
      expect(reply.status).toBe(409);
      expect(reply.body.code).toBe('INVALID_TRANSITION');
    }
    expect((await context.h.call('GET', `/v1/invoices/${invoice.id}`, { token: a.token })).body.status).toBe('paid');
    const deleted = await context.h.call('DELETE', `/v1/invoices/${invoice.id}`, { token: a.token });
    expect([deleted.status, deleted.body.code]).toEqual([409, 'INVOICE_NOT_EDITABLE']);
    expect((await context.h.call('GET', `/v1/invoices/${invoice.id}`, { token: a.token })).status).toBe(200);
  });

  it('recomputes the total when a draft’s lines change', async () => {
    const { body: invoice } = await create();
    const reply = await context.h.call('PATCH', `/v1/invoices/${invoice.id}`, { token: a.token, body: { line_items: [{ description: 'One', quantity: 1, unit_amount: 5 }] } });
    expect(reply.body.amount_total).toBe(5);
  });

  it('refuses fractional or negative amounts', async () => {
    const reply = await context.h.call('POST', '/v1/invoices', {
      token: a.token,
      body: { number: 'BAD', customer_name: 'x', currency: 'EUR', line_items: [{ description: 'x', quantity: 1, unit_amount: 10.5 }, { description: 'y', quantity: -1, unit_amount: 1 }] },
    });
    expect([reply.status, reply.body.code]).toEqual([400, 'VALIDATION_FAILED']);
    expect(reply.body.errors.map((e: { field: string }) => e.field)).toEqual(['body.line_items.0.unit_amount', 'body.line_items.1.quantity']);
    expect(await count("from invoices where tenant_id = $1 and number = 'BAD'", [a.id])).toBe(0);
  });
});

describe('webhooks', () => {
  it('returns the signing secret once, at creation', async () => {
    const created = await context.h.call('POST', '/v1/webhooks', { token: a.token, body: { url: 'https://example.test/hook', event_types: ['*'] } });
    expect(created.body.secret).toMatch(/^whsec_/);
    const read = await context.h.call('GET', `/v1/webhooks/${created.body.id}`, { token: a.token });
    expect(read.body).not.toHaveProperty('secret');
  });
});

describe('lists', () => {
  it('pages through every row exactly once, newest first, with filters', async () => {
    const t = await context.h.tenant('Pages');
    const ids: string[] = [];
    for (let i = 0; i < 25; i++) ids.push((await context.h.call('POST', '/v1/projects', { token: t.token, body: { name: `p${i}`, status: i % 2 ? 'archived' : 'active' } })).body.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const reply: { body: { data: { id: string }[]; next_cursor: string | null } } = await context.h.call('GET', `/v1/projects?limit=7${cursor ? `&cursor=${cursor}` : ''}`, { token: t.token });
      seen.push(...reply.body.data.map((r) => r.id));
      cursor = reply.body.next_cursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    const archived = await context.h.call('GET', '/v1/projects?status=archived&limit=100', { token: t.token });
    expect(archived.body.data).toHaveLength(12);
    const since = await context.h.call('GET', `/v1/projects?updated_since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`, { token: t.token });
    expect(since.body.data).toEqual([]);
  });

  it.each([
    ['limit=0', 'query.limit', 'VALIDATION_FAILED'],
    ['limit=101', 'query.limit', 'VALIDATION_FAILED'],
    ['limit=ten', 'query.limit', 'VALIDATION_FAILED'],
    ['status=deleted', 'query.status', 'VALIDATION_FAILED'],
    ['cursor=not-a-cursor', 'query.cursor', 'INVALID_CURSOR'],
  ])('refuses %s with 400', async (query, field, code) => {
    const reply = await context.h.call('GET', `/v1/projects?${query}`, { token: a.token });
    expect([reply.status, reply.body.code]).toEqual([400, code]);
    expect(reply.body.errors.map((e: { field: string }) => e.field)).toContain(field);
  });
});

describe('the audit log', () => {
  it('records every write with actor, action, entity, changes and request id', async () => {
    const created = await context.h.call('POST', '/v1/projects', { token: a.token, body: { name: 'Audited' }, headers: { 'x-request-id': 'req-audit-1' } });
    await context.h.call('PATCH', `/v1/projects/${created.body.id}`, { token: a.token, body: { name: 'Audited 2' } });
    await context.h.call('DELETE', `/v1/projects/${created.body.id}`, { token: a.token });
    const log = await context.h.call('GET', `/v1/audit-log?entity_id=${created.body.id}`, { token: a.token });
    expect(log.body.data.map((e: { action: string }) => e.action)).toEqual(['project.deleted', 'project.updated', 'project.created']);
    expect(log.body.data[1].changes).toEqual({ name: { from: 'Audited', to: 'Audited 2' }, updated_at: expect.any(Object) });
    expect(log.body.data[2]).toMatchObject({ actor: 'user:alice', entity_type: 'project', request_id: 'req-audit-1' });
  });

  it('has no entry for a write that failed, and cannot be changed through the API', async () => {
    const before = (await context.h.call('GET', '/v1/audit-log?limit=100', { token: a.token })).body.data.length;
    const orphan = await context.h.call('POST', '/v1/tasks', { token: a.token, body: { project_id: '00000000-0000-4000-8000-000000000000', title: 'orphan' } });
    expect([orphan.status, orphan.body.code]).toEqual([422, 'REFERENCE_NOT_FOUND']);
    expect(await count("from tasks where tenant_id = $1 and title = 'orphan'", [a.id])).toBe(0);
    expect((await context.h.call('GET', '/v1/audit-log?limit=100', { token: a.token })).body.data.length).toBe(before);
    const entry = (await context.h.call('GET', '/v1/audit-log', { token: a.token })).body.data[0];
    const patched = await context.h.call('PATCH', `/v1/audit-log/${entry.id}`, { token: a.token, body: { action: 'x' } });
    expect([patched.status, patched.body.code]).toEqual([404, 'NOT_FOUND']);
    const deleted = await context.h.call('DELETE', `/v1/audit-log/${entry.id}`, { token: a.token });
    expect([deleted.status, deleted.body.code]).toEqual([404, 'NOT_FOUND']);
    expect((await context.h.call('GET', '/v1/audit-log', { token: a.token })).body.data[0]).toEqual(entry);
  });
});

describe('request bodies', () => {
  it('400 for malformed JSON, 415 for another content type, 413 over the limit', async () => {
    const malformed = await context.h.call('POST', '/v1/projects', { token: a.token, raw: '{"name": "x",' });
    expect([malformed.status, malformed.body.code]).toEqual([400, 'MALFORMED_JSON']);
    const text = await context.h.call('POST', '/v1/projects', { token: a.token, raw: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect([text.status, text.body.code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
    const huge = await context.h.call('POST', '/v1/projects', { token: a.token, body: { name: 'x', description: 'y'.repeat(70 * 1024) } });
    expect([huge.status, huge.body.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    const empty = await context.h.call('POST', '/v1/projects', { token: a.token });
    expect([empty.status, empty.body.code]).toEqual([400, 'VALIDATION_FAILED']);
    expect(await count("from projects where tenant_id = $1 and name = 'x'", [a.id])).toBe(0);
  });

  it('refuses a lone UTF-16 surrogate in a string with 400, instead of storing U+FFFD', async () => {
    for (const raw of ['{"name": "\\ud800x"}', '{"name": "x\\udfff"}', '{"name": "ok", "\\ud83dkey": 1}']) {
      const reply = await context.h.call('POST', '/v1/projects', { token: a.token, raw });
      expect([reply.status, reply.body.code]).toEqual([400, 'MALFORMED_JSON']);
    }
    expect(await count("from projects where tenant_id = $1 and (strpos(name, chr(65533)) > 0 or name = 'ok')", [a.id])).toBe(0);
    const pair = await context.h.call('POST', '/v1/projects', { token: a.token, raw: '{"name": "\\ud83d\\ude00 ok"}' });
    expect(pair.status).toBe(201);
    expect(pair.body.name).toBe('\u{1F600} ok');
    const listed = await context.h.call('GET', '/v1/projects?limit=100', { token: a.token });
    expect(listed.body.data.map((p: { name: string }) => p.name)).not.toContain('\uFFFDx');
  });

  it('never shows a stack trace or SQL, and gives every problem a request id', async () => {
    const replies = await Promise.all([
      context.h.call('POST', '/v1/projects', { token: a.token, raw: '{"name": "\u0000"}' }),
      context.h.call('GET', "/v1/projects/1' or '1'='1", { token: a.token }),
      context.h.call('POST', '/v1/tasks', { token: a.token, body: { project_id: '00000000-0000-4000-8000-000000000000', title: "'; drop table tasks; --" } }),
    ]);
    for (const reply of replies) {
      expect(reply.status).toBeLessThan(500);
      expect(reply.body.requestId).toEqual(expect.any(String));
      expect(JSON.stringify(reply.body)).not.toMatch(/at .*\.ts:|select |insert |violates|constraint/i);
    }
  });
});

describe('values the database would refuse', () => {
  it('are caught as client errors, never a 500', async () => {
    const project = await context.h.call('POST', '/v1/projects', { token: a.token, body: { name: 'dates' } });
    for (const due_date of ['2027-02-30', '2027-13-01', '0000-00-00', "' or '1'='1", '1', 'tomorrow', '2027-01-01T00:00:00Z']) {
      const reply = await context.h.call('POST', '/v1/tasks', { token: a.token, body: { project_id: project.body.id, title: 't', due_date } });
      expect({ due_date, status: reply.status, code: reply.body.code }).toEqual({ due_date, status: 400, code: 'VALIDATION_FAILED' });
    }
    expect(await count('from tasks where tenant_id = $1 and project_id = $2', [a.id, project.body.id])).toBe(0);
  });
});

describe('an unexpected failure', () => {
  it('is a 500 problem with a request id that is also in the log', async () => {
    const { Writable } = await import('node:stream');
    const { pino } = await import('pino');
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _e, done) => (lines.push(String(chunk)), done()) });
    const broken = createHarness(context.db, {
      app: {
        log: pino(sink),
        kernel: {
          ...context.h.kernel,
          holdTenant: () => {
            throw new TypeError("Cannot read properties of undefined (reading 'secret internals')");
          },
        },
      },
    });
    const t = await context.h.tenant('Boom');
    const reply = await broken.call('GET', '/v1/projects', { token: await broken.mint(t.id, 'x') });
    expect(reply.status).toBe(500);
    expect(reply.body).toMatchObject({ code: 'INTERNAL', requestId: expect.any(String) });
    expect(JSON.stringify(reply.body)).not.toContain('secret internals');
    const logged = lines.map((l) => JSON.parse(l)).find((l) => l.requestId === reply.body.requestId && l.msg === 'unhandled error');
    expect(logged.err.message).toContain('secret internals');
  });
});
