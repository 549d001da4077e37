import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A local webhook receiver. `respond` decides each answer: a status, or 'hang' to never answer. */
export class Receiver {
  readonly received: Received[] = [];
  respond: (request: Received, index: number) => number | 'hang' = () => 204;
  private server: Server | null = null;
  private waiters: (() => void)[] = [];

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        const request = { headers: req.headers, body };
        const answer = this.respond(request, this.received.length);
        this.received.push(request);
        this.waiters.splice(0).forEach((wake) => wake());
        if (answer !== 'hang') res.writeHead(answer).end();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}/hook`;
  }

  /** Resolves once `count` requests have arrived (fails after `ms`). */
  async waitFor(count: number, ms = 20_000): Promise<Received[]> {
    const deadline = Date.now() + ms;
    while (this.received.length < count) {
      if (Date.now() > deadline) throw new Error(`expected ${count} requests, got ${this.received.length}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
    return this.received;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
