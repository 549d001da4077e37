import { beforeAll, describe, expect, it } from 'vitest';
import { useHarness, type TestTenant } from '../helpers/http.js';

interface Parents {
  projectId: string;
  taskId: string;
  documentId: string;
  memberId: string;
}

interface Sample {
  path: string;
  create: (p: Parents) => Record<string, unknown>;
  update: Record<string, unknown>;
  /** A body that fails validation, and the field it names. */
  invalid: [Record<string, unknown>, string];
  /** Bodies referencing the other tenant's objects: must be refused with nothing written. */
  foreign?: (theirs: Parents, mine: Parents) => Record<string, unknown>[];
}

let n = 0;
const unique = () => `${Date.now()}-${++n}`;

const SAMPLES: Sample[] = [
  { path: '/v1/projects', create: () => ({ name: `Project ${unique()}` }), update: { status: 'archived' }, invalid: [{ name: '' }, 'body.name'] },
  {
    path: '/v1/tasks',
    create: (p) => ({ project_id: p.projectId, title: 'Write docs', due_date: '2027-01-31', assignee_id: p.memberId }),
    update: { status: 'done' },
    invalid: [{ project_id: 'not-a-uuid', title: 'x' }, 'body.project_id'],
    foreign: (theirs, mine) => [
      { project_id: theirs.projectId, title: 'in their project' },
      { project_id: mine.projectId, title: 'assigned to their member', assignee_id: theirs.memberId },
    ],
  },
  {
    path: '/v1/documents',
    create: (p) => ({ project_id: p.projectId, title: 'Spec', body: '# Spec' }),
    update: { body: '# Spec v2' },
    invalid: [{ title: 42 }, 'body.title'],
    foreign: (theirs) => [{ project_id: theirs.projectId, title: 'in their project' }],
  },
  {
    path: '/v1/comments',
    create: (p) => ({ task_id: p.taskId, body: 'Looks good' }),
    update: { body: 'Looks great' },
    invalid: [{ task_id: 'x', body: 'hi' }, 'body.task_id'],
    foreign: (theirs) => [{ task_id: theirs.taskId, body: 'on their task' }, { document_id: theirs.documentId, body: 'on their document' }],
  },
  {
    path: '/v1/invoices',
    create: () => ({ number: `INV-${unique()}`, customer_name: 'Globex', currency: 'EUR', line_items: [{ description: 'Work', quantity: 3, unit_amount: 1250 }] }),
    update: { customer_name: 'Globex Corp' },
    invalid: [{ number: 'A', customer_name: 'x', currency: 'euro', line_items: [] }, 'body.currency'],
  },
  {
    path: '/v1/members',
    create: () => ({ user_id: `user-${unique()}`, email: `m${unique()}@example.test`, role: 'member' }),
    update: { role: 'viewer' },
    invalid: [{ user_id: 'u', email: 'not-an-email', role: 'member' }, 'body.email'],
  },
  { path: '/v1/api-keys', create: () => ({ name: 'ci', scopes: ['read'] }), update: { name: 'ci-renamed' }, invalid: [{ name: 'x', scopes: ['admin'] }, 'body.scopes.0'] },
  {
    path: '/v1/webhooks',
    create: () => ({ url: 'https://hooks.example.test/rowguard', event_types: ['project.created'] }),
    update: { enabled: false },
    invalid: [{ url: 'ftp://example.test', event_types: ['x'] }, 'body.url'],
  },
];

const context = useHarness();
let a: TestTenant;
let b: TestTenant;
const parents: Record<string, Parents> = {};

async function makeParents(t: TestTenant): Promise<Parents> {
  const project = await context.h.call('POST', '/v1/projects', { token: t.token, body: { name: 'Parent' } });
  const task = await context.h.call('POST', '/v1/tasks', { token: t.token, body: { project_id: project.body.id, title: 'Parent task' } });
  const document = await context.h.call('POST', '/v1/documents', { token: t.token, body: { title: 'Parent doc' } });
  return { projectId: project.body.id, taskId: task.body.id, documentId: document.body.id, memberId: t.ownerId };
}

beforeAll(async () => {
  a = await context.h.tenant('Acme');
  b = await context.h.tenant('Globex');
  parents[a.id] = await makeParents(a);
  parents[b.id] = await makeParents(b);
});

describe.each(SAMPLES)('$path', (sample) => {
  it('creates, reads, lists, updates with If-Match, and deletes', async () => {
    const created = await context.h.call('POST', sample.path, { token: a.token, body: sample.create(parents[a.id]!) });
    expect(created.status).toBe(201);
    expect(created.headers.get('etag')).toBe('"1"');
    expect(created.headers.get('location')).toBe(`${sample.path}/${created.body.id}`);
    expect(created.body).not.toHaveProperty('tenant_id');
    const id = created.body.id;

    const read = await context.h.call('GET', `${sample.path}/${id}`, { token: a.token });
    expect(read.status).toBe(200);
    expect(read.body.id).toBe(id);
    const list = await context.h.call('GET', sample.path, { token: a.token });
    expect(list.status).toBe(200);
    expect(list.body.data.map((row: { id: string }) => row.id)).toContain(id);

    const stale = await context.h.call('PATCH', `${sample.path}/${id}`, { token: a.token, body: sample.update, headers: { 'if-match': '"7"' } });
    expect(stale.status).toBe(412);
    expect(stale.body.code).toBe('VERSION_MISMATCH');
    const updated = await context.h.call('PATCH', `${sample.path}/${id}`, { token: a.token, body: sample.update, headers: { 'if-match': read.headers.get('etag')! } });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject(sample.update);
    expect(updated.headers.get('etag')).toBe('"2"');

    const removed = await context.h.call('DELETE', `${sample.path}/${id}`, { token: a.token, headers: { 'if-match': '"2"' } });
    expect(removed.status).toBe(204);
    const after = await context.h.call('GET', `${sample.path}/${id}`, { token: a.token });
    if (sample.path === '/v1/api-keys') expect(after.body.revoked_at).not.toBeNull();
    else expect(after.status).toBe(404);
  });

  it('refuses an invalid body with a field-level problem and writes nothing', async () => {
    const before = await context.h.call('GET', `${sample.path}?limit=100`, { token: a.token });
    const [body, field] = sample.invalid;
    const reply = await context.h.call('POST', sample.path, { token: a.token, body });
    expect(reply.status).toBe(400);
    expect(reply.headers.get('content-type')).toBe('application/problem+json');
    expect(reply.body.code).toBe('VALIDATION_FAILED');
    expect(reply.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    const after = await context.h.call('GET', `${sample.path}?limit=100`, { token: a.token });
    expect(after.body.data.length).toBe(before.body.data.length);
  });

  it("answers another tenant's id exactly like a missing one, and changes nothing", async () => {
    const theirs = await context.h.call('POST', sample.path, { token: b.token, body: sample.create(parents[b.id]!) });
    expect(theirs.status).toBe(201);
    const missing = '00000000-0000-4000-8000-000000000000';
    for (const id of [theirs.body.id, missing]) {
      const get = await context.h.call('GET', `${sample.path}/${id}`, { token: a.token });
      const patch = await context.h.call('PATCH', `${sample.path}/${id}`, { token: a.token, body: sample.update });
      const del = await context.h.call('DELETE', `${sample.path}/${id}`, { token: a.token });
      for (const reply of [get, patch, del]) {
        expect(reply.status).toBe(404);
        expect({ ...reply.body, requestId: undefined }).toEqual({ type: 'urn:rowguard:problem:not-found', status: 404, code: 'NOT_FOUND', title: 'No such resource' });
      }
    }
    const still = await context.h.call('GET', `${sample.path}/${theirs.body.id}`, { token: b.token });
    expect(still.status).toBe(200);
    expect(still.headers.get('etag')).toBe('"1"');
  });

  it('never lists another tenant’s rows, whatever tenant the request names', async () => {
    const smuggled = `tenant_id=${b.id}&tid=${b.id}`;
    const reply = await context.h.call('GET', `${sample.path}?limit=100&${smuggled}`, { token: a.token, headers: { 'x-tenant-id': b.id, 'x-tid': b.id } });
    expect(reply.status).toBe(200);
    const mine = await context.h.call('GET', `${sample.path}?limit=100`, { token: a.token });
    expect(reply.body.data).toEqual(mine.body.data);
    const theirs = new Set((await context.h.call('GET', `${sample.path}?limit=100`, { token: b.token })).body.data.map((r: { id: string }) => r.id));
    expect(reply.body.data.filter((r: { id: string }) => theirs.has(r.id))).toEqual([]);
  });

  it('refuses a tenant_id in the body and writes nothing', async () => {
    const before = await context.h.call('GET', `${sample.path}?limit=100`, { token: b.token });
    const reply = await context.h.call('POST', sample.path, { token: a.token, body: { ...sample.create(parents[a.id]!), tenant_id: b.id } });
    expect(reply.status).toBe(400);
    expect(reply.body.errors).toContainEqual({ field: 'body', message: 'Unrecognized key: "tenant_id"' });
    const after = await context.h.call('GET', `${sample.path}?limit=100`, { token: b.token });
    expect(after.body.data.length).toBe(before.body.data.length);
  });

  const foreign = sample.foreign;
  if (foreign) it('refuses references to another tenant’s objects and writes nothing', async () => {
    for (const body of foreign(parents[b.id]!, parents[a.id]!)) {
      const countBefore = (await context.h.call('GET', `${sample.path}?limit=100`, { token: a.token })).body.data.length;
      const reply = await context.h.call('POST', sample.path, { token: a.token, body });
      expect(reply.status).toBe(422);
      expect(reply.body.code).toBe('REFERENCE_NOT_FOUND');
      expect(JSON.stringify(reply.body)).not.toMatch(/tenant_id|Key \(|select|insert/i);
      const countAfter = (await context.h.call('GET', `${sample.path}?limit=100`, { token: a.token })).body.data.length;
      expect(countAfter).toBe(countBefore);
    }
  });
});

describe('moving a task into another tenant’s project', () => {
  it('is refused and the task stays where it was', async () => {
    const task = await context.h.call('POST', '/v1/tasks', { token: a.token, body: { project_id: parents[a.id]!.projectId, title: 'Stay' } });
    const moved = await context.h.call('PATCH', `/v1/tasks/${task.body.id}`, { token: a.token, body: { project_id: parents[b.id]!.projectId } });
    expect(moved.status).toBe(422);
    expect(moved.body.errors).toEqual([{ field: 'project_id', message: 'no such object' }]);
    const read = await context.h.call('GET', `/v1/tasks/${task.body.id}`, { token: a.token });
    expect(read.body.project_id).toBe(parents[a.id]!.projectId);
    expect(read.headers.get('etag')).toBe('"1"');
  });
});
