import { TenantContextError } from '../errors.js';

// Canonical 8-4-4-4-12 hex form only: the value is inlined as a literal in SET LOCAL,
// so anything that is not strictly this shape never reaches SQL.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * True for a UUID in canonical form (any case): a tenant id the kernel accepts.
 *
 * @example
 * ```ts
 * import { isUuid } from '@rowguard/kernel';
 * const tenantId = c.req.param('tenantId');
 * if (!isUuid(tenantId)) return c.json({ error: 'not a tenant id' }, 400);
 * ```
 */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

/**
 * Returns the tenant id in lower case, or throws `INVALID_TENANT_ID`.
 *
 * @example
 * ```ts
 * import { parseTenantId } from '@rowguard/kernel';
 * const tenantId = parseTenantId('8F14E45F-CEEA-467A-9575-6A9F0A1B2C3D'); // '8f14e45f-ceea-467a-9575-6a9f0a1b2c3d'
 * parseTenantId('acme'); // throws TenantContextError, code 'INVALID_TENANT_ID'
 * ```
 */
export function parseTenantId(value: unknown): string {
  if (!isUuid(value)) {
    throw new TenantContextError('INVALID_TENANT_ID', 'tenant id must be a UUID');
  }
  return value.toLowerCase();
}
