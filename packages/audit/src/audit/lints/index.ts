import type { Lint } from '../lint.js';
import { appRoleBypasses } from './app-role-bypasses.js';
import { citusShardPolicies } from './citus-shard-policies.js';
import { appRoleExcessPrivileges } from './app-role-excess-privileges.js';
import { checkDiffersFromUsing } from './check-differs-from-using.js';
import { contextOnOtherColumn } from './context-on-other-column.js';
import { contextSourceMismatch } from './context-source-mismatch.js';
import { foreignKeyWithoutTenant } from './foreign-key-without-tenant.js';
import { functionSearchPathShadowable } from './function-search-path-shadowable.js';
import { leakproofFunction } from './leakproof-function.js';
import { missingTenantIndex } from './missing-tenant-index.js';
import { multiplePermissivePolicies } from './multiple-permissive-policies.js';
import { partitionWithoutPolicy } from './partition-without-policy.js';
import { policyDefeatsIndex } from './policy-defeats-index.js';
import { policyNotPinned } from './policy-not-pinned.js';
import { policyUsesCurrentUser } from './policy-uses-current-user.js';
import { rlsDisabled } from './rls-disabled.js';
import { rlsNotForced } from './rls-not-forced.js';
import { rlsWithoutPolicy } from './rls-without-policy.js';
import { securityDefinerFunction } from './security-definer-function.js';
import { securityDefinerTrigger } from './security-definer-trigger.js';
import { sequenceIds } from './sequence-ids.js';
import { serverVersion } from './server-version.js';
import { settingNotGuarded } from './setting-not-guarded.js';
import { sharedTable } from './shared-table.js';
import { tenantNotRestricted } from './tenant-not-restricted.js';
import { uniqueWithoutTenant } from './unique-without-tenant.js';
import { unprotectedRelation } from './unprotected-relation.js';
import { viewRunsAsOwner } from './view-runs-as-owner.js';
import { volatileFunctionInPolicy } from './volatile-function-in-policy.js';

/** Every lint, in report order. */
export const LINTS: readonly Lint[] = [
  rlsDisabled,
  rlsNotForced,
  rlsWithoutPolicy,
  policyNotPinned,
  tenantNotRestricted,
  citusShardPolicies,
  contextSourceMismatch,
  contextOnOtherColumn,
  checkDiffersFromUsing,
  settingNotGuarded,
  policyUsesCurrentUser,
  appRoleBypasses,
  appRoleExcessPrivileges,
  viewRunsAsOwner,
  unprotectedRelation,
  partitionWithoutPolicy,
  foreignKeyWithoutTenant,
  uniqueWithoutTenant,
  securityDefinerFunction,
  securityDefinerTrigger,
  functionSearchPathShadowable,
  leakproofFunction,
  serverVersion,
  missingTenantIndex,
  policyDefeatsIndex,
  volatileFunctionInPolicy,
  multiplePermissivePolicies,
  sharedTable,
  sequenceIds,
];
