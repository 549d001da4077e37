import { createHmac } from 'node:crypto';
import type pg from 'pg';

/**
 * The transaction-local setting that carries the tenant context's proof.
 *
 * @example
 * ```ts
 * import { PROOF_SETTING } from '@rowguard/kernel';
 * const { rows } = await tx.query(`select current_setting($1, true) <> '' as signed`, [PROOF_SETTING]);
 * ```
 */
export const PROOF_SETTING = 'app.tenant_proof';

/**
 * The proof that makes `app.tenant_id` count: HMAC-SHA256 of the tenant id under the
 * database's context key, in hex, as `rowguard.tenant_id()` computes it. Only the kernel,
 * which read the key through the owner's connection, can make one; it travels only as a bind
 * parameter, never in statement text that pg_stat_activity would show.
 *
 * @example
 * ```ts
 * import { contextProof, PROOF_SETTING, readContextKey, TENANT_SETTING } from '@rowguard/kernel';
 * const key = (await readContextKey(ownerPool))!;
 * await client.query('begin');
 * await client.query('select set_config($1, $2, true), set_config($3, $4, true)', [TENANT_SETTING, tenantId, PROOF_SETTING, contextProof(key, tenantId)]);
 * ```
 */
export function contextProof(key: Uint8Array, tenantId: string): string {
  return createHmac('sha256', key).update(tenantId).digest('hex');
}

/**
 * The context key of a database migrated by Rowguard (rowguard.context_key), read through a
 * connection that may see it (the owner); undefined when the database has none, i.e. its
 * policies trust app.tenant_id alone.
 *
 * @example
 * ```ts
 * import { createKernel, createPool, readContextKey } from '@rowguard/kernel';
 * const systemPool = createPool({ connectionString: process.env.OWNER_URL! });
 * const kernel = createKernel({ appPool, systemPool, contextKey: await readContextKey(systemPool) });
 * ```
 */
export async function readContextKey(owner: pg.ClientBase | pg.Pool): Promise<Buffer | undefined> {
  const { rows: exists } = await owner.query<{ table: string | null }>(`select to_regclass('rowguard.context_key')::text as table`);
  if (!exists[0]?.table) return undefined;
  const { rows } = await owner.query<{ key: Buffer }>('select key from rowguard.context_key');
  return rows[0]?.key;
}
