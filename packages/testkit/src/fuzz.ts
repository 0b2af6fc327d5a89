/**
 * `@outflow/testkit/fuzz`: fast-check inputs for fuzzing decoders (valid
 * records broken in the ways real input breaks) and a property test for JSON
 * decoders. Needs `fast-check` and `vitest` (peer dependencies).
 */
import type { DecodeError, Decoder, OutflowEvent } from '@outflow/core';
import { splitConcatenated } from '@outflow/core/codec';
import fc from 'fast-check';
import { expect } from 'vitest';

/** Numbers at the edges: huge, past 2^53, negative zero, subnormal. */
export const HUGE_NUMBERS: readonly number[] = [1e308, -1e308, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER, -0, 1e-320];

/** Values of the wrong type (and size) to put where a decoder expects something else. */
export const WRONG_JSON_VALUES: readonly unknown[] = [null, true, 0, -1, '', 'x'.repeat(300), [], {}, [null], { a: { b: [] } }, ...HUGE_NUMBERS];

/** Paths of every value in a JSON tree (at most about 400), to pick one to break. */
export function jsonPaths(value: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (out.length > 400) return out;
  if (Array.isArray(value)) for (let i = 0; i < value.length; i++) jsonPaths(value[i], [...prefix, i], out);
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) jsonPaths(v, [...prefix, k], out);
  if (prefix.length > 0) out.push(prefix);
  return out;
}

/**
 * Break the value at path number `pick` of JSON `text`: remove it (`kind` 0),
 * shorten a string or break the JSON inside a string (1: wrapped records carry
 * their event as a JSON string), or replace it with `replacement` (otherwise).
 * Text that is not JSON comes back unchanged.
 */
export function mutateJson(text: string, pick: number, kind: number, replacement: unknown): string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return text;
  }
  const all = jsonPaths(value);
  if (all.length === 0) return text;
  const path = all[pick % all.length] as (string | number)[];
  let parent = value as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  if (kind === 0) {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else if (kind === 1 && typeof parent[last] === 'string') {
    const s = parent[last] as string;
    parent[last] = s.startsWith('{') ? mutateJson(s, pick * 7 + 3, (kind + pick) % 3, replacement) : s.slice(0, Math.max(0, s.length - 1 - (pick % 5)));
  } else {
    parent[last] = replacement;
  }
  return JSON.stringify(value);
}

/** Truncations and character flips of `line`s. */
export function damagedLines(line: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.oneof(
    fc.tuple(line, fc.nat()).map(([l, n]) => l.slice(0, n % l.length)),
    fc.tuple(line, fc.nat(), fc.integer({ min: 0, max: 0xffff })).map(([l, n, c]) => {
      const i = n % l.length;
      return l.slice(0, i) + String.fromCharCode(c) + l.slice(i + 1);
    }),
  );
}

/**
 * Valid inputs broken in every way at once: truncation, a character flipped,
 * wrong types, huge numbers, missing fields and broken nested strings (once or
 * twice), records duplicated on two lines or joined, or left as they are.
 */
export function mutatedJson(seeds: readonly string[]): fc.Arbitrary<string> {
  return fc
    .record({
      seed: fc.nat({ max: seeds.length - 1 }),
      op: fc.nat({ max: 5 }),
      at: fc.nat(),
      pick: fc.nat(),
      kind: fc.nat({ max: 2 }),
      wrong: fc.constantFrom(...WRONG_JSON_VALUES),
      byte: fc.integer({ min: 0, max: 0xffff }),
    })
    .map(({ seed, op, at, pick, kind, wrong, byte }) => {
      const text = seeds[seed] as string;
      switch (op) {
        case 0: // truncation
          return text.slice(0, at % (text.length + 1));
        case 1: {
          // byte flip
          const i = at % text.length;
          return text.slice(0, i) + String.fromCharCode(byte) + text.slice(i + 1);
        }
        case 2: // wrong types, huge numbers, missing fields, broken nested strings
          return mutateJson(text, pick, kind, wrong);
        case 3: // two mutations
          return mutateJson(mutateJson(text, pick, 2, wrong), pick * 31 + 1, 0, wrong);
        case 4: // duplicated or joined records
          return at % 2 === 0 ? `${text}\n${text}` : `${text}${text}`;
        default:
          return text;
      }
    });
}

/** Inputs for a JSON decoder: mostly `mutatedJson(seeds)`, and random JSON, binary and text. */
export function jsonDecoderInputs(seeds: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: mutatedJson(seeds) },
    { weight: 2, arbitrary: fc.json().map((j) => j) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  );
}

export interface JsonDecoderFuzzOptions {
  decoder: Decoder<string>;
  /** Valid inputs of every shape the decoder takes, one per line, to mutate. */
  seeds: readonly string[];
  /** The kind of every event. */
  kind: OutflowEvent['kind'];
  /** Containers that may come empty: an object with one of these keys holding `[]` may produce nothing. */
  emptyKeys: readonly string[];
  /** Other objects that may produce nothing (control messages). */
  silentObject?(o: Record<string, unknown>): boolean;
  /** Single lines that are not JSON but decode all the same (prefixed export lines); others must be errors. */
  notJsonButDecodes?(text: string): boolean;
  /** Default 10 000. */
  numRuns?: number;
  /** Default `FUZZ_SEED` from the environment, else 1537. */
  seed?: number;
}

/**
 * Fuzz a JSON decoder with `jsonDecoderInputs(seeds)`, with and without a line
 * number: it never throws nor reports `decoder_exception`; every error has a
 * reason, a message and the raw input; every event has the kind, a finite time
 * and a source id; an input that produced nothing may do so (blank, empty
 * containers, `silentObject`); a single non-JSON line (not a concatenation, nor
 * `notJsonButDecodes`) is an error. Returns how many inputs reported errors
 * (`bad`) and produced events (`good`), for the caller to check that both paths ran.
 */
export function fuzzJsonDecoder(options: JsonDecoderFuzzOptions): { runs: number; bad: number; good: number } {
  const { decoder, kind } = options;
  const silentValue = (value: unknown): boolean => {
    let v = value;
    if (typeof v === 'string') {
      try {
        v = JSON.parse(v);
      } catch {
        return false;
      }
    }
    if (Array.isArray(v)) return v.length === 0;
    if (!v || typeof v !== 'object') return false;
    const o = v as Record<string, unknown>;
    if (options.silentObject?.(o)) return true;
    for (const key of options.emptyKeys) if (Array.isArray(o[key]) && (o[key] as unknown[]).length === 0) return true;
    return false;
  };
  /** Inputs that may legitimately produce nothing. */
  const maySilent = (text: string): boolean => {
    if (text.trim() === '') return true;
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      // JSON lines or concatenated values: silent only if every part is.
      if (text.includes('\n')) return text.split('\n').every((line) => line.trim() === '' || silentValue(line));
      const parts = splitConcatenated(text);
      return parts?.every(silentValue) ?? false;
    }
    return silentValue(v);
  };
  const numRuns = options.numRuns ?? 10_000;
  let bad = 0;
  let good = 0;
  let runs = 0;
  fc.assert(
    fc.property(jsonDecoderInputs(options.seeds), fc.boolean(), (text, withLine) => {
      runs++;
      const events: OutflowEvent[] = [];
      const errors: DecodeError[] = [];
      const meta = { observedTime: 1, location: 'fuzz', ...(withLine ? { line: 3 } : {}) };
      expect(() => decoder.decode(text, { event: (e) => events.push(e), error: (e) => errors.push(e) }, meta)).not.toThrow();
      for (const e of errors) {
        expect(e.reason).not.toBe('decoder_exception');
        expect(typeof e.reason).toBe('string');
        expect(typeof e.message).toBe('string');
        expect(e.raw).toBeDefined();
      }
      for (const e of events) {
        expect(e.kind).toBe(kind);
        expect(Number.isFinite(e.time)).toBe(true);
        expect(typeof e.sourceId).toBe('string');
        expect(e.sourceId?.length).toBeGreaterThan(0);
      }
      if (events.length + errors.length === 0) expect(maySilent(text)).toBe(true);
      let parses = true;
      try {
        JSON.parse(text);
      } catch {
        parses = false;
      }
      // A single line that is not JSON (and not a concatenation or a line the decoder takes anyway) must be an error.
      if (!parses && !text.includes('\n') && !options.notJsonButDecodes?.(text) && splitConcatenated(text) === undefined && text.trim() !== '')
        expect(errors.length).toBeGreaterThan(0);
      if (errors.length > 0) bad++;
      if (events.length > 0) good++;
    }),
    { numRuns, seed: options.seed ?? Number(process.env.FUZZ_SEED ?? 1537) },
  );
  expect(runs).toBe(numRuns);
  return { runs, bad, good };
}
