import { createConnection, createServer, type Server } from 'node:net';

/** What clients sent through the proxy, by kind of frontend message. */
export interface ProtocolCounts {
  /** Statements executed: Execute (extended protocol) plus simple Query messages. */
  statements: number;
  /** Times a client waited for the server: Sync, Flush and simple Query messages. */
  roundTrips: number;
  /** Socket writes that carried at least one message. */
  writes: number;
}

/** A statement a client executed, with its bind values: text, bytes for binary ones (a bytea sent as a Buffer), null. */
export interface ExecutedStatement {
  text: string;
  values: (string | Buffer | null)[];
}

/**
 * A TCP proxy in front of PostgreSQL that reads the frontend protocol and counts messages,
 * so tests can assert statements and round trips per request, and keeps the statements
 * executed with their values. No TLS (local tests only).
 */
export class ProtocolCounter {
  private counts: ProtocolCounts = { statements: 0, roundTrips: 0, writes: 0 };
  private executed: ExecutedStatement[] = [];
  private server: Server | null = null;

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<number> {
    this.server = createServer((client) => {
      const upstream = createConnection(this.target);
      let buffer = Buffer.alloc(0);
      let started = false;
      // Prepared statements are per connection: name → text, and the portal bound last.
      const prepared = new Map<string, string>();
      let bound: ExecutedStatement | null = null;
      client.on('data', (chunk: Buffer) => {
        upstream.write(chunk);
        buffer = Buffer.concat([buffer, chunk]);
        let counted = false;
        for (;;) {
          if (!started) {
            if (buffer.length < 4) break;
            const length = buffer.readInt32BE(0);
            if (buffer.length < length) break;
            buffer = buffer.subarray(length); // startup message: no type byte
            started = true;
            continue;
          }
          if (buffer.length < 5) break;
          const length = buffer.readInt32BE(1);
          if (buffer.length < length + 1) break;
          const type = String.fromCharCode(buffer[0]!);
          const body = buffer.subarray(5, length + 1);
          if (type === 'P') {
            const [name, text] = cStrings(body, 2);
            prepared.set(name!, text!);
          } else if (type === 'B') {
            bound = bindOf(body, prepared);
          } else if (type === 'E' && bound) {
            this.executed.push(bound);
          } else if (type === 'Q') {
            this.executed.push({ text: cStrings(body, 1)[0]!, values: [] });
          }
          if (type === 'E' || type === 'Q') this.counts.statements += 1;
          if (type === 'S' || type === 'H' || type === 'Q') this.counts.roundTrips += 1;
          counted = true;
          buffer = buffer.subarray(length + 1);
        }
        if (counted) this.counts.writes += 1;
      });
      upstream.pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as { port: number }).port;
  }

  /** Counts since the last call. */
  take(): ProtocolCounts {
    const counts = this.counts;
    this.counts = { statements: 0, roundTrips: 0, writes: 0 };
    return counts;
  }

  /** The statements executed since the last call. */
  takeStatements(): ExecutedStatement[] {
    const executed = this.executed;
    this.executed = [];
    return executed;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** The first `count` NUL-terminated strings of a message body. */
function cStrings(body: Buffer, count: number): string[] {
  const strings: string[] = [];
  let at = 0;
  while (strings.length < count) {
    const end = body.indexOf(0, at);
    strings.push(body.toString('utf8', at, end));
    at = end + 1;
  }
  return strings;
}

// Bind: portal, statement, format codes (none: all text; one: for all), then each value as
// length and bytes.
function bindOf(body: Buffer, prepared: Map<string, string>): ExecutedStatement {
  const [portal, statement] = cStrings(body, 2);
  let at = Buffer.byteLength(portal!) + Buffer.byteLength(statement!) + 2;
  const formats: number[] = [];
  for (let i = body.readInt16BE(at), f = 0; f < i; f++) formats.push(body.readInt16BE(at + 2 + f * 2));
  at += 2 + formats.length * 2;
  const count = body.readInt16BE(at);
  at += 2;
  const values: (string | Buffer | null)[] = [];
  for (let i = 0; i < count; i++) {
    const length = body.readInt32BE(at);
    at += 4;
    const binary = (formats.length === 1 ? formats[0] : formats[i]) === 1;
    values.push(length < 0 ? null : binary ? Buffer.from(body.subarray(at, at + length)) : body.toString('utf8', at, at + length));
    if (length > 0) at += length;
  }
  return { text: prepared.get(statement!) ?? '', values };
}
