import type { DecodeMeta, DecodeSink } from '../contracts/receiver.js';
import { isBlank, lastJsonError, NOT_JSON, parseJson, parseTimestamp, stripBom } from './json.js';

/** What a JSON decoder does with the values found in one input. */
export interface JsonInputHandler {
  /**
   * One JSON value. `text` is its source text when the value is the whole
   * input or a whole line (undefined for parts of a concatenation), `line` its
   * line when known, `prefixTime` the timestamp that prefixed the line.
   */
  value(value: unknown, text: string | undefined, line: number | undefined, sink: DecodeSink, meta: DecodeMeta, prefixTime: number | undefined): void;
  /** Where the JSON starts in a line that carries a prefix before it (CloudWatch export lines), or -1. */
  jsonStart?(text: string): number;
}

/**
 * Split the concatenated JSON values of `text` (`{...}{...}`, as Kinesis
 * Firehose writes to S3) at depth-0 boundaries. Returns undefined unless there
 * are at least two values and each starts with `{` or `[`.
 */
export function splitConcatenated(text: string): string[] | undefined {
  const parts: string[] = [];
  let depth = 0;
  let inString = false;
  let start = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++;
      else if (c === 34) inString = false;
      continue;
    }
    if (c === 34) {
      if (depth === 0) return undefined;
      inString = true;
    } else if (c === 123 || c === 91) {
      if (depth === 0) start = i;
      depth++;
    } else if (c === 125 || c === 93) {
      depth--;
      if (depth < 0) return undefined;
      if (depth === 0) parts.push(text.slice(start, i + 1));
    } else if (depth === 0 && c !== 32 && c !== 9 && c !== 10 && c !== 13) return undefined;
  }
  if (depth !== 0 || inString || parts.length < 2) return undefined;
  return parts;
}

function decodeOne(text: string, line: number | undefined, sink: DecodeSink, meta: DecodeMeta, handler: JsonInputHandler): void {
  const value = parseJson(text);
  if (value !== NOT_JSON) {
    handler.value(value, text, line, sink, meta, undefined);
    return;
  }
  const message = lastJsonError;
  const start = handler.jsonStart?.(text) ?? -1;
  if (start > 0) {
    const inner = parseJson(text.slice(start));
    if (inner !== NOT_JSON) {
      handler.value(inner, text, line, sink, meta, parsePrefixTime(text, start));
      return;
    }
  }
  const parts = splitConcatenated(text);
  if (parts) {
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] as string;
      const v = parseJson(part);
      if (v === NOT_JSON) sink.error({ reason: 'invalid_json', message: lastJsonError, raw: part, location: lineTag(line, meta) });
      else handler.value(v, part, line, sink, meta, undefined);
    }
    return;
  }
  sink.error({ reason: 'invalid_json', message: `not JSON: ${message}`, raw: text, location: lineTag(line, meta) });
}

/** Relative error location for a whole line: `line N` when the decoder split the input itself. */
function lineTag(line: number | undefined, meta: DecodeMeta): string | undefined {
  return line !== undefined && line !== meta.line ? `line ${line}` : undefined;
}

function parsePrefixTime(text: string, start: number): number | undefined {
  return parseTimestamp(text.slice(0, start).trim());
}

function decodable(text: string, handler: JsonInputHandler): boolean {
  if (parseJson(text) !== NOT_JSON) return true;
  const start = handler.jsonStart?.(text) ?? -1;
  return start > 0 && parseJson(text.slice(start)) !== NOT_JSON;
}

/**
 * Decode an input that is one JSON document, JSON lines, or concatenated
 * JSON values. Lines framing hands one line (meta.line set); document framing
 * hands a whole file, which may itself be JSON lines. Blank input is skipped.
 * Never throws: what is not JSON goes to `sink.error` as `invalid_json`.
 */
export function decodeJsonInput(raw: string, sink: DecodeSink, meta: DecodeMeta, handler: JsonInputHandler): void {
  if (isBlank(raw)) return;
  const input = stripBom(raw);
  const whole = parseJson(input);
  if (whole !== NOT_JSON) {
    handler.value(whole, input, meta.line, sink, meta, undefined);
    return;
  }
  const nl = input.indexOf('\n');
  if (nl < 0 || nl >= input.trimEnd().length) {
    decodeOne(input.trimEnd(), meta.line, sink, meta, handler);
    return;
  }
  const lines = input.split('\n');
  let first = 0;
  while (first < lines.length && isBlank(lines[first] as string)) first++;
  const firstLine = (lines[first] as string).trimEnd();
  if (!decodable(firstLine, handler)) {
    // A multi-line document that does not parse: one error for the whole of it, unless it is concatenated values.
    decodeOne(input, undefined, sink, meta, handler);
    return;
  }
  const base = meta.line ?? 1;
  for (let i = first; i < lines.length; i++) {
    const text = lines[i] as string;
    if (isBlank(text)) continue;
    decodeOne(text.charCodeAt(text.length - 1) === 13 ? text.slice(0, -1) : text, base + i, sink, meta, handler);
  }
}

/**
 * `decodeJsonInput` for a decoder's `decode`: an exception (a decoder bug)
 * costs this one input, reported as `decoder_exception`, not the stream.
 */
export function decodeJsonInputGuarded(input: string, sink: DecodeSink, meta: DecodeMeta, handler: JsonInputHandler): void {
  try {
    decodeJsonInput(input, sink, meta, handler);
  } catch (err) {
    sink.error({ reason: 'decoder_exception', message: err instanceof Error ? err.message : String(err), raw: input, location: meta.location });
  }
}
