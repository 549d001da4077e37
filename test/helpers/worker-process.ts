// A worker in its own process, for the test that kills one mid-delivery.
import { pino } from 'pino';
import { readContextKey } from '../../packages/kernel/src/db/context-proof.js';
import { createKernel } from '../../packages/kernel/src/db/kernel.js';
import { createPool } from '../../packages/kernel/src/db/pool.js';
import { startWorker } from '../../src/jobs/worker.js';
import { WORKER_SETTINGS } from './worker-settings.js';

const { ROWGUARD_TEST_OWNER_URL: ownerUrl, ROWGUARD_TEST_APP_URL: appUrl, ROWGUARD_TEST_SYSTEM_ROLE: systemRole } = process.env;
const appPool = createPool({ connectionString: appUrl!, max: 2, applicationName: 'child worker' });
const ownerPool = createPool({ connectionString: ownerUrl!, max: 2, applicationName: 'child worker' });
const kernel = createKernel({ appPool, systemPool: ownerPool, systemRole: systemRole!, contextKey: await readContextKey(ownerPool) });
await startWorker({ kernel, ownerPool, ownerUrl: ownerUrl!, log: pino({ level: 'silent' }), ...WORKER_SETTINGS });
process.stdout.write('ready\n');
