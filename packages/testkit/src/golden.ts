import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { DecodeError, Decoder, OutflowEvent } from '@outflow/core';

/** What `decodeAs` collected: the events, and the errors with the line they were on (for line framing). */
export interface Decoded {
  events: OutflowEvent[];
  errors: (DecodeError & { line?: number })[];
}

/**
 * Decode `text` the way the file transport hands it over: one call per line
 * (`lines`, with 1-based line numbers; a last empty line is dropped) or one
 * call for the whole text (`document`).
 */
export function decodeAs(decoder: Decoder<string>, text: string, framing: 'lines' | 'document', meta: { location: string; observedTime: number }): Decoded {
  const events: OutflowEvent[] = [];
  const errors: (DecodeError & { line?: number })[] = [];
  let line: number | undefined;
  const sink = {
    event: (e: OutflowEvent) => events.push(e),
    error: (e: DecodeError) => errors.push(line === undefined ? e : { line, ...e }),
  };
  if (framing === 'document') {
    decoder.decode(text, sink, { observedTime: meta.observedTime, location: meta.location });
  } else {
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    const lineMeta = { observedTime: meta.observedTime, location: meta.location, line: 0 };
    for (let i = 0; i < lines.length; i++) {
      lineMeta.line = i + 1;
      line = i + 1;
      decoder.decode(lines[i] as string, sink, lineMeta);
    }
  }
  return { events, errors };
}

/** Golden form of decoded output: events without `raw` (check it separately), errors with raw as text (bytes as base64). */
export function goldenOf(result: { events: OutflowEvent[]; errors: DecodeError[] }): unknown {
  return roundTrip({
    events: result.events.map(({ raw: _raw, ...rest }) => rest),
    errors: result.errors.map((e) => ({ ...e, raw: typeof e.raw === 'string' ? e.raw : Buffer.from(e.raw).toString('base64') })),
  });
}

/** `value` as JSON would carry it: undefined properties dropped, dates as strings. */
export function roundTrip<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/**
 * The golden JSON file at `path`, to compare `actual` with. With
 * `UPDATE_GOLDEN=1` in the environment (or when the file is missing and
 * `createMissing`), `actual` is written there first: review the diff.
 */
export function golden(path: string, actual: unknown, options: { createMissing?: boolean } = {}): unknown {
  if (process.env.UPDATE_GOLDEN === '1' || (options.createMissing && !existsSync(path))) writeFileSync(path, `${JSON.stringify(actual, null, 2)}\n`);
  return JSON.parse(readFileSync(path, 'utf8'));
}
