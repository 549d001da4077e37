import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { quoteIdent } from '@rowguard/kernel';

/** Where a database is, for each role that uses it. */
export interface DatabaseUrls {
  /** A superuser of the cluster: creates and drops the copies. */
  superuserUrl: string;
  /** The owner of the template database; it owns the copies. */
  ownerUrl: string;
  /** The app role: what request traffic uses, bound by the policies. */
  appUrl: string;
}

/** A copy of the template for one test file, reached through the same roles. */
export interface ClonedDatabase extends DatabaseUrls {
  /** The copy's name: the template's, a `_`, and 10 random hex digits. */
  name: string;
  /** Drops the copy, closing whatever is still connected to it. */
  drop(): Promise<void>;
}

const SOURCE_BUSY = '55006';

/**
 * A database of its own for one test file: a copy of the migrated database at `template.ownerUrl`
 * (CREATE DATABASE … TEMPLATE, a file copy that takes milliseconds where migrating again takes
 * seconds), owned by the same owner, with the same database-level grants (which PostgreSQL does
 * not copy). Nothing may be connected to the template while it is copied: migrate it in the
 * global setup, close those connections, then clone in each file.
 *
 * @example
 * ```ts
 * // vitest: globalSetup starts PostgreSQL and migrates; each file:
 * const db = await cloneDatabase(inject('database'));
 * afterAll(() => db.drop());
 * ```
 */
export async function cloneDatabase(template: DatabaseUrls): Promise<ClonedDatabase> {
  const source = databaseOf(template.ownerUrl);
  const name = `${source}_${randomBytes(5).toString('hex')}`;
  const owner = decodeURIComponent(new URL(template.ownerUrl).username);
  await asSuperuser(template.superuserUrl, async (admin) => {
    for (let attempt = 0; ; attempt++) {
      try {
        await admin.query(`create database ${quoteIdent(name)} template ${quoteIdent(source)} owner ${quoteIdent(owner)}`);
        break;
      } catch (error) {
        // Another file's connection to the template may just be closing.
        if ((error as { code?: string }).code !== SOURCE_BUSY || attempt === 50) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    const { rows } = await admin.query<{ grantee: string | null; privilege: string }>(
      `select case when a.grantee = 0 then null else a.grantee::regrole::text end as grantee, a.privilege_type as privilege
       from pg_database d, aclexplode(d.datacl) a where d.datname = $1`,
      [source],
    );
    if (rows.length > 0) {
      await admin.query(`revoke all on database ${quoteIdent(name)} from public`);
      for (const { grantee, privilege } of rows) await admin.query(`grant ${privilege} on database ${quoteIdent(name)} to ${grantee ?? 'public'}`);
    }
  });
  const rename = (url: string) => Object.assign(new URL(url), { pathname: `/${encodeURIComponent(name)}` }).href;
  return {
    name,
    superuserUrl: rename(template.superuserUrl),
    ownerUrl: rename(template.ownerUrl),
    appUrl: rename(template.appUrl),
    drop: () => asSuperuser(template.superuserUrl, (admin) => admin.query(`drop database if exists ${quoteIdent(name)} with (force)`)).then(() => undefined),
  };
}

function databaseOf(url: string): string {
  return decodeURIComponent(new URL(url).pathname.slice(1));
}

async function asSuperuser<T>(url: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'rowguard testing' });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}
