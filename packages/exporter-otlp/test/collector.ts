import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

type OtlpAnyValue = {
  stringValue?: string;
  intValue?: number | string;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: OtlpAnyValue[] };
  kvlistValue?: { values?: { key: string; value: OtlpAnyValue }[] };
};

/** Decode an OTLP JSON AnyValue into plain JSON. */
export function anyValue(v: OtlpAnyValue | undefined): unknown {
  if (!v) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(anyValue);
  if (v.kvlistValue) return attributes(v.kvlistValue.values);
  return undefined;
}

export function attributes(list: { key: string; value: OtlpAnyValue }[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of list ?? []) out[kv.key] = anyValue(kv.value);
  return out;
}

/** Nanoseconds (as OTLP JSON encodes them: a decimal string, a number, or {low, high}) to epoch ms. */
function nanosToMs(v: unknown): number {
  if (typeof v === 'string') return Number(BigInt(v) / 1000n) / 1000;
  if (typeof v === 'number') return v / 1e6;
  if (v && typeof v === 'object' && 'low' in v && 'high' in v) {
    const { low, high } = v as { low: number; high: number };
    return Number(((BigInt(high >>> 0) << 32n) | BigInt(low >>> 0)) / 1000n) / 1000;
  }
  return Number.NaN;
}

export interface DecodedRecord {
  resource: Record<string, unknown>;
  scope: { name?: string; version?: string };
  eventName: string | undefined;
  timeMs: number;
  observedTimeMs: number;
  severityNumber: number | undefined;
  severityText: string | undefined;
  body: unknown;
  attributes: Record<string, unknown>;
}

/** An OTLP/HTTP JSON logs endpoint on 127.0.0.1 that decodes every record it accepts. */
export class Collector {
  readonly records: DecodedRecord[] = [];
  requests = 0;
  rejected = 0;
  /** Answer each request this many ms late. */
  delayMs = 0;
  /** Requests that came gzip-compressed. */
  gzipped = 0;
  contentTypes = new Set<string>();
  /** Log records of each accepted request, in the order they were answered. */
  readonly batches: number[] = [];
  /** Requests received and not yet answered; the most at once. */
  inFlight = 0;
  maxInFlight = 0;
  /** Status to answer request `n` (1-based) with; 200 by default. */
  status: (n: number) => number = () => 200;
  private server: Server | undefined;
  port = 0;

  async listen(): Promise<string> {
    const server = createServer((req, res) => {
      req.on('error', () => {});
      res.on('error', () => {});
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      res.on('close', () => this.inFlight--);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (this.delayMs > 0) setTimeout(() => this.answer(req, res, chunks), this.delayMs);
        else this.answer(req, res, chunks);
      });
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    this.port = (server.address() as AddressInfo).port;
    return `http://127.0.0.1:${this.port}/v1/logs`;
  }

  private answer(req: IncomingMessage, res: ServerResponse, chunks: Buffer[]): void {
    {
      const n = ++this.requests;
      this.contentTypes.add(String(req.headers['content-type']));
      const status = req.url === '/v1/logs' && req.method === 'POST' ? this.status(n) : 404;
      if (status !== 200) {
        this.rejected++;
        res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
        return;
      }
      const raw = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') this.gzipped++;
      const body = JSON.parse((req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8')) as {
        resourceLogs: {
          resource?: { attributes?: { key: string; value: OtlpAnyValue }[] };
          scopeLogs: {
            scope?: { name?: string; version?: string };
            logRecords: {
              timeUnixNano?: unknown;
              observedTimeUnixNano?: unknown;
              severityNumber?: number;
              severityText?: string;
              body?: OtlpAnyValue;
              attributes?: { key: string; value: OtlpAnyValue }[];
              eventName?: string;
            }[];
          }[];
        }[];
      };
      const before = this.records.length;
      for (const rl of body.resourceLogs) {
        const resource = attributes(rl.resource?.attributes);
        for (const sl of rl.scopeLogs) {
          for (const lr of sl.logRecords) {
            this.records.push({
              resource,
              scope: sl.scope ?? {},
              eventName: lr.eventName,
              timeMs: nanosToMs(lr.timeUnixNano),
              observedTimeMs: nanosToMs(lr.observedTimeUnixNano),
              severityNumber: lr.severityNumber,
              severityText: lr.severityText,
              body: anyValue(lr.body),
              attributes: attributes(lr.attributes),
            });
          }
        }
      }
      this.batches.push(this.records.length - before);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    }
  }

  ids(): string[] {
    return this.records.map((r) => r.attributes['outflow.alert.id'] as string);
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}
