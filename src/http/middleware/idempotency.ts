import { createHash } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { Kernel } from '../../db/kernel.js';
import { loadPrincipal } from '../auth/principal.js';
import type { AppEnv } from '../env.js';
import { HttpProblem } from '../problem.js';

const KEY = /^[\x21-\x7e]{1,255}$/;
const REPLAYED_HEADERS = ['content-type', 'etag', 'location'];

/** Thrown inside the transaction to roll it back when the handler did not succeed. */
const NOT_STORED = Symbol('not stored');

interface Stored {
  fingerprint: string;
  status_code: number;
  response_body: string;
  response_headers: Record<string, string>;
}

/**
 * Idempotency-Key on POST, PATCH and DELETE (IETF httpapi draft). The lookup, the handler's
 * write, its audit entry, its events and the stored response share one transaction:
 * - a transaction-scoped advisory lock on (tenant, key) makes a concurrent duplicate 409
 *   instead of waiting, and is released by a crash as by a commit;
 * - a stored response for the same key and fingerprint (method, path, body) is replayed
 *   with Idempotent-Replayed: true; another fingerprint is 422;
 * - only a 2xx response is stored: a failed request wrote nothing and may run again.
 * Keys live in a tenant table under RLS, so one tenant's key never finds another's response.
 */
export function idempotency({ kernel, ttlSeconds }: { kernel: Kernel; ttlSeconds: number }): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const key = c.req.header('idempotency-key');
    if (key === undefined || !['POST', 'PATCH', 'DELETE'].includes(c.req.method)) return next();
    if (!KEY.test(key)) throw new HttpProblem(400, 'INVALID_IDEMPOTENCY_KEY', 'Idempotency-Key must be 1–255 visible ASCII characters');
    const body = c.req.method === 'DELETE' ? '' : await c.req.text();
    const fingerprint = createHash('sha256').update(`${c.req.method} ${c.req.path}\n${body}`).digest('hex');
    const credential = c.get('credential');

    let replay: Stored | undefined;
    try {
      await kernel.withTenant(credential.tenantId, async (tx) => {
        c.set('principal', await loadPrincipal(tx, credential));
        const { rows: lock } = await tx.query<{ ok: boolean }>('select pg_try_advisory_xact_lock(hashtext($1), hashtext($2)) as ok', [credential.tenantId, key]);
        if (!lock[0]!.ok) throw new HttpProblem(409, 'IDEMPOTENCY_KEY_IN_USE', 'A request with this Idempotency-Key is still running; retry later');
        await tx.query('delete from idempotency_keys where key = $1 and expires_at <= now()', [key]);
        const { rows } = await tx.query<Stored>('select fingerprint, status_code, response_body, response_headers from idempotency_keys where key = $1', [key]);
        if (rows[0]) {
          if (rows[0].fingerprint !== fingerprint) {
            throw new HttpProblem(422, 'IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used for a different request');
          }
          replay = rows[0];
          return;
        }
        c.set('tx', tx);
        await next();
        c.set('tx', undefined);
        if (c.error || c.res.status < 200 || c.res.status >= 300) throw NOT_STORED;
        const headers = Object.fromEntries(REPLAYED_HEADERS.flatMap((h) => (c.res.headers.has(h) ? [[h, c.res.headers.get(h)!]] : [])));
        await tx.query(
          `insert into idempotency_keys (tenant_id, key, fingerprint, status_code, response_body, response_headers, expires_at)
           values ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))`,
          [credential.tenantId, key, fingerprint, c.res.status, await c.res.clone().text(), JSON.stringify(headers), ttlSeconds],
        );
      });
    } catch (error) {
      if (error !== NOT_STORED) throw error;
    }
    if (replay) {
      const status = replay.status_code;
      c.res = new Response(status === 204 ? null : replay.response_body, {
        status,
        headers: { ...replay.response_headers, 'idempotent-replayed': 'true' },
      });
    }
  };
}
