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

/**
 * A TCP proxy in front of PostgreSQL that reads the frontend protocol and counts messages,
 * so tests can assert statements and round trips per request. No TLS (local tests only).
 */
export class ProtocolCounter {
  private counts: ProtocolCounts = { statements: 0, roundTrips: 0, writes: 0 };
  private server: Server | null = null;

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<number> {
    this.server = createServer((client) => {
      const upstream = createConnection(this.target);
      let buffer = Buffer.alloc(0);
      let started = false;
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

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
