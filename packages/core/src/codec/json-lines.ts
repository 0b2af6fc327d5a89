import type { DecodeMeta, DecodeSink } from '../contracts/receiver.js';
import { lastJsonError, NOT_JSON, parseJson } from './json.js';

/**
 * Line-oriented JSON inputs (Falco alerts, Tetragon export): one record per
 * line, and a record's place given as a line. Split by hand over char codes:
 * these run once per record.
 */

/** Char code of the first character that is not white space or a BOM, or -1 for blank text. */
export function firstNonBlank(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 10 && c !== 13 && c !== 0xfeff) return c;
  }
  return -1;
}

/**
 * Where a record sits inside one decode input, as DecodeError.location wants
 * it: `5` (line 5 of the file the input came from) when the transport gave a
 * line number, `line 3` (third line of a body without line numbers), or
 * undefined for the whole input.
 */
export function lineDetail(meta: DecodeMeta, bodyLine: number | undefined): string | undefined {
  if (meta.line !== undefined) return String(meta.line + (bodyLine ?? 1) - 1);
  return bodyLine !== undefined ? `line ${bodyLine}` : undefined;
}

/** Event location from a `lineDetail`: `path:line` for file lines, `http://peer#line 3` (or `#[2]`) for parts of a body. */
export function detailLocation(meta: DecodeMeta, detail: string | undefined): string | undefined {
  if (meta.location === undefined) return undefined;
  if (detail === undefined) return meta.location;
  const c = detail.charCodeAt(0);
  return c >= 48 && c <= 57 ? `${meta.location}:${detail}` : `${meta.location}#${detail}`;
}

/** What a line-oriented decoder does with each JSON value of an input (an object, so no closure is made per input). */
export interface JsonLineHandler<E> {
  /** One JSON value: `text` is its line (or the whole input), `detail` its `lineDetail`. */
  lineValue(value: unknown, text: string, sink: DecodeSink<E>, meta: DecodeMeta, detail: string | undefined): void;
}

/**
 * Decode an input of one JSON value per line. A single line is one value; a
 * multi-line input is one pretty-printed value when it starts with one of
 * `documentStarts` (`{`, `[`) and parses as a whole, else JSON lines (CRLF
 * accepted). Blank lines are skipped; a line that is not JSON goes to
 * `sink.error` as `invalid_json` with its detail, and the other lines still decode.
 * Each value goes to `handler.lineValue`.
 */
export function decodeJsonLines<E>(input: string, sink: DecodeSink<E>, meta: DecodeMeta, documentStarts: string, handler: JsonLineHandler<E>): void {
  if (input.indexOf('\n') < 0) {
    decodeJsonLine(input, sink, meta, lineDetail(meta, undefined), handler);
    return;
  }
  const first = firstNonBlank(input);
  if (first >= 0 && documentStarts.indexOf(String.fromCharCode(first)) >= 0) {
    const whole = parseJson(input);
    if (whole !== NOT_JSON) {
      handler.lineValue(whole, input, sink, meta, lineDetail(meta, undefined));
      return;
    }
    // not one document: JSON lines
  }
  let start = 0;
  let n = 0;
  while (start <= input.length) {
    let end = input.indexOf('\n', start);
    if (end < 0) end = input.length;
    const lineEnd = end > start && input.charCodeAt(end - 1) === 13 ? end - 1 : end;
    if (lineEnd > start) decodeJsonLine(input.slice(start, lineEnd), sink, meta, lineDetail(meta, n + 1), handler);
    n++;
    start = end + 1;
  }
}

function decodeJsonLine<E>(line: string, sink: DecodeSink<E>, meta: DecodeMeta, detail: string | undefined, handler: JsonLineHandler<E>): void {
  if (firstNonBlank(line) < 0) return;
  const value = parseJson(line);
  if (value === NOT_JSON) {
    sink.error({ reason: 'invalid_json', message: `not JSON: ${lastJsonError}`, raw: line, location: detail });
    return;
  }
  handler.lineValue(value, line, sink, meta, detail);
}
