import type pg from 'pg';
import { type HeldTransaction, SQLSTATE, TransactionStateError } from '@rowguard/kernel';
import { authorize, LEVEL, type Credential, type Permission, type Principal, type Role } from './auth/principal.js';
import { IdempotentReplay, lookUpStoredResponse, type IdempotentRequest, type StoredResponse } from './idempotency.js';
import { HttpProblem } from './problem.js';
import { jsonRows } from './row-types.js';

/**
 * A request's one tenant transaction, as handlers see it: the `scope` variable, read with
 * `c.get('scope')` (Hono's `c.var` builds an object of every variable on each access).
 * Nothing is sent until the handler's first statement; the principal check travels ahead of
 * it in the same round trip and, when it fails, aborts the transaction before that statement
 * runs. The check is the database's (rowguard.check_user or enter_as_user, enter_as_key): it
 * also records the permission, which restrictive policies hold every write to. `authorize`
 * before the first statement makes the check demand the route's permission; after it, the
 * loaded principal is checked here. Rows come back as the response will carry them: a
 * timestamp is its JSON text (`jsonRows`), never a Date.
 */
export class RequestScope {
  readonly tenantId: string;
  /** "user:<sub>" or "api_key:<id>", as written to the audit log. */
  readonly actor: string;
  private needed: Permission = 'read';
  private entered: Principal | null = null;
  private started = false;
  /** A response stored under the request's Idempotency-Key: sent once the route authorized. */
  private replay: StoredResponse | undefined;

  constructor(
    private readonly tx: HeldTransaction,
    /** The verified credential the tenant came from. */
    readonly credential: Credential,
    readonly requestId: string,
    /** The request's Idempotency-Key, when it has one: looked up before the handler's first statement. */
    private readonly idempotency: IdempotentRequest | null,
    /**
     * The user check of migration 0023: `rowguard.check_user`, inlined into its statement and
     * recording the permission with set_config (plain PostgreSQL), or `rowguard.enter_as_user`,
     * which records it with SET LOCAL on Citus.
     */
    private readonly userCheck: 'rowguard.check_user' | 'rowguard.enter_as_user',
  ) {
    this.tenantId = credential.tenantId;
    this.actor = credential.kind === 'user' ? `user:${credential.userId}` : `api_key:${credential.keyId}`;
  }

  /**
   * Requires at least `needed`: in the database's check when it has not run yet, here
   * otherwise. A stored Idempotency-Key response is replayed only past this point, so a
   * caller who lost the permission since gets 403, not the old response.
   */
  authorize(needed: Permission): void {
    if (this.entered) authorize(this.entered, needed);
    else if (LEVEL[needed] > LEVEL[this.needed]) this.needed = needed;
    if (this.replay) throw new IdempotentReplay(this.replay);
  }

  /**
   * Takes the Idempotency-Key's lock and reads its stored response (with the principal
   * check, one round trip), before the route validates the request: another request under
   * the same key is 422 whatever it holds. Opens the transaction; nothing when there is no key.
   */
  async lookUpIdempotency(): Promise<void> {
    if (!this.idempotency || this.started) return;
    try {
      await this.start();
    } catch (error) {
      throw this.problemOf(error);
    }
  }

  /** The checked principal; runs the check on its own when no statement has been sent yet. */
  async principal(): Promise<Principal> {
    if (!this.entered) await this.query('select 1');
    return this.entered!;
  }

  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: readonly unknown[]): Promise<pg.QueryResult<R>> {
    return this.send(() => this.tx.query<R>(text, values, jsonRows));
  }

  /**
   * Queues a statement to travel ahead of the next one, in its round trip, when the next one
   * needs nothing from it (a delete and its audit entry). Its failure aborts what follows.
   * Only after the first statement: the principal check must lead.
   */
  along(text: string, values: readonly unknown[]): void {
    if (!this.started) throw new TransactionStateError('TRANSACTION_NOT_STARTED', 'along() queues behind the request’s first statement; send one first');
    this.tx.prepend(text, values);
  }

  /**
   * The request's last statement: it carries the COMMIT, saving a round trip, so nothing the
   * handler does after it can roll the request back (a read, or a write's record). Inside an
   * Idempotency-Key request the stored response is written after it, and commits instead.
   */
  last<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: readonly unknown[]): Promise<pg.QueryResult<R>> {
    return this.send(() => (this.idempotency ? this.tx.query<R>(text, values, jsonRows) : this.tx.last<R>(text, values, jsonRows)));
  }

  /**
   * Ends the request's transaction once the response is known: an error response rolls back
   * whatever the handler wrote; a success commits, storing the response first under its
   * Idempotency-Key. A success whose handler sent nothing is still checked.
   */
  async finish(response: Response | undefined, failed: boolean): Promise<void> {
    if (failed || !response || response.status >= 400) return this.tx.end(false);
    try {
      if (!this.started) await this.principal();
      if (this.idempotency && this.entered) await this.idempotency.store(this.tx, this.entered, response);
      else await this.tx.end(true);
    } catch (error) {
      await this.tx.end(false).catch(() => undefined);
      throw error;
    }
  }

  private async send<T>(statement: () => Promise<T>): Promise<T> {
    try {
      if (!this.started) await this.start();
      // A handler that never authorized still never runs twice under one key.
      if (this.replay) throw new IdempotentReplay(this.replay);
      return await statement();
    } catch (error) {
      throw this.problemOf(error);
    }
  }

  /** The principal check, ahead of the first statement; with an Idempotency-Key, its lookup. */
  private async start(): Promise<void> {
    this.started = true;
    this.prependCheck();
    if (this.idempotency) this.replay = await lookUpStoredResponse(this.tx, this.idempotency, this.tenantId, this.actor);
  }

  private prependCheck(): void {
    const { credential } = this;
    if (credential.kind === 'user') {
      this.tx.prepend(`select member_id, role, permission from ${this.userCheck}($1, $2)`, [credential.userId, this.needed], ({ rows }) => {
        const row = rows[0] as { member_id: string; role: Role; permission: Permission };
        this.entered = { tenantId: this.tenantId, actor: this.actor, permission: row.permission, userId: credential.userId, memberId: row.member_id, role: row.role };
      });
    } else {
      this.tx.prepend('select permission from rowguard.enter_as_key($1, $2, $3)', [credential.keyId, credential.scopes, this.needed], ({ rows }) => {
        this.entered = { tenantId: this.tenantId, actor: this.actor, permission: (rows[0] as { permission: Permission }).permission, keyId: credential.keyId };
      });
    }
  }

  /** The database check's refusals (SQLSTATE RG001–RG003, migration 0014) as the API's 403s. */
  private problemOf(error: unknown): unknown {
    switch ((error as { code?: string }).code) {
      case SQLSTATE.NOT_A_MEMBER:
        return new HttpProblem('NOT_A_MEMBER', this.credential.kind === 'user' ? 'the user is not an active member of this tenant' : 'the key does not belong to an existing tenant');
      case SQLSTATE.TENANT_SUSPENDED:
        return new HttpProblem('TENANT_SUSPENDED');
      case SQLSTATE.PERMISSION_BELOW_NEEDED:
        return new HttpProblem('FORBIDDEN', `This action needs the ${this.needed} permission`);
      default:
        return error;
    }
  }
}
