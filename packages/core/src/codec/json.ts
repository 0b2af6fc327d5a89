import { createHash } from 'node:crypto';
import type { DecodeMeta, DecodeSink } from '../contracts/receiver.js';
import { isObject } from './fields.js';

/**
 * JSON record helpers for decoders (CloudTrail, Kubernetes audit, ...). Kept
 * free of closures and regexes on the per-event path.
 */

/** Marker for text that is not JSON. */
export const NOT_JSON: unique symbol = Symbol('not_json');

/** Last JSON.parse error message, set when parseJson returns NOT_JSON. */
export let lastJsonError = '';

/** JSON.parse that returns NOT_JSON instead of throwing. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    lastJsonError = err instanceof Error ? err.message : String(err);
    return NOT_JSON;
  }
}

export type Json = Record<string, unknown>;

export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** A non-empty string, or undefined. */
export function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

export function stringArray(value: unknown): string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  for (let i = 0; i < value.length; i++) if (typeof value[i] !== 'string') return value.filter((v): v is string => typeof v === 'string');
  return value as string[];
}

/** A map keeping only string values (audit annotations, GKE labels). */
export function stringRecord(value: unknown): Record<string, string> | undefined {
  if (!isObject(value)) return undefined;
  let out: Record<string, string> | undefined;
  let clean = true;
  for (const key in value) {
    if (typeof value[key] !== 'string') {
      clean = false;
      break;
    }
  }
  if (clean) return value as Record<string, string>;
  out = {};
  for (const key in value) {
    const v = value[key];
    if (typeof v === 'string') out[key] = v;
  }
  return out;
}

function digits(text: string, from: number, count: number): number {
  let n = 0;
  for (let i = from; i < from + count; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

/**
 * Parse an RFC 3339 timestamp (`2024-05-01T12:00:00.123456789Z`, offsets
 * `+02:00`) into epoch ms. A space instead of `T` and a missing zone (both
 * written by some shippers) are read as UTC. Returns undefined when the text
 * is not a timestamp. Fractions past milliseconds are truncated.
 */
export function parseTimestamp(value: unknown): number | undefined {
  if (typeof value !== 'string' || value.length < 19) return undefined;
  const t = value;
  const year = digits(t, 0, 4);
  const month = digits(t, 5, 2);
  const day = digits(t, 8, 2);
  const hour = digits(t, 11, 2);
  const minute = digits(t, 14, 2);
  const second = digits(t, 17, 2);
  const sep = t.charCodeAt(10);
  if (
    year < 0 ||
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > 31 ||
    hour < 0 ||
    hour > 23 ||
    minute < 0 ||
    minute > 59 ||
    second < 0 ||
    second > 60 ||
    t.charCodeAt(4) !== 45 ||
    t.charCodeAt(7) !== 45 ||
    (sep !== 84 && sep !== 32 && sep !== 116) ||
    t.charCodeAt(13) !== 58 ||
    t.charCodeAt(16) !== 58
  )
    return undefined;
  let i = 19;
  let ms = 0;
  if (t.charCodeAt(i) === 46) {
    i++;
    let scale = 100;
    const start = i;
    while (i < t.length) {
      const c = t.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      ms += c * scale;
      scale /= 10;
      i++;
    }
    if (i === start) return undefined;
    ms = Math.floor(ms);
  }
  let offset = 0;
  if (i < t.length) {
    const z = t.charCodeAt(i);
    if ((z === 90 || z === 122) && i === t.length - 1) offset = 0;
    else if ((z === 43 || z === 45) && t.length - i === 6 && t.charCodeAt(i + 3) === 58) {
      const oh = digits(t, i + 1, 2);
      const om = digits(t, i + 4, 2);
      if (oh < 0 || om < 0) return undefined;
      offset = (z === 43 ? 1 : -1) * (oh * 60 + om) * 60_000;
    } else return undefined;
  }
  const time = Date.UTC(year, month - 1, day, hour, minute, second, ms) - offset;
  return Number.isFinite(time) ? time : undefined;
}

/** An epoch-milliseconds number (CloudWatch Logs `timestamp`), or undefined. */
export function epochMs(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && Math.abs(value) < 8.64e15 ? value : undefined;
}

/** `path:line`, `path`, or undefined. */
export function locationOf(location: string | undefined, line: number | undefined): string | undefined {
  if (location === undefined) return undefined;
  return line === undefined ? location : `${location}:${line}`;
}

/**
 * Where a record is: `loc` is the absolute `path:line` events carry; `tag` is
 * `line N ` when the decoder itself split the input into lines (a JSON-lines
 * document), else empty.
 */
export interface At {
  loc: string | undefined;
  tag: string;
}

/** Where a value found on `line` of an input is (see `JsonInputHandler.value`): `tag` is set when the decoder split the lines itself. */
export function atLine(meta: DecodeMeta, line: number | undefined): At {
  return { loc: locationOf(meta.location, line), tag: line !== undefined && line !== meta.line ? `line ${line} ` : '' };
}

/**
 * DecodeError.location: where the record sits inside the input, relative to
 * what the transport already knows (`path:line` or `http://peer`): a JSON
 * pointer (`/Records/3`), prefixed with `line N` when the decoder split lines.
 * Undefined when the record is the whole input.
 */
export function relativeLocation(at: At, pointer: string): string | undefined {
  if (at.tag === '') return pointer === '' ? undefined : pointer;
  return pointer === '' ? at.tag.trimEnd() : at.tag + pointer;
}

/** Absolute place of a record, for derived ids: `path:line#/items/3`. */
export function pointerLocation(location: string | undefined, pointer: string): string | undefined {
  if (pointer === '') return location;
  return location === undefined ? `#${pointer}` : `${location}#${pointer}`;
}

/** Report a bad record at `pointer`: its raw text is `text` when known, else the record written as JSON. */
export function recordError(
  sink: Pick<DecodeSink, 'error'>,
  reason: string,
  message: string,
  record: unknown,
  text: string | undefined,
  at: At,
  pointer: string,
): void {
  sink.error({ reason, message, raw: text ?? recordText(record), location: relativeLocation(at, pointer) });
}

/** Deterministic id for records that lack one: a short hash of where the record came from and its text. */
export function derivedId(location: string | undefined, text: string): string {
  return createHash('sha256')
    .update(location ?? '')
    .update('\n')
    .update(text)
    .digest('hex')
    .slice(0, 32);
}

/** Text of a record for dead letters and derived ids. */
export function recordText(value: unknown): string {
  try {
    return typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  } catch {
    return String(value);
  }
}

export function isBlank(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 10 && c !== 13 && c !== 0xfeff) return false;
  }
  return true;
}

/** Remove a UTF-8 byte order mark. */
export function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** A short, safe description of a value for error messages (never stringifies objects). */
export function brief(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value);
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}
