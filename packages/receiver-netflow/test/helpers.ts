import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DecodeError, NetworkFlowEvent } from '@outflow/core';
import type { DecodeSummary, NetflowDecoder } from '../src/decoder.js';

export const TESTDATA = fileURLToPath(new URL('../testdata/', import.meta.url));

/** Fixed ingest time for golden output: 2026-11-27T20:00:00Z (after the captures). */
export const OBSERVED = Date.UTC(2026, 10, 27, 20);

/** The datagram files of a softflowd capture, in order. */
export function captureFiles(name: string): string[] {
  const dir = join(TESTDATA, 'softflowd', name);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.bin'))
    .sort()
    .map((f) => join(dir, f));
}

export function readCapture(name: string): Uint8Array[] {
  return captureFiles(name).map((f) => new Uint8Array(readFileSync(f)));
}

export interface SerializedError {
  reason: string;
  message: string;
  location?: string;
  raw: string;
}

export function serializeError(e: DecodeError): SerializedError {
  return {
    reason: e.reason,
    message: e.message,
    ...(e.location !== undefined ? { location: e.location } : {}),
    raw: typeof e.raw === 'string' ? e.raw : Buffer.from(e.raw).toString('base64'),
  };
}

export interface Collected {
  events: NetworkFlowEvent[];
  errors: SerializedError[];
  summaries: DecodeSummary[];
  dropped: Record<string, number>;
}

/** Decode datagrams in order (observed one second apart), then let the pending buffer expire. */
export function decodeDatagrams(
  decoder: NetflowDecoder,
  datagrams: readonly Uint8Array[],
  options: { exporter?: string; location?: string; expireAfterMs?: number } = {},
): Collected {
  const out: Collected = { events: [], errors: [], summaries: [], dropped: {} };
  const sink = {
    event: (e: NetworkFlowEvent) => out.events.push(e),
    error: (e: DecodeError) => out.errors.push(serializeError(e)),
    dropped: (reason: string, n: number) => {
      out.dropped[reason] = (out.dropped[reason] ?? 0) + n;
    },
  };
  const exporter = options.exporter ?? '127.0.0.1';
  datagrams.forEach((d, i) => {
    out.summaries.push(decoder.decode(d, exporter, sink, { observedTime: OBSERVED + i * 1000, location: options.location ?? `udp://${exporter}:40000` }));
  });
  if (options.expireAfterMs !== undefined) decoder.expire(OBSERVED + datagrams.length * 1000 + options.expireAfterMs, sink);
  return out;
}

/** Plain JSON copy (drops undefined, as the golden files do). */
export function json<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
