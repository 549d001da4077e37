import type { Logger } from 'pino';
import type { RequestScope } from './request-scope.js';

/** What middleware hands to handlers on the Hono context. */
export interface AppEnv {
  Variables: {
    requestId: string;
    log: Logger;
    /** The tenant API's request scope (/v1): its one transaction, principal and permission check. */
    scope: RequestScope;
    /** Set by a handler whose response carries a one-time secret: it is never stored for replay. */
    oneTimeSecret: boolean | undefined;
  };
}
