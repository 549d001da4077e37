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

/** A response stored under an Idempotency-Key, for the principal that made the request. */
export interface StoredResponse {
  fingerprint: string;
  status_code: number;
  response_body: string;
  response_headers: Record<string, string>;
  /** The response carried a one-time secret, so it was not stored and is not replayed. */
  secret_withheld: boolean;
}

/**
 * Thrown by the tenant scope once the request is authorized, when a response is stored for
 * it: the handler does not run again, and the stored response is sent instead.
 */
export class IdempotentReplay extends Error {
  constructor(readonly stored: StoredResponse) {
    super('idempotent replay');
  }

  /** The stored response, or 409 when it carried a secret that was never stored. */
  response(): Response {
    const { status_code: status, response_body: body, response_headers: headers, secret_withheld: withheld } = this.stored;
    if (withheld) {
      const problem = {
        type: 'urn:rowguard:problem:idempotent-secret-not-replayed',
        status: 409,
        code: 'IDEMPOTENT_SECRET_NOT_REPLAYED',
        title: 'This request already succeeded; the secret it returned is shown only once and was not stored',
        detail: 'Revoke or rotate the credential it created, or use the one you received',
      };
      const reply = new Headers({ 'content-type': 'application/problem+json' });
      if (headers.location) reply.set('location', headers.location);
      return new Response(JSON.stringify(problem), { status: 409, headers: reply });
    }
    return new Response(status === 204 ? null : body, { status, headers: { ...headers, 'idempotent-replayed': 'true' } });
  }
}

/**
 * Idempotency-Key on POST, PATCH and DELETE (IETF httpapi draft). The lookup, the handler's
 * write, its audit entry, its events and the stored response share one transaction:
 * - a stored response belongs to (tenant, principal, key): another user or API key sending
 *   the same key string runs its own request and learns nothing of the first;
 * - a transaction-scoped advisory lock on (tenant, principal, key) makes a concurrent
 *   duplicate 409 instead of waiting, and is released by a crash as by a commit;
 * - a stored response is replayed only after the tenant scope has authorized the request
 *   as if it were new (IdempotentReplay), with Idempotent-Replayed: true; another
 *   fingerprint (method, path, body) is 422;
 * - only a 2xx response is stored: a failed request wrote nothing and may run again;
 * - a response carrying a one-time secret is stored without its body (secret_withheld), so
 *   the table never holds a usable credential; its retry is 409.
 */
export function idempotency({ kernel, ttlSeconds }: { kernel: Kernel; ttlSeconds: number }): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const key = c.req.header('idempotency-key');
    if (key === undefined || !['POST', 'PATCH', 'DELETE'].includes(c.req.method)) return next();
    if (!KEY.test(key)) throw new HttpProblem(400, 'INVALID_IDEMPOTENCY_KEY', 'Idempotency-Key must be 1–255 visible ASCII characters');
    const body = c.req.method === 'DELETE' ? '' : await c.req.text();
    const fingerprint = createHash('sha256').update(`${c.req.method} ${c.req.path}\n${body}`).digest('hex');
    const credential = c.get('credential');

    try {
      await kernel.withTenant(credential.tenantId, async (tx) => {
        const principal = await loadPrincipal(tx, credential);
        c.set('principal', principal);
        const { rows: lock } = await tx.query<{ ok: boolean }>('select pg_try_advisory_xact_lock(hashtext($1), hashtext($2)) as ok', [
          credential.tenantId,
          `${principal.actor} ${key}`,
        ]);
        if (!lock[0]!.ok) throw new HttpProblem(409, 'IDEMPOTENCY_KEY_IN_USE', 'A request with this Idempotency-Key is still running; retry later');
        await tx.query('delete from idempotency_keys where principal = $1 and key = $2 and expires_at <= now()', [principal.actor, key]);
        const { rows } = await tx.query<StoredResponse>(
          'select fingerprint, status_code, response_body, response_headers, secret_withheld from idempotency_keys where principal = $1 and key = $2',
          [principal.actor, key],
        );
        if (rows[0] && rows[0].fingerprint !== fingerprint) {
          throw new HttpProblem(422, 'IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used for a different request');
        }
        c.set('tx', tx);
        c.set('replay', rows[0]);
        await next();
        c.set('tx', undefined);
        if (c.error || c.res.status < 200 || c.res.status >= 300) throw NOT_STORED;
        const headers = Object.fromEntries(REPLAYED_HEADERS.flatMap((h) => (c.res.headers.has(h) ? [[h, c.res.headers.get(h)!]] : [])));
        const withheld = c.get('oneTimeSecret') === true;
        await tx.query(
          `insert into idempotency_keys (tenant_id, principal, key, fingerprint, status_code, response_body, response_headers, secret_withheld, expires_at)
           values ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(secs => $9))`,
          [credential.tenantId, principal.actor, key, fingerprint, c.res.status, withheld ? '' : await c.res.clone().text(), JSON.stringify(headers), withheld, ttlSeconds],
        );
      });
    } catch (error) {
      if (error !== NOT_STORED) throw error;
    }
  };
}
