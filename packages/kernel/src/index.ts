/**
 * @rowguard/kernel: tenant isolation enforced by PostgreSQL row-level security, as a library.
 * The tenancy kernel (`withTenant`, `asSystem`), role set-up, a migrations runner, the
 * tenant-table policy generator and the signed tenant context. Importing it does nothing;
 * every function takes its configuration explicitly. `pg` is a peer dependency.
 *
 * @module @rowguard/kernel
 */
export { createKernel, type HeldTransaction, type Kernel, type KernelOptions, type QueryOptions, type Transaction } from './db/kernel.js';
export { createPool, rowTypes, type PoolOptions } from './db/pool.js';
export { assertSafeAppRole, findAppRoleProblems } from './db/role-guard.js';
export { isUuid, parseTenantId } from './db/tenant-id.js';
export { TenantBusyError } from './db/tenant-limiter.js';
export { isConnectionFailure, quoteIdent, quoteLiteral, SQLSTATE, TENANT_SETTING, tenantPredicate } from './db/sql.js';
export { contextProof, PROOF_SETTING, readContextKey } from './db/context-proof.js';
export { migrate, readMigrations, type MigrateOptions, type Migration } from './schema/migrate.js';
export { setupRoles, type RoleSetupOptions } from './schema/roles.js';
export { bootstrapDatabase, withCredentials, type BootstrapOptions } from './schema/bootstrap.js';
export { parseIndexColumns, tenantTableSql, type TenantTableOptions } from './schema/tenant-table.js';
export { setSignedContext, type SignedContextChange } from './schema/signed-context.js';
export { isCitus } from './schema/citus/database.js';
export { distributeTenantTables, type Distribution } from './schema/citus/distribute.js';
export { repairShardPolicies, shardPolicyProblems, type ShardPolicyProblem } from './schema/citus/shard-policies.js';
export {
  MigrationError,
  ROWGUARD_ERROR_CODES,
  RowguardError,
  TenantContextError,
  TransactionStateError,
  UnsafeRoleError,
  type RowguardErrorCode,
} from './errors.js';
