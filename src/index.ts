/**
 * The `rowguard` package is the service and its CLI. As a library it re-exports
 * @rowguard/kernel and the embedded PostgreSQL of @rowguard/testing, and adds the service's
 * own migrations; a team that wants only the kernel installs @rowguard/kernel.
 */
export * from '@rowguard/kernel';
export { startEmbeddedPostgres, type EmbeddedDatabase, type EmbeddedOptions } from '@rowguard/testing';
export { SERVICE_MIGRATIONS } from './service-migrations.js';
