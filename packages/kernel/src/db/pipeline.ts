import pg from 'pg';

/** One statement of a pipeline. `name` set ⇒ a server-side prepared statement. */
export interface PipelineStatement {
  text: string;
  values?: readonly unknown[];
  name?: string;
  /** Send Parse (false when `name` is already prepared on this connection). */
  parse?: boolean;
  /** Send Close for `name` first: its state on the server is unknown after an earlier error. */
  closeFirst?: boolean;
  /** Collect the rows and command tag of this statement. */
  wantResult?: boolean;
  /** How its rows are built (as arrays, with other type parsers); the default: objects, the connection's parsers. */
  shape?: RowShape;
}

/** How a statement's rows are built, as node-postgres's query config has it. */
export interface RowShape {
  /**
   * 'array': each row as an array of its values in column order, so a join whose columns
   * share a name (`id`, `name`) keeps them all. What ORMs ask for.
   */
  rowMode?: 'array';
  /** Type parsers for this statement's values, instead of the connection's (`pg.types`). */
  types?: TypeParsers;
}

export interface PipelineOutcome {
  results: pg.QueryResult[];
}

type Connection = {
  stream: { cork?: () => void; uncork?: () => void };
  parse(msg: { text: string; name?: string }): void;
  bind(msg: { statement?: string; values: unknown[] }): void;
  describe(msg: { type: 'P' | 'S'; name?: string }): void;
  execute(msg: { portal?: string; rows?: number }): void;
  close(msg: { type: 'P' | 'S'; name?: string }): void;
  sync(): void;
  sendCopyFail(message: string): void;
};

type ResultBuilder = pg.QueryResult & {
  addFields(fields: unknown[]): void;
  parseRow(fields: unknown[]): unknown;
  addRow(row: unknown): void;
  addCommandComplete(message: { text: string }): void;
};

export type TypeParsers = { getTypeParser(oid: number, format?: string): unknown };

// node-postgres's own result type, parsing rows with the connection's type parsers.
const newResult = (shape: RowShape | undefined, types?: TypeParsers) =>
  new (pg.Result as unknown as new (rowMode: 'array' | undefined, types?: TypeParsers) => ResultBuilder)(shape?.rowMode, shape?.types ?? types);

// pg converts JS values (Dates, arrays, Buffers, objects) to wire text with this function.
const prepareValue = (pg as unknown as { utils: { prepareValue(value: unknown): unknown } }).utils.prepareValue;

/**
 * Several statements written to the socket at once and closed by a single Sync: one network
 * round trip however many statements it carries. node-postgres's own queries end each
 * statement with a Sync, which would cost one round trip per statement.
 *
 * It is a node-postgres "submittable": `client.query(pipeline)` queues it like any query.
 */
export class Pipeline {
  readonly done: Promise<PipelineOutcome>;
  private readonly statements: readonly PipelineStatement[];
  private readonly wireValues: unknown[][] = [];
  private readonly results: pg.QueryResult[] = [];
  private current = 0;
  private currentResult: ResultBuilder | null = null;
  private rowError: unknown = null;
  private resolve!: (outcome: PipelineOutcome) => void;
  private reject!: (error: unknown) => void;

  private readonly closeNames: readonly string[];

  private readonly types: TypeParsers | undefined;

  /**
   * `closeNames`: prepared statements to drop from the server before the statements run.
   * `types`: the connection's type parsers (a pg client), so pool-level `types` apply.
   */
  constructor(statements: readonly PipelineStatement[], closeNames: readonly string[] = [], types?: TypeParsers) {
    this.statements = statements;
    this.closeNames = closeNames;
    this.types = types;
    this.done = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  /** Called by node-postgres when the connection is ready for this pipeline. */
  submit(connection: Connection): Error | null {
    try {
      // Convert every value before writing a byte, so a bad value never leaves half a pipeline on the wire.
      for (const statement of this.statements) {
        this.wireValues.push((statement.values ?? []).map((value) => prepareValue(value)));
      }
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
    connection.stream.cork?.();
    try {
      for (const name of this.closeNames) connection.close({ type: 'S', name });
      this.statements.forEach((statement, index) => {
        const name = statement.name ?? '';
        if (statement.closeFirst) connection.close({ type: 'S', name });
        if (statement.parse !== false) connection.parse({ text: statement.text, name });
        connection.bind({ statement: name, values: this.wireValues[index] ?? [] });
        if (statement.wantResult) connection.describe({ type: 'P', name: '' });
        connection.execute({ portal: '', rows: 0 });
      });
      connection.sync();
    } finally {
      connection.stream.uncork?.();
    }
    return null;
  }

  handleRowDescription(message: { fields: unknown[] }): void {
    this.currentResult = newResult(this.statements[this.current]?.shape, this.types);
    this.currentResult.addFields(message.fields);
  }

  handleDataRow(message: { fields: unknown[] }): void {
    if (this.rowError || !this.currentResult) return;
    const result = this.currentResult;
    try {
      result.addRow(result.parseRow(message.fields));
    } catch (error) {
      this.rowError = error;
    }
  }

  handleCommandComplete(message: { text: string }): void {
    const statement = this.statements[this.current];
    if (statement?.wantResult) {
      const result = this.currentResult ?? newResult(statement.shape, this.types);
      result.addCommandComplete(message);
      this.results.push(result);
    }
    this.currentResult = null;
    this.current += 1;
  }

  handleEmptyQuery(): void {
    this.current += 1;
  }

  handlePortalSuspended(): void {
    // Never requested: every Execute asks for all rows.
  }

  handleCopyInResponse(connection: Connection): void {
    connection.sendCopyFail('COPY is not supported in a tenant transaction');
  }

  handleCopyData(): void {}

  /**
   * node-postgres forgets the active query when an error arrives and does not report the
   * following ReadyForQuery to it, so an error settles the pipeline here. The client still
   * waits for that ReadyForQuery before it sends anything else on the connection.
   */
  handleError(error: unknown): void {
    this.reject(error);
  }

  handleReadyForQuery(): void {
    if (this.rowError) this.reject(this.rowError);
    else this.resolve({ results: this.results });
  }
}
