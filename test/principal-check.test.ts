import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kernel } from '../packages/kernel/src/db/kernel.js';
import { resolveTenantContext } from '../src/kernel-from-config.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';

// The user's principal check comes in two forms over one set of rules (migration 0023):
// rowguard.check_user, inlined into the statement that calls it, for plain PostgreSQL; and
// rowguard.enter_as_user, which on Citus records the permission with SET LOCAL. Both run here
// as the app role, over every tenant status, membership and needed permission.
const onCitus = process.env.ROWGUARD_TEST_ON_CITUS === '1';
let db: TestDatabase;
let kernel: Kernel;
const active = randomUUID();
const suspended = randomUUID();
const missing = randomUUID();
const ROLES = ['viewer', 'member', 'admin', 'owner'] as const;
const NEEDED = ['read', 'write', 'manage', 'owner'] as const;
const USERS = [...ROLES.map((role) => `${role}-user`), 'invited-user', 'removed-user', 'stranger'];

beforeAll(async () => {
  db = await createTestDatabase();
  kernel = db.kernel({ appPoolSize: 1 }).kernel;
  await kernel.asSystem(async (tx) => {
    for (const [id, status] of [[active, 'active'], [suspended, 'suspended']] as const) {
      await tx.query('insert into tenants (id, name, status) values ($1, $2, $3)', [id, status, status]);
      const members = [...ROLES.map((role) => [`${role}-user`, role, 'active']), ['invited-user', 'member', 'invited'], ['removed-user', 'admin', 'removed']];
      for (const [user, role, memberStatus] of members) {
        await tx.query('insert into team_members (tenant_id, user_id, email, role, status) values ($1, $2, $3, $4, $5)', [id, user, `${user}@example.test`, role, memberStatus]);
      }
    }
  });
});
afterAll(() => db.close());

/** What a check does in a tenant transaction: its refusal, or its row and the settings it leaves for the transaction's next statement. */
async function outcome(fn: string, tenant: string, user: string, needed: string) {
  const tx = kernel.holdTenant(tenant);
  let row: unknown;
  tx.prepend(`select member_id, role, permission from ${fn}($1, $2)`, [user, needed], ({ rows }) => (row = rows[0]));
  try {
    const { rows } = await tx.last("select current_setting('rowguard.permission', true) as permission, current_setting('rowguard.member_id', true) as member");
    return { row, settings: rows[0] };
  } catch (error) {
    return { refused: (error as { code?: string }).code };
  }
}

describe('the user principal check', () => {
  // The check the service calls on this database, and the other form where it can run too.
  const used = onCitus ? 'rowguard.enter_as_user' : 'rowguard.check_user';

  it('answers every tenant, membership and permission as the rules say; both forms agree where both run', async () => {
    const expected = (tenant: string, user: string, needed: string) => {
      const role = ROLES.find((r) => user === `${r}-user`);
      if (tenant !== active && tenant !== suspended) return 'RG001';
      if (!role) return 'RG001';
      if (tenant === suspended) return 'RG002';
      return ROLES.indexOf(role) < NEEDED.indexOf(needed as (typeof NEEDED)[number]) ? 'RG003' : NEEDED[ROLES.indexOf(role)]!;
    };
    let granted = 0;
    for (const tenant of [active, suspended, missing]) {
      for (const user of USERS) {
        for (const needed of NEEDED) {
          const answer = await outcome(used, tenant, user, needed);
          if (!onCitus) expect(await outcome('rowguard.enter_as_user', tenant, user, needed), `${user} needing ${needed}`).toEqual(answer);
          const want = expected(tenant, user, needed);
          if (want.startsWith('RG')) {
            expect(answer).toEqual({ refused: want });
          } else {
            const row = answer.row as { member_id: string; role: string; permission: string };
            expect(row.permission).toBe(want);
            expect(answer.settings).toEqual({ permission: want, member: row.member_id });
            granted += 1;
          }
        }
      }
    }
    expect(granted).toBe(10); // viewer 1, member 2, admin 3, owner 4 of the four levels
  });

  it('check_user is inlined into the statement that calls it on PostgreSQL, and refused on Citus, where its set_config would not reach the workers', async () => {
    if (onCitus) {
      // Citus 13.2 cannot plan its join (0A000); were a later version to plan it, its own guard refuses (RG004).
      expect(['0A000', 'RG004']).toContain((await outcome('rowguard.check_user', active, 'owner-user', 'read')).refused);
      return;
    }
    const { rows } = await kernel.tenantQuery(active, 'explain (format json) select member_id, role, permission from rowguard.check_user($1, $2)', ['owner-user', 'read']);
    const plan = JSON.stringify(rows[0]);
    expect(plan).not.toContain('Function Scan');
    expect(plan).toContain('team_members');
  });
});

describe("the service's tenant context, auto by default", () => {
  it('is set-config on plain PostgreSQL (check_user), SET LOCAL on Citus (enter_as_user); an explicit choice is kept', async () => {
    const { systemPool } = db.kernel();
    expect(await resolveTenantContext('auto', systemPool)).toBe(onCitus ? 'set-local' : 'set-config');
    expect(await resolveTenantContext('set-local', systemPool)).toBe('set-local');
  });
});
