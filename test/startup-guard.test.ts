import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertSafeAppRole } from '../packages/kernel/src/db/role-guard.js';
import { TEST_ROLES } from './helpers/cluster.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { CLI } from './helpers/cli.js';

let db: TestDatabase;
let admin: pg.Client;
const suffix = randomBytes(3).toString('hex');
const unsafe = {
  superuser: `rg_guard_super_${suffix}`,
  bypass: `rg_guard_bypass_${suffix}`,
  tableOwner: `rg_guard_owner_${suffix}`,
  member: `rg_guard_member_${suffix}`,
  system: `rg_guard_system_${suffix}`,
};

async function guardProblems(role: string): Promise<unknown> {
  const client = new pg.Client({ connectionString: db.urlFor(role) });
  await client.connect();
  try {
    await assertSafeAppRole(client, { systemRole: TEST_ROLES.system });
    return null;
  } catch (error) {
    return error;
  } finally {
    await client.end();
  }
}

/** Runs the CLI from source; resolves with its exit code and output once it exits or prints its ready line. */
function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...CLI, ...args], {
      env: { ...process.env, ROWGUARD_PORT: '0', ROWGUARD_LOG_LEVEL: 'warn', ...env },
    });
    let stdout = '';
    let stderr = '';
    let stopping = false;
    child.stdout.on('data', (d) => {
      stdout += d;
      if (stdout.includes('listening on') && !stopping) {
        stopping = true; // once: a second SIGINT would force the exit
        child.kill('SIGINT');
      }
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  db = await createTestDatabase();
  admin = new pg.Client({ connectionString: db.superuserUrl });
  await admin.connect();
  const password = new URL(db.appUrl).password;
  const login = (name: string, extra = '') => admin.query(`create role ${name} login ${extra} password '${decodeURIComponent(password)}'`);
  await login(unsafe.superuser, 'superuser');
  await login(unsafe.bypass, 'bypassrls');
  await login(unsafe.tableOwner);
  await login(unsafe.member);
  await login(unsafe.system);
  await admin.query(`grant connect on database "${db.name}" to ${Object.values(unsafe).join(', ')}`);
  await admin.query(`grant create on schema public to ${unsafe.tableOwner}`);
  await admin.query(`set role ${unsafe.tableOwner}; create table owned_by_app (tenant_id uuid); reset role`);
  await admin.query(`grant ${unsafe.tableOwner} to ${unsafe.member}`);
  await admin.query(`grant ${TEST_ROLES.system} to ${unsafe.system}`);
});

afterAll(async () => {
  await admin.query('drop table if exists owned_by_app');
  for (const role of Object.values(unsafe)) {
    await admin.query(`drop owned by ${role} cascade`).catch(() => undefined);
    await admin.query(`drop role if exists ${role}`);
  }
  await admin.end();
  await db.close();
});

describe('startup guard', () => {
  it('accepts the provisioned app role', async () => {
    expect(await guardProblems(TEST_ROLES.app)).toBeNull();
  });

  it.each([
    ['a superuser', unsafe.superuser, 'is a superuser'],
    ['a BYPASSRLS role', unsafe.bypass, 'has BYPASSRLS'],
    ['a table owner', unsafe.tableOwner, 'owns public.owned_by_app'],
    ['a role that can SET ROLE to a table owner', unsafe.member, `can become "${unsafe.tableOwner}", which owns public.owned_by_app`],
    ['a role that can become the system role', unsafe.system, 'is the system role'],
    ['the owner itself', TEST_ROLES.owner, 'owns public.'],
  ])('refuses %s', async (_label, role, problem) => {
    const error = await guardProblems(role);
    expect(error).toMatchObject({ code: 'UNSAFE_APP_ROLE' });
    expect((error as Error).message).toContain(problem);
  });
});

describe('rowguard serve', () => {
  it('exits with one line and a non-zero code when the app URL is a table owner', async () => {
    const { code, stdout, stderr } = await runCli(['serve'], { ROWGUARD_DATABASE_URL: db.ownerUrl, ROWGUARD_DB_APP_URL: db.urlFor(unsafe.tableOwner), ROWGUARD_SYSTEM_ROLE: TEST_ROLES.system });
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/^rowguard: refusing to serve: app role "rg_guard_owner_\w+" owns public\.owned_by_app .*\[UNSAFE_APP_ROLE\]/);
  });

  it('exits the same way for a superuser app URL', async () => {
    const { code, stderr } = await runCli(['serve'], { ROWGUARD_DATABASE_URL: db.ownerUrl, ROWGUARD_DB_APP_URL: db.urlFor(unsafe.superuser), ROWGUARD_SYSTEM_ROLE: TEST_ROLES.system });
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain('[UNSAFE_APP_ROLE]');
  });

  it('refuses to run without an app URL in production', async () => {
    const { code, stderr } = await runCli(['serve'], { NODE_ENV: 'production', ROWGUARD_DATABASE_URL: db.ownerUrl, ROWGUARD_DB_APP_URL: '' });
    expect(code).toBe(1);
    expect(stderr.trim()).toMatch(/^rowguard: refusing to start: ROWGUARD_DB_APP_URL is not set.*\[APP_URL_REQUIRED\]$/);
  });

  it.each([
    ['serve', 'development'],
    ['serve', 'test'],
    ['worker', 'development'],
  ])('%s refuses to run on the owner URL alone in %s too', async (command, env) => {
    const { code, stdout, stderr } = await runCli([command], { NODE_ENV: env, ROWGUARD_DATABASE_URL: db.ownerUrl, ROWGUARD_DB_APP_URL: '', ROWGUARD_APP_ROLE: TEST_ROLES.app, ROWGUARD_SYSTEM_ROLE: TEST_ROLES.system });
    expect(code).toBe(1);
    expect(stdout).not.toContain('listening on');
    expect(stderr.trim()).toMatch(/^rowguard: refusing to start: ROWGUARD_DB_APP_URL is not set.*\[APP_URL_REQUIRED\]$/);
  });

  it('serves with the provisioned app role', async () => {
    const { code, stdout } = await runCli(['serve'], { ROWGUARD_DATABASE_URL: db.ownerUrl, ROWGUARD_DB_APP_URL: db.appUrl, ROWGUARD_SYSTEM_ROLE: TEST_ROLES.system });
    expect(code).toBe(0);
    expect(stdout).toContain(`RLS enforced through app role "${TEST_ROLES.app}"`);
  });
});
