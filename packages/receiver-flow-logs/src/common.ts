import type { DecodeMeta, DecodeSink } from '@outflow/core';

/** Options every flow decoder takes. */
export interface FlowDecoderOptions {
  /**
   * CIDR ranges of the monitored networks, for deriving direction when the
   * record does not state it. Default: RFC 1918, RFC 6598 and fc00::/7.
   */
  internalCidrs?: readonly string[];
  /**
   * Called for well-formed records that are not flows and produce no event
   * (VPC `NODATA`/`SKIPDATA`, Hubble L7 or lost-events records, ...). The
   * receivers count them as `dropped` with this reason. Never called for errors.
   */
  onSkip?(reason: string): void;
}

export type FlowSink = DecodeSink;

/** `path:line`, or `path`, or undefined. */
export function lineLocation(meta: DecodeMeta, line: number | undefined): string | undefined {
  if (meta.location === undefined) return undefined;
  return line === undefined ? meta.location : `${meta.location}:${line}`;
}

/**
 * `DecodeError.location`: where a bad record sits inside the input, relative
 * to it (transports prefix their own `path:line`): the line number when it is
 * not the input's own line, then `suffix` (`records[3].flowTuples[1]`, `[2]`).
 * Undefined when the record is the input itself.
 */
export function within(meta: DecodeMeta, line: number | undefined, suffix = ''): string | undefined {
  const l = line !== undefined && line !== meta.line ? String(line) : '';
  const d = l + suffix;
  return d.length > 0 ? d : undefined;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A string value, or undefined for anything else (absent, null, wrong type, empty). */
export function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/**
 * A non-negative integer from a JSON number or decimal string (int64 values
 * are strings in protobuf JSON). Returns undefined when absent, NaN when
 * present but not a safe non-negative integer.
 */
export function count(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : Number.NaN;
  if (typeof v === 'string') {
    if (v.length === 0 || v.length > 16) return Number.NaN;
    for (let i = 0; i < v.length; i++) {
      const c = v.charCodeAt(i);
      if (c < 48 || c > 57) return Number.NaN;
    }
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : Number.NaN;
  }
  return Number.NaN;
}

/** A port from a JSON value: undefined when absent, NaN when invalid. */
export function port(v: unknown): number | undefined {
  const n = count(v);
  if (n === undefined || Number.isNaN(n)) return n;
  return n <= 65535 ? n : Number.NaN;
}

/** Epoch ms from an RFC 3339 string; NaN when present but unparsable, undefined when absent. */
export function rfc3339(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') return Number.NaN;
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : Number.NaN;
}

/**
 * Parse a JSON input that is either one JSON value or several JSON values one
 * per line (JSON lines), calling `each` with every value and the 0-based line
 * offset it came from. Unparsable lines go to `sink.error` as `invalid_json`.
 */
export function eachJsonValue(input: string, sink: FlowSink, meta: DecodeMeta, each: (value: unknown, lineOffset: number, text: string) => void): void {
  let value: unknown;
  try {
    value = JSON.parse(input);
  } catch (err) {
    if (input.indexOf('\n') < 0) {
      if (input.trim().length === 0) return;
      sink.error({ reason: 'invalid_json', message: errorMessage(err), raw: input });
      return;
    }
    const lines = input.split('\n');
    const base = meta.line ?? 1;
    for (let i = 0; i < lines.length; i++) {
      let line = lines[i] as string;
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (line.trim().length === 0) continue;
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch (e) {
        sink.error({ reason: 'invalid_json', message: errorMessage(e), raw: line, location: within(meta, base + i) });
        continue;
      }
      each(v, i, line);
    }
    return;
  }
  each(value, 0, input);
}
