import { createHash } from 'node:crypto';
import type { Context } from 'hono';
import type { HeldTransaction } from '@rowguard/kernel';
import type { Principal } from './auth/principal.js';
import { HttpProblem, problemBody } from './problem.js';

const KEY = /^[\x21-\x7e]{1,255}$/;
const REPLAYED_HEADERS = ['content-type', 'etag', 'location'];

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
 * Thrown by the request scope before the handler's first statement, once the database's
 * check has authorized the request as if it were new, when a response is stored for it: the
 * handler goes no further, its transaction rolls back, and the stored response is sent.
 */
export class IdempotentReplay extends Error {
  constructor(readonly stored: StoredResponse) {
    super('idempotent replay');
  }

  /** The stored response, or 409 when it carried a secret that was never stored. */
  response(): Response {
    const { status_code: status, response_body: body, response_headers: headers, secret_withheld: withheld } = this.stored;
    if (withheld) {
      const problem = new HttpProblem('IDEMPOTENT_SECRET_NOT_REPLAYED', 'Revoke or rotate the credential it created, or use the one you received');
      const reply = new Headers({ 'content-type': 'application/problem+json' });
      if (headers.location) reply.set('location', headers.location);
      return new Response(problemBody(problem), { status: problem.status, headers: reply });
    }
    return new Response(status === 204 ? null : body, { status, headers: { ...headers, 'idempotent-replayed': 'true' } });
  }
}

/**
 * Idempotency-Key on POST, PATCH and DELETE (IETF httpapi draft), inside the request's one
 * transaction: the lookup, the handler's write, its audit entry, its events and the stored
 * response commit together or not at all.
 * - a stored response belongs to (tenant, principal, key): another user or API key sending
 *   the same key string runs its own request and learns nothing of the first;
 * - a transaction-scoped advisory lock on (tenant, principal, key) makes a concurrent
 *   duplicate 409 instead of waiting, and is released by a crash as by a commit;
 * - a stored response is replayed only after the database's principal check has authorized
 *   the request as if it were new (IdempotentReplay), with Idempotent-Replayed: true; another
 *   fingerprint (method, path, body) is 422;
 * - only a 2xx response is stored: a failed request wrote nothing and may run again;
 * - a response carrying a one-time secret is stored without its body (secret_withheld), so
 *   the table never holds a usable credential; its retry is 409.
 */
export interface IdempotentRequest {
  key: string;
  /** SHA-256 of method, path and body: read when first needed, after the body checks ran. */
  fingerprint(): Promise<string>;
  /** Stores a successful response, as the transaction's last statement (it commits). */
  store(tx: HeldTransaction, principal: Principal, response: Response): Promise<void>;
}

/** The request's Idempotency-Key, or null when it has none or its method takes none. */
export function idempotentRequest(c: Context, ttlSeconds: number, secretWithheld: () => boolean): IdempotentRequest | null {
  const key = c.req.header('idempotency-key');
  if (key === undefined || !['POST', 'PATCH', 'DELETE'].includes(c.req.method)) return null;
  if (!KEY.test(key)) throw new HttpProblem('INVALID_IDEMPOTENCY_KEY');
  let fingerprint: Promise<string> | undefined;
  return {
    key,
    fingerprint() {
      fingerprint ??= (async () => {
        const body = c.req.method === 'DELETE' ? '' : await c.req.text();
        return createHash('sha256').update(`${c.req.method} ${c.req.path}\n${body}`).digest('hex');
      })();
      return fingerprint;
    },
    async store(tx, principal, response) {
      const headers = Object.fromEntries(REPLAYED_HEADERS.flatMap((h) => (response.headers.has(h) ? [[h, response.headers.get(h)!]] : [])));
      const withheld = secretWithheld();
      await tx.last(
        `insert into idempotency_keys (tenant_id, principal, key, fingerprint, status_code, response_body, response_headers, secret_withheld, expires_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(secs => $9))`,
        [principal.tenantId, principal.actor, key, await this.fingerprint(), response.status, withheld ? '' : await response.clone().text(), JSON.stringify(headers), withheld, ttlSeconds],
      );
    },
  };
}

/**
 * Takes the key's lock and reads what is stored under it, in one round trip (with whatever
 * the transaction had queued, such as the principal check). The lock comes first, in its own
 * statement, so that the read's snapshot sees a duplicate that committed while we waited.
 */
export async function lookUpStoredResponse(tx: HeldTransaction, request: IdempotentRequest, tenantId: string, actor: string): Promise<StoredResponse | undefined> {
  const fingerprint = await request.fingerprint();
  let locked = false;
  tx.prepend('select pg_try_advisory_xact_lock(hashtext($1), hashtext($2)) as ok', [tenantId, `${actor} ${request.key}`], ({ rows }) => {
    locked = rows[0].ok;
  });
  const { rows } = await tx.query<StoredResponse>(
    `with expired as (delete from idempotency_keys where tenant_id = $1 and principal = $2 and key = $3 and expires_at <= now())
     select fingerprint, status_code, response_body, response_headers, secret_withheld
     from idempotency_keys where tenant_id = $1 and principal = $2 and key = $3 and expires_at > now()`,
    [tenantId, actor, request.key],
  );
  if (!locked) throw new HttpProblem('IDEMPOTENCY_KEY_IN_USE');
  if (rows[0] && rows[0].fingerprint !== fingerprint) {
    throw new HttpProblem('IDEMPOTENCY_KEY_REUSED');
  }
  return rows[0];
}
