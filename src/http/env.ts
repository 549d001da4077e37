import type { Logger } from 'pino';
import type { Transaction } from '../db/kernel.js';
import type { Credential, Principal } from './auth/principal.js';

/** What middleware hands to handlers on the Hono context. */
export interface AppEnv {
  Variables: {
    requestId: string;
    log: Logger;
    credential: Credential;
    principal: Principal;
    /** The transaction the idempotency middleware opened; handlers join it. */
    tx: Transaction | undefined;
  };
}
