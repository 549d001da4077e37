import { describe, expect, it } from 'vitest';

// .ci/run builds Citus, starts a cluster and sets ROWGUARD_REQUIRE_CITUS, so CI never gets here.
describe('Citus', () => {
  const required = process.env.ROWGUARD_REQUIRE_CITUS === '1';
  it.skipIf(!required)('needs a cluster: set ROWGUARD_TEST_CITUS_URL to a coordinator (../shared/citus/citus-cluster.sh start)', () => {
    expect(process.env.ROWGUARD_TEST_CITUS_URL, 'ROWGUARD_REQUIRE_CITUS is set, so the Citus suites must run').toBeDefined();
  });
});
