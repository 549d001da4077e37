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
 * The tenant is never a condition: row-level security scopes every statement.
 */
export class ResourceSql {
  private readonly table: string;
  /** The columns read: the public fields, and the version when the table has one. */
  readonly columns: string;

  constructor(table: string, fields: readonly string[], versioned: boolean) {
    this.table = quoteIdent(table);
    this.columns = [...fields, ...(versioned ? ['version'] : [])].map(quoteIdent).join(', ');
  }

  /** One row by id; `forUpdate` locks it until the transaction ends. */
  byId(id: string, { forUpdate = false } = {}): Statement {
    return { text: `select ${this.columns} from ${this.table} where id = $1${forUpdate ? ' for update' : ''}`, values: [id] };
  }

  /** A page, newest first: the given conditions (each with one bind value) and the cursor. */
  list(conditions: readonly { sql: (param: string) => string; value: unknown }[], page: { limit: number; cursor?: string }): Statement {
    const values: unknown[] = [];
    const where = conditions.map((c) => {
      values.push(c.value);
      return c.sql(`$${values.length}`);
    });
    const { after, column, orderAndLimit } = keyset(page, values);
    if (after) where.push(after);
    return { text: `select ${this.columns}, ${column} from ${this.table} ${where.length ? `where ${where.join(' and ')} ` : ''}${orderAndLimit}`, values };
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
  update(id: string, values: Row): Statement {
    const keys = Object.keys(values);
    return { text: `update ${this.table} set ${keys.map((k, i) => `${quoteIdent(k)} = $${i + 2}`).join(', ')} where id = $1 returning ${this.columns}`, values: [id, ...keys.map((k) => values[k])] };
  }

  /** The delete of one row, or the resource's own statement for it (API keys are revoked). */
  delete(id: string, replacement?: string): Statement {
    return { text: replacement ?? `delete from ${this.table} where id = $1`, values: [id] };
  }
}
