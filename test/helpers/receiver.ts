import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';

export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  /** performance.now() when the request had arrived. */
  at: number;
}

/**
 * A local webhook receiver. `respond` decides each answer: a status, 'hang' to never answer,
 * or 'dribble' to answer 200 and then send one byte of body every `dribbleMs`, never ending.
 */
export class Receiver {
  readonly received: Received[] = [];
  respond: (request: Received, index: number) => number | 'hang' | 'dribble' = () => 204;
  dribbleMs = 500;
  /** How long each connection stayed open, as the server saw it, in ms: filled in as they close. */
  readonly connectionLifetimes: number[] = [];
  /** Most connections open at once so far. */
  maxOpen = 0;
  private open = 0;
  private server: Server | null = null;
  private waiters: (() => void)[] = [];

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        const request = { headers: req.headers, body, at: performance.now() };
        const answer = this.respond(request, this.received.length);
        this.received.push(request);
        this.waiters.splice(0).forEach((wake) => wake());
        if (answer === 'dribble') {
          res.writeHead(200, { 'content-type': 'text/plain' });
          const timer = setInterval(() => res.write('.'), this.dribbleMs);
          res.on('close', () => clearInterval(timer));
        } else if (answer !== 'hang') {
          res.writeHead(answer).end();
        }
      });
    });
    this.server.on('connection', (socket) => {
      const opened = performance.now();
      this.maxOpen = Math.max(this.maxOpen, ++this.open);
      socket.on('close', () => {
        this.open--;
        this.connectionLifetimes.push(performance.now() - opened);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}/hook`;
  }

  /** Connections open right now. */
  openConnections(): number {
    return this.open;
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

/**
 * A destination that accepts connections and never answers: a host that has gone dark. Every
 * delivery to it lasts until the sender gives up.
 */
export class BlackHole {
  /** Connections accepted so far. */
  accepted = 0;
  /** Most connections open at once so far. */
  maxOpen = 0;
  /** Connections open now. */
  get open(): number {
    return this.sockets.size;
  }

  private server: TcpServer | null = null;
  private readonly sockets = new Set<Socket>();

  async start(): Promise<string> {
    this.server = createTcpServer((socket) => {
      this.accepted++;
      this.sockets.add(socket);
      this.maxOpen = Math.max(this.maxOpen, this.sockets.size);
      socket.on('error', () => undefined);
      socket.resume(); // read and drop the request: a socket never read never sees its peer close
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}/hook`;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
