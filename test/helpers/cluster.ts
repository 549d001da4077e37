/** Role names used by the tests, distinct from the service's defaults on a shared server. */
export const TEST_ROLES = Object.freeze({
  owner: 'rowguard_test_owner',
  app: 'rowguard_test_app',
  system: 'rowguard_test_system',
});

export interface TestCluster {
  superuserUrl: string;
  /** Migrated template database to clone. */
  template: string;
  /** Password of the test owner and app roles (ignored by trust authentication). */
  password: string;
  serverVersionNum: number;
}

/** A Citus coordinator (ROWGUARD_TEST_CITUS_URL, a superuser URL) for the `citus` project. */
export interface TestCitus {
  superuserUrl: string;
  password: string;
}
