import type { Logger } from 'pino';
import type { Credential, Principal } from './auth/principal.js';

/** What middleware hands to handlers on the Hono context. */
export interface AppEnv {
  Variables: {
    requestId: string;
    log: Logger;
    credential: Credential;
    principal: Principal;
    /** The parsed JSON body, once json-body middleware has checked type, size and syntax. */
    body: unknown;
  };
}
