import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { ensureMember } from '../../src/members/ensure-member.js';
import { demoInstructions, seedDemo } from '../../src/demo.js';
import { useHarness } from '../helpers/http.js';
import { CLI } from '../helpers/cli.js';

const context = useHarness();

describe('demo data', () => {
  it('creates two isolated tenants once, with sample data, and prints commands for each', async () => {
    const first = await seedDemo(context.h.kernel);
    const again = await seedDemo(context.h.kernel);
    expect(again).toEqual(first);
    expect(first.map((t) => t.name)).toEqual(['Acme (demo)', 'Globex (demo)']);
    const [acme, globex] = await Promise.all(first.map((t) => context.h.mint(t.id, t.owner)));
    const acmeProjects = await context.h.call('GET', '/v1/projects', { token: acme });
    const globexProjects = await context.h.call('GET', '/v1/projects', { token: globex });
    expect(acmeProjects.body.data.map((p: { name: string }) => p.name).sort()).toEqual(['Mobile app', 'Website relaunch']);
    expect(globexProjects.body.data.map((p: { name: string }) => p.name)).toEqual(['Quarterly audit']);
    expect((await context.h.call('GET', '/v1/invoices', { token: acme })).body.data[0].amount_total).toBe(250000);
    const text = demoInstructions('http://127.0.0.1:3000', [{ tenant: first[0]!, token: acme! }]);
    expect(text).toContain(`ALICE=${acme}`);
    expect(text).toContain('curl -s http://127.0.0.1:3000/v1/projects -H "authorization: Bearer $ALICE"');
  });
});

describe('rowguard token --role', () => {
  it('makes the user an active member with that role, audited, and never demotes the last owner', async () => {
    const t = await context.h.tenant('Roles', 'olive');
    await ensureMember(context.h.kernel, t.id, 'carol', 'admin');
    const carol = await context.h.mint(t.id, 'carol');
    expect((await context.h.call('POST', '/v1/members', { token: carol, body: { user_id: 'dan', email: 'dan@example.test', role: 'viewer' } })).status).toBe(201);
    await ensureMember(context.h.kernel, t.id, 'carol', 'viewer');
    // FORBIDDEN, not NOT_A_MEMBER: carol is still an active member, only with less power.
    const refused = await context.h.call('POST', '/v1/projects', { token: carol, body: { name: 'x' } });
    expect([refused.status, refused.body.code]).toEqual([403, 'FORBIDDEN']);
    // Each refusal has its own code.
    await expect(ensureMember(context.h.kernel, t.id, 'olive', 'viewer')).rejects.toMatchObject({ code: 'LAST_OWNER', message: "olive is the tenant's last owner; make someone else owner first" });
    await expect(ensureMember(context.h.kernel, '00000000-0000-4000-8000-000000000000', 'x', 'admin')).rejects.toMatchObject({
      code: 'TENANT_NOT_FOUND',
      message: 'there is no tenant 00000000-0000-4000-8000-000000000000',
    });
    const log = await context.h.call('GET', '/v1/audit-log?entity_type=member&limit=100', { token: t.token });
    expect(log.body.data.filter((e: { actor: string }) => e.actor === 'cli').map((e: { action: string }) => e.action)).toEqual(['member.updated', 'member.created']);
    // And the events webhooks receive, as for a change made through the API.
    const su = await context.db.superuserClient();
    const { rows: events } = await su.query(`select type, payload->>'user_id' as user_id from outbox_events where tenant_id = $1 and entity_type = 'member' order by created_at, type`, [t.id]);
    expect(events.filter((e) => e.user_id === 'carol').map((e) => e.type)).toEqual(['member.added', 'member.updated']);
  });
});

describe('rowguard token', () => {
  it('mints an HS256 token the service accepts', async () => {
    const secret = randomBytes(32).toString('base64url');
    const tenant = '6f1c2a9e-0b5d-4c3e-8f7a-1d2e3f4a5b6c';
    const result = spawnSync(process.execPath, [...CLI, 'token', '--tenant', tenant, '--user', 'carol', '--ttl', '2h'], {
      encoding: 'utf8',
      env: { ...process.env, ROWGUARD_JWT_SECRET: secret },
    });
    // With stderr, so a failing CLI shows why rather than only its exit code.
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
    const { payload, protectedHeader } = await jwtVerify(result.stdout.trim(), new TextEncoder().encode(secret));
    expect(protectedHeader.alg).toBe('HS256');
    expect(payload).toMatchObject({ sub: 'carol', tid: tenant });
    expect(payload.exp! - payload.iat!).toBe(7200);
  });

  it('refuses a tenant that is not a UUID, in one line', () => {
    const result = spawnSync(process.execPath, [...CLI, 'token', '--tenant', 'acme', '--user', 'carol'], {
      encoding: 'utf8',
      env: { ...process.env, ROWGUARD_JWT_SECRET: 'x'.repeat(32) },
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe('rowguard: tenant id must be a UUID [INVALID_TENANT_ID]\n');
  });
});
