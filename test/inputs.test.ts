import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load-config.js';
import { assertStatementAllowed } from '../packages/kernel/src/db/statement-guard.js';
import { parseTenantId } from '../packages/kernel/src/db/tenant-id.js';
import { substituteVariables } from '../packages/kernel/src/schema/sql-variables.js';
import { CLI } from './helpers/cli.js';

describe('parseTenantId', () => {
  it('accepts canonical UUIDs, lower-cased', () => {
    expect(parseTenantId('0B1E4C52-8F0A-4D5E-9C3B-2A1F0E9D8C7B')).toBe('0b1e4c52-8f0a-4d5e-9c3b-2a1f0e9d8c7b');
  });
  it.each(["0b1e4c52-8f0a-4d5e-9c3b-2a1f0e9d8c7b' or '1'='1", '0b1e4c528f0a4d5e9c3b2a1f0e9d8c7b', '{0b1e4c52-8f0a-4d5e-9c3b-2a1f0e9d8c7b}', ' 0b1e4c52-8f0a-4d5e-9c3b-2a1f0e9d8c7b', 42, null, undefined])(
    'refuses %s',
    (value) => {
      expect(() => parseTenantId(value)).toThrow(expect.objectContaining({ code: 'INVALID_TENANT_ID' }));
    },
  );
});

describe('assertStatementAllowed', () => {
  it.each(['select 1', 'insert into t values (1)', 'with x as (select 1) select * from x', "set local statement_timeout = '1s'", 'savepoint a', 'rollback to savepoint a', 'release savepoint a', '  -- begin\n select 1'])(
    'allows %s',
    (text) => expect(() => assertStatementAllowed(text)).not.toThrow(),
  );
  it.each(['begin', 'START TRANSACTION', 'commit', 'rollback', 'abort', 'end', "set app.tenant_id = 'x'", 'set local role x', 'reset role', 'discard all', 'listen x', '/* c */ (begin)', 'set session characteristics as transaction read only'])(
    'refuses %s',
    (text) => expect(() => assertStatementAllowed(text)).toThrow(expect.objectContaining({ code: 'STATEMENT_NOT_ALLOWED' })),
  );
  // The forms that switch the tenant context without looking like "SET LOCAL app.…".
  it.each([
    `SET LOCAL "app.tenant_id" = 'x'`,
    `SET LOCAL "app"."tenant_id" = 'x'`,
    `SET LOCAL app . tenant_id = 'x'`,
    `set /* hidden */ local app.tenant_id = 'x'`,
    `set local\n  -- a comment\n app.tenant_proof = 'x'`,
    `SET LOCAL app.tenant_id TO 'x'`,
    `select set_config('app.tenant_id', 'x', false)`,
    `select pg_catalog.set_config('app.tenant_id', 'x', true)`,
    `select "set_config"('app.tenant_id', 'x', true)`,
    `select pg_catalog . "set_config" ('app.tenant_id', 'x', true)`,
    `select * from projects where id = $1 and set_config('app.tenant_id', 'x', true) is not null`,
    `with s as (select set_config('app.tenant_id', 'x', true)) select * from s`,
    `DO $$ begin perform set_config('app.tenant_id', 'x', false); end $$`,
    `do language plpgsql $body$ begin null; end $body$`,
    `select query_to_xml('select 1', true, false, '')`,
    `select U&"set\\005fconfig"('app.tenant_id', 'x', true)`,
  ])('refuses %s', (text) => expect(() => assertStatementAllowed(text)).toThrow(expect.objectContaining({ code: 'STATEMENT_NOT_ALLOWED' })));
  it.each([
    `select 'set_config(' as words`,
    `insert into documents (name) values ('DO $$ begin end $$; set app.tenant_id = 1')`,
    `select $$set_config('app.tenant_id')$$ as quoted`,
    `select e'it''s set_config\\' done' as escaped`,
    `select * from "do"`,
    `select settings from projects`,
  ])('allows %s (the words are in a literal or another name)', (text) => expect(() => assertStatementAllowed(text)).not.toThrow());
});

describe('substituteVariables', () => {
  it('quotes identifiers and literals, and leaves casts alone', () => {
    const sql = `grant select on t to :"app_role"; select :'app_role', x::text, y::"Type";`;
    expect(substituteVariables(sql, { app_role: 'my "app"' })).toBe(`grant select on t to "my ""app"""; select 'my "app"', x::text, y::"Type";`);
  });
  it('refuses unknown variables', () => {
    expect(() => substituteVariables('grant select on t to :"nobody"', {})).toThrow('unknown SQL variable');
  });
});

describe('loadConfig', () => {
  it('is frozen and filled with defaults', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(config).toMatchObject({ env: 'development', port: 3000, appRole: 'rowguard_app', systemRole: 'rowguard_system', databaseUrl: undefined });
  });
  it('takes the app role from the app URL', () => {
    const config = loadConfig({ ROWGUARD_DATABASE_URL: 'postgres://o@h/db', ROWGUARD_DB_APP_URL: 'postgres://my_app:pw@h/db' });
    expect(config.appRole).toBe('my_app');
  });
  it.each([
    [{ ROWGUARD_PORT: 'eighty' }, 'ROWGUARD_PORT'],
    [{ ROWGUARD_PORT: '5432' }, 'belongs to another service'],
    [{ ROWGUARD_DATABASE_URL: 'mysql://x' }, 'ROWGUARD_DATABASE_URL'],
    [{ ROWGUARD_DB_APP_URL: 'postgres://a@h/db' }, 'needs ROWGUARD_DATABASE_URL'],
    [{ NODE_ENV: 'staging' }, 'NODE_ENV'],
  ])('refuses %o with a clear message', (env, message) => {
    expect(() => loadConfig(env)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringContaining(message) }));
  });
});

describe('the rowguard command', () => {
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [...CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });

  it('prints one line and exits non-zero for bad input', () => {
    for (const [args, env] of [[['serve'], { ROWGUARD_PORT: 'x' }], [['frobnicate'], {}], [['setup-roles'], { ROWGUARD_DATABASE_URL: '' }], [['tenant-table'], {}]] as const) {
      const result = run([...args], env);
      expect(result.status).toBe(1);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(/^rowguard: .* \[CONFIG_INVALID\]\n$/);
    }
  });

  it('prints the tenant-table SQL', () => {
    const result = run(['tenant-table', 'contacts', '--app-role', 'app', '--system-role', 'sys']);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('alter table "contacts" force row level security;');
  });
});
