import { fileURLToPath } from 'node:url';

/** The service's own migrations (its tables, policies and functions), shipped beside this module. */
export const SERVICE_MIGRATIONS = fileURLToPath(new URL('./migrations/', import.meta.url));
