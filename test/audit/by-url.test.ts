import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audit, probe } from '@rowguard/audit';
import { TEST_ROLES } from '../helpers/cluster.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.close());

describe('audit and probe by URL', () => {
  it('audit returns the typed report of the database at the URL', async () => {
    const report = await audit(db.superuserUrl, { appRole: TEST_ROLES.app });
    expect(report.appRole).toBe(TEST_ROLES.app);
    expect(report.tenantTables).toBeGreaterThan(5);
    expect(report.summary.error).toBe(0);
  });

  it('an unreachable database is DATABASE_UNREACHABLE, never an empty report', async () => {
    await expect(audit('postgres://nobody@127.0.0.1:1/none')).rejects.toMatchObject({ code: 'DATABASE_UNREACHABLE', message: 'could not reach PostgreSQL at 127.0.0.1:1: connection refused' });
    await expect(probe({ ownerUrl: db.superuserUrl, appUrl: 'postgres://nobody@127.0.0.1:1/none' })).rejects.toMatchObject({ code: 'DATABASE_UNREACHABLE' });
  });

  it('a probe of tables without two tenants’ rows is PROBE_INCOMPLETE', async () => {
    await expect(probe({ ownerUrl: db.superuserUrl, appUrl: db.appUrl })).rejects.toMatchObject({ code: 'PROBE_INCOMPLETE' });
  });
});
