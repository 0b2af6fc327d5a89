import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  n: number;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  json: unknown;
  key: string | undefined;
}

/** What the server does with request `n` (1-based): answer with a status, delay, or drop the connection. */
export type Behaviour = (
  n: number,
  req: { key: string | undefined; body: string },
) => { status?: number; headers?: Record<string, string>; delayMs?: number; destroy?: boolean };

/**
 * A webhook receiver on 127.0.0.1 that records every request and dedups by
 * idempotency key, as a well-behaved downstream would: `processed` holds each
 * key once, `requests` every attempt.
 */
export class WebhookServer {
  readonly requests: ReceivedRequest[] = [];
  /** Keys of requests answered 2xx, in order of first success. */
  readonly processed = new Map<string, ReceivedRequest>();
  /** Requests whose key had already been processed (duplicates a server must absorb). */
  duplicates = 0;
  private server: Server | undefined;
  port = 0;
  behaviour: Behaviour = () => ({ status: 200 });

  constructor(private readonly keyHeader = 'idempotency-key') {}

  async listen(port = 0): Promise<number> {
    const server = createServer((req, res) => {
      req.on('error', () => {});
      res.on('error', () => {});
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const key = req.headers[this.keyHeader] as string | undefined;
        let json: unknown;
        try {
          json = JSON.parse(body);
        } catch {
          json = undefined;
        }
        const record: ReceivedRequest = { n: this.requests.length + 1, method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, json, key };
        this.requests.push(record);
        const b = this.behaviour(record.n, { key, body });
        if (b.destroy) {
          req.socket.destroy();
          return;
        }
        const status = b.status ?? 200;
        const answer = () => {
          if (status >= 200 && status < 300 && key !== undefined) {
            if (this.processed.has(key)) this.duplicates++;
            else this.processed.set(key, record);
          }
          if (!res.destroyed) res.writeHead(status, { 'content-type': 'text/plain', ...b.headers }).end(status < 300 ? 'ok' : `status ${status}`);
        };
        if (b.delayMs) setTimeout(answer, b.delayMs);
        else answer();
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    return this.port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}
