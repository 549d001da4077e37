import { quoteIdent } from '@rowguard/kernel';
import { keyset } from './pagination.js';

type Row = Record<string, unknown>;

export interface Statement {
  text: string;
  values: unknown[];
}

/**
 * The statements of one resource's routes, as text and bind values. The table and column
 * names come from the resource's definition (quoted here); every value is a bind parameter.
 * Row-level security scopes every statement; each also names its tenant ($1), so that Citus
 * routes it to the one shard that holds the tenant's rows (and `for update` is allowed there).
 */
export class ResourceSql {
  private readonly table: string;
  /** The columns read: the public fields, and the version when the table has one. */
  readonly columns: string;
  // Built once: a text built per request is a new string, hashed again by every lookup on the
  // way (statement guard, statement cache).
  private readonly readById: string;
  private readonly lockById: string;

  constructor(table: string, fields: readonly string[], versioned: boolean) {
    this.table = quoteIdent(table);
    this.columns = [...fields, ...(versioned ? ['version'] : [])].map(quoteIdent).join(', ');
    this.readById = `select ${this.columns} from ${this.table} where tenant_id = $1 and id = $2`;
    this.lockById = `${this.readById} for update`;
  }

  /** One row by id; `forUpdate` locks it until the transaction ends. */
  byId(tenantId: string, id: string, { forUpdate = false } = {}): Statement {
    return { text: forUpdate ? this.lockById : this.readById, values: [tenantId, id] };
  }

  /** A page, newest first: the given conditions (each with one bind value) and the cursor. */
  list(tenantId: string, conditions: readonly { sql: (param: string) => string; value: unknown }[], page: { limit: number; cursor?: string }): Statement {
    const values: unknown[] = [tenantId];
    const where = ['tenant_id = $1'];
    for (const c of conditions) {
      values.push(c.value);
      where.push(c.sql(`$${values.length}`));
    }
    const { after, column, orderAndLimit } = keyset(page, values);
    if (after) where.push(after);
    return { text: `select ${this.columns}, ${column} from ${this.table} where ${where.join(' and ')} ${orderAndLimit}`, values };
  }

  /** An insert of `values` for the tenant, returning the row. */
  insert(tenantId: string, values: Row): Statement {
    const keys = Object.keys(values);
    return {
      text: `insert into ${this.table} (tenant_id${keys.map((k) => `, ${quoteIdent(k)}`).join('')}) values ($1${keys.map((_, i) => `, $${i + 2}`).join('')}) returning ${this.columns}`,
      values: [tenantId, ...keys.map((k) => values[k])],
    };
  }

  /** An update of `values` on one row, returning it. */
  update(tenantId: string, id: string, values: Row): Statement {
    const keys = Object.keys(values);
    return {
      text: `update ${this.table} set ${keys.map((k, i) => `${quoteIdent(k)} = $${i + 3}`).join(', ')} where tenant_id = $1 and id = $2 returning ${this.columns}`,
      values: [tenantId, id, ...keys.map((k) => values[k])],
    };
  }

  /** The delete of one row, or the resource's own statement for it (API keys are revoked): $1 the tenant, $2 the id. */
  delete(tenantId: string, id: string, replacement?: string): Statement {
    return { text: replacement ?? `delete from ${this.table} where tenant_id = $1 and id = $2`, values: [tenantId, id] };
  }
}
