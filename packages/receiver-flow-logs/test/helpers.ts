import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DecodeError, DecodeMeta, Decoder, OutflowEvent } from '@outflow/core';

export const PKG = join(dirname(fileURLToPath(import.meta.url)), '..');
export const TESTDATA = join(PKG, 'testdata');

/** Fixed ingest time for golden output. */
export const OBSERVED = Date.UTC(2024, 2, 1, 12, 0, 0);

export function fixture(rel: string): string {
  return readFileSync(join(TESTDATA, rel), 'utf8');
}

export interface Decoded {
  events: OutflowEvent[];
  /** Errors, each with `at`: where @outflow/io's file receiver would dead-letter it (`path:line`, plus `#` and the decoder's own detail). */
  errors: (DecodeError & { at: string })[];
  skipped: Record<string, number>;
}

/** A recorder for `onSkip`. */
export function skipRecorder(): { skipped: Record<string, number>; onSkip(reason: string): void } {
  const skipped: Record<string, number> = {};
  return { skipped, onSkip: (reason) => void (skipped[reason] = (skipped[reason] ?? 0) + 1) };
}

/**
 * Decode a file's text the way @outflow/io's file receiver feeds a decoder:
 * 'lines' framing gives one line per call with its 1-based number and the
 * file's first line; 'document' gives the whole text once (line 1).
 */
export function decodeFile(
  decoder: Decoder<string>,
  framing: 'lines' | 'document',
  text: string,
  location: string,
  skipped: Record<string, number> = {},
): Decoded {
  const events: OutflowEvent[] = [];
  const errors: (DecodeError & { at: string })[] = [];
  let line = 1;
  const sink = {
    event: (e: OutflowEvent) => events.push(e),
    error: (e: DecodeError) => errors.push({ ...e, at: `${location}:${line}${e.location !== undefined ? `#${e.location}` : ''}` }),
  };
  if (framing === 'document') {
    decoder.decode(text, sink, { observedTime: OBSERVED, location, line: 1, receiver: 'test' });
  } else {
    const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
    const meta: DecodeMeta = { observedTime: OBSERVED, location, line: 0, firstLine: lines[0], receiver: 'test' };
    lines.forEach((text, i) => {
      if (text.length === 0) return;
      line = meta.line = i + 1;
      decoder.decode(text, sink, meta);
    });
  }
  return { events, errors, skipped };
}

/** Plain JSON form (drops undefined properties), as golden files store it. */
export function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
