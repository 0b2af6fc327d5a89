import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DecodeError, Decoder, OutflowEvent } from '@outflow/core';

export const TESTDATA = join(import.meta.dirname, '..', 'testdata');
/** Fixed ingest time for golden output. */
export const OBSERVED = Date.UTC(2024, 5, 1);

export function fixture(name: string): string {
  return readFileSync(join(TESTDATA, name), 'utf8');
}

/**
 * Decode `text` the way the file transport hands it over: one call per line
 * (`lines`, with 1-based line numbers) or one call for the whole text (`document`).
 */
export function decodeAs(
  decoder: Decoder<string>,
  text: string,
  framing: 'lines' | 'document',
  location: string,
): { events: OutflowEvent[]; errors: (DecodeError & { line?: number })[] } {
  const events: OutflowEvent[] = [];
  const errors: (DecodeError & { line?: number })[] = [];
  let line: number | undefined;
  const sink = {
    event: (e: OutflowEvent) => events.push(e),
    error: (e: DecodeError) => errors.push(line === undefined ? e : { line, ...e }),
  };
  if (framing === 'document') {
    decoder.decode(text, sink, { observedTime: OBSERVED, location });
  } else {
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    const meta = { observedTime: OBSERVED, location, line: 0 };
    for (let i = 0; i < lines.length; i++) {
      meta.line = i + 1;
      line = i + 1;
      decoder.decode(lines[i] as string, sink, meta);
    }
  }
  return { events, errors };
}

/** Golden form: events without `raw` (checked separately), errors with raw as text (and, for line framing, the line they were on). */
export function goldenOf(result: { events: OutflowEvent[]; errors: DecodeError[] }): unknown {
  return JSON.parse(
    JSON.stringify({
      events: result.events.map(({ raw: _raw, ...rest }) => rest),
      errors: result.errors.map((e) => ({ ...e, raw: typeof e.raw === 'string' ? e.raw : Buffer.from(e.raw).toString('base64') })),
    }),
  );
}
