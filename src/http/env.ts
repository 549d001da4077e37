import type { Logger } from 'pino';
import type { Transaction } from '../db/kernel.js';
import type { Credential, Principal } from './auth/principal.js';
import type { StoredResponse } from './middleware/idempotency.js';

/** What middleware hands to handlers on the Hono context. */
export interface AppEnv {
  Variables: {
    requestId: string;
    log: Logger;
    credential: Credential;
    principal: Principal;
    /** The transaction the idempotency middleware opened; handlers join it. */
    tx: Transaction | undefined;
    /** The response stored under this request's Idempotency-Key, replayed once it is authorized. */
    replay: StoredResponse | undefined;
    /** Set by a handler whose response carries a one-time secret: it is never stored for replay. */
    oneTimeSecret: boolean | undefined;
  };
}
