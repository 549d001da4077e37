/**
 * Rowguard as a library: the tenancy kernel, role set-up, migrations and the tenant-table
 * generator. Importing it does nothing; every function takes its configuration explicitly.
 */
export { createKernel, type Kernel, type KernelOptions, type Transaction } from './db/kernel.js';
export { createPool, type PoolOptions } from './db/pool.js';
export { assertSafeAppRole, findAppRoleProblems } from './db/role-guard.js';
export { parseTenantId } from './db/tenant-id.js';
export { quoteIdent, quoteLiteral, SQLSTATE, TENANT_SETTING, tenantPredicate } from './db/sql.js';
export { migrate, readMigrations, SERVICE_MIGRATIONS, type MigrateOptions, type Migration } from './schema/migrate.js';
export { setupRoles, type RoleSetupOptions } from './schema/roles.js';
export { bootstrapDatabase, type BootstrapOptions } from './schema/bootstrap.js';
export { tenantTableSql, type TenantTableOptions } from './schema/tenant-table.js';
export { setSignedContext, type SignedContextChange } from './schema/signed-context.js';
export { contextProof, readContextKey } from './db/context-proof.js';
export { startEmbeddedPostgres, type EmbeddedDatabase, type EmbeddedOptions } from './embedded/embedded-postgres.js';
export {
  RowguardError,
  TenantContextError,
  TransactionStateError,
  UnsafeRoleError,
  MigrationError,
  type RowguardErrorCode,
} from './errors.js';
