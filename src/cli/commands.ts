// The command table of the rowguard CLI: each command's flags, usage line and help text.
import { RowguardError } from '@rowguard/kernel';

/** Every flag; each command accepts only its own (COMMANDS), plus --help. */
export const OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  'data-dir': { type: 'string' },
  'app-role': { type: 'string' },
  'system-role': { type: 'string' },
  'tenant-column': { type: 'string' },
  'password-file': { type: 'string' },
  tenant: { type: 'string' },
  user: { type: 'string' },
  ttl: { type: 'string' },
  role: { type: 'string' },
  schema: { type: 'string', multiple: true },
  format: { type: 'string' },
  'fail-on': { type: 'string' },
  'fix-sql': { type: 'boolean' },
  'expect-tables': { type: 'string' },
  'expect-probed': { type: 'string' },
  setting: { type: 'string' },
  'app-url': { type: 'string' },
  demo: { type: 'boolean' },
  'signed-context': { type: 'boolean' },
  index: { type: 'string' },
  'show-secrets': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export type Flag = keyof typeof OPTIONS;

const SERVE_FLAGS: Flag[] = ['port', 'host', 'data-dir'];

/** Per command: its flags, its usage line and its help; the order is the order of `rowguard help`. */
export const COMMANDS: Record<string, { flags: Flag[]; usage: string; help: string }> = {
  serve: {
    flags: [...SERVE_FLAGS, 'demo'],
    usage: 'serve',
    help: `                             run the HTTP service (embedded PostgreSQL unless ROWGUARD_DATABASE_URL is set)
      --demo                   also create two demo tenants and print curl commands for them
      --port N, --host H, --data-dir PATH   (or ROWGUARD_PORT, ROWGUARD_HOST, ROWGUARD_DATA_DIR)
                             the data dir is recorded in ./.rowguard/data-dir: later commands run here
                             without --data-dir or ROWGUARD_DATA_DIR use it`,
  },
  demo: { flags: SERVE_FLAGS, usage: 'demo', help: '                             create the demo tenants and print curl commands' },
  worker: { flags: SERVE_FLAGS, usage: 'worker', help: '                             run the outbox relay, webhook delivery and scheduled jobs without HTTP' },
  migrate: { flags: SERVE_FLAGS, usage: 'migrate', help: '                             apply pending migrations and exit' },
  'setup-roles': {
    flags: ['app-role', 'password-file'],
    usage: 'setup-roles',
    help: `                             create/lock down the app and system roles (needs ROWGUARD_DATABASE_URL)
      --app-role NAME          app login role (default ROWGUARD_APP_ROLE, rowguard_app)
      --password-file PATH     set a new generated app password and write it there (mode 0600)`,
  },
  token: {
    flags: [...SERVE_FLAGS, 'tenant', 'user', 'ttl', 'role'],
    usage: 'token --tenant ID --user ID',
    help: `                             print a development JWT (HS256, ROWGUARD_JWT_SECRET or the generated one)
      --ttl 1h                 lifetime (30m, 1h, 24h; more than zero, at most ROWGUARD_JWT_MAX_LIFETIME)
      --role ROLE              also make the user an active owner/admin/member/viewer of the tenant
      with ROWGUARD_DATABASE_URL set, warns when the tenant does not exist or the user is not an active member`,
  },
  audit: {
    flags: ['app-role', 'tenant-column', 'schema', 'format', 'fail-on', 'fix-sql', 'expect-tables', 'data-dir'],
    usage: 'audit [URL]',
    help: `                             read-only lints of a database's tenant isolation (URL or ROWGUARD_DATABASE_URL;
                             neither: the running embedded database, as its owner)
      --app-role NAME          the role request traffic uses (detected when there is one candidate;
                               on the embedded database: ROWGUARD_APP_ROLE, rowguard_app)
      --data-dir PATH          the embedded database's data dir (default: the one serve used here)
      --tenant-column NAME     (default tenant_id)   --schema NAME (repeatable; default all)
      --format text|json|sarif|html   --fail-on error|warn   --fix-sql (print one fixing migration)
      --expect-tables N        at least N tenant tables must be found
      exit codes: 0 clean, 1 findings at --fail-on or above, 2 could not audit (also: a --schema
      that does not exist, no tenant table, fewer than --expect-tables)`,
  },
  probe: {
    flags: ['tenant-column', 'setting', 'schema', 'format', 'app-url', 'data-dir', 'expect-probed'],
    usage: 'probe [OWNER_URL --app-url APP_URL]',
    help: `                             attack isolation as the app role, always rolled back (owner must read every row);
                             no URL: the running embedded database (its superuser and app role)
      --data-dir PATH          the embedded database's data dir (default: the one serve used here)
      --tenant-column NAME  --schema NAME  --format text|json
      --setting NAME           the setting the policies read the tenant from (default: the one most
                               tenant tables' policies read, else app.tenant_id)
      --expect-probed N        at least N tables and views must hold two tenants' rows and be probed
      exit codes: 0 no leak, 1 a leak, 2 could not probe (also: nothing probed, fewer than --expect-probed)`,
  },
  urls: {
    flags: ['data-dir', 'show-secrets'],
    usage: 'urls',
    help: `                             the owner, app, system and superuser connections of the running embedded database
      --show-secrets           print the passwords (masked otherwise)
      --data-dir PATH          (default: the one serve used here)`,
  },
  'tenant-table': {
    flags: ['tenant-column', 'index', 'app-role', 'system-role', 'signed-context'],
    usage: 'tenant-table TABLE',
    help: `                             print the SQL that makes TABLE ("name", "schema.name") a tenant table: one
                             transaction for psql -f, adding the tenant column when missing
      --tenant-column NAME     (default tenant_id)
      --index "COL [desc], …"  columns after the tenant column in its index (default none; none: no index)
      --app-role NAME --system-role NAME   roles granted to (default ROWGUARD_APP_ROLE/ROWGUARD_SYSTEM_ROLE,
                               rowguard_app/rowguard_system)
      --signed-context         policies that accept the tenant only with its proof (rowguard.tenant_id())`,
  },
  'signed-context': {
    flags: SERVE_FLAGS,
    usage: 'signed-context on|off',
    help: '                             make every tenant policy require the signed context, or trust app.tenant_id alone again',
  },
};

/** The usage line, padded so short ones share a line with the first line of their help. */
function commandHelp(name: string): string {
  const { usage, help } = COMMANDS[name]!;
  const indent = '                             ';
  return usage.length + 2 < indent.length - 1 ? `  ${usage.padEnd(indent.length - 2)}${help.slice(indent.length)}` : `  ${usage}\n${help}`;
}

export const HELP = `rowguard — PostgreSQL tenant isolation enforced by the database

Usage: rowguard <command> [options]     rowguard <command> --help

Commands:
${Object.keys(COMMANDS).map(commandHelp).join('\n')}

Environment: ROWGUARD_DATABASE_URL (owner), ROWGUARD_DB_APP_URL (app role), NODE_ENV, ROWGUARD_LOG_LEVEL;
all settings are listed in the README.`;

/** `rowguard <command> --help`: that command alone. */
export function helpOf(name: string): string {
  return `Usage: rowguard ${COMMANDS[name]!.usage} [options]\n\n${commandHelp(name)}\n\nAll commands: rowguard help`;
}

/** A flag that takes a whole number (--expect-tables, --expect-probed); undefined when not given. */
export function wholeNumberFlag(flag: Flag, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new RowguardError('CONFIG_INVALID', `--${flag} must be a whole number, not "${value}"`);
  return Number(value);
}
