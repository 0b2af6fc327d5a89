import { createHash } from 'node:crypto';
import type { EventRef, KeyedState, WindowStateHandle, WorkloadIdentity } from '@outflow/core';

/**
 * Checkpoint helpers shared by the enrichers and the analytics (they live in
 * `enrich/`, the package's lowest layer, so both can use them).
 *
 * A checkpointed state is plain JSON data. JSON has no `Infinity`, `Set` or
 * `Map`, so every state writes its own encoding (`encodeTime` for times that
 * may be infinite) and validates what it reads back: a restore that finds
 * something it cannot read throws before changing anything, the pipeline
 * counts `errors{reason=checkpoint_restore_failed}` and the state relearns.
 */

/** Canonical JSON: object keys sorted at every level, so equal values give equal text whatever their key order. */
function canonical(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(obj[k])}`).join(',')}}`;
}

/** Short stable hash (8 hex digits of SHA-256) of plain data, independent of key order. */
export function paramsHash(value: unknown): string {
  return createHash('sha256').update(canonical(value)).digest('hex').slice(0, 8);
}

/**
 * The version of a checkpointed state: `layout` names the shape of the data
 * (bump it when the encoding changes), `shaping` the parameters that give the
 * data its meaning (windows, keys, features). A change to either makes the
 * pipeline drop the saved state and relearn instead of mixing two meanings.
 *
 * `stateVersion('secret_harvesting.identities/1', { windowMs, threshold })` → `secret_harvesting.identities/1+3f2a9c1d`.
 */
export function stateVersion(layout: string, shaping?: unknown): string {
  return shaping === undefined ? layout : `${layout}+${paramsHash(shaping)}`;
}

/** A checkpoint that cannot be read back. */
export class CheckpointFormatError extends TypeError {
  constructor(what: string) {
    super(`checkpointed state is not readable: ${what}`);
    this.name = 'CheckpointFormatError';
  }
}

/** A time for JSON: non-finite values (`±Infinity`, "never", "not yet") become null. */
export function encodeTime(t: number): number | null {
  return Number.isFinite(t) ? t : null;
}

/** Read back a time written by `encodeTime`: null is `ifNull` (the infinity it stood for). */
export function decodeTime(value: unknown, ifNull: number, what = 'time'): number {
  if (value === null) return ifNull;
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  throw new CheckpointFormatError(`${what} is not a number`);
}

export function expectObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new CheckpointFormatError(`${what} is not an object`);
  return value as Record<string, unknown>;
}

export function expectArray(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw new CheckpointFormatError(`${what} is not an array`);
  return value;
}

export function expectString(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new CheckpointFormatError(`${what} is not a string`);
  return value;
}

export function expectNumber(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new CheckpointFormatError(`${what} is not a number`);
  return value;
}

export function expectStrings(value: unknown, what: string): string[] {
  return expectArray(value, what).map((v, i) => expectString(v, `${what}[${i}]`));
}

/** One KeyedState entry as written to a checkpoint. */
export interface KeyedEntry<V> {
  key: string;
  value: V;
  touched: number;
}

/** The entries of a string-keyed KeyedState, oldest first, each value encoded (a fresh copy). */
export function snapshotKeyed<V, P>(state: KeyedState<string, V>, encode: (value: V) => P): KeyedEntry<P>[] {
  const out: KeyedEntry<P>[] = [];
  for (const [key, value, touched] of state.entries()) out.push({ key, value: encode(value), touched });
  return out;
}

/** Read back entries written by `snapshotKeyed`, decoding each value; throws on anything unreadable. Apply with `state.restore(entries)`. */
export function decodeKeyed<V>(raw: unknown, decode: (value: unknown, key: string) => V, what: string): KeyedEntry<V>[] {
  return expectArray(raw, what).map((item, i) => {
    const e = expectObject(item, `${what}[${i}]`);
    const key = expectString(e.key, `${what}[${i}].key`);
    return { key, value: decode(e.value, key), touched: expectNumber(e.touched, `${what}[${i}].touched`) };
  });
}

/** Keys of a KeyedState whose values carry nothing (`true`): compact `[key, touched]` pairs. */
export function snapshotKeySet(state: KeyedState<string, true>): [string, number][] {
  const out: [string, number][] = [];
  for (const [key, , touched] of state.entries()) out.push([key, touched]);
  return out;
}

export function decodeKeySet(raw: unknown, what: string): KeyedEntry<true>[] {
  return expectArray(raw, what).map((item, i) => {
    const pair = expectArray(item, `${what}[${i}]`);
    return { key: expectString(pair[0], `${what}[${i}][0]`), value: true as const, touched: expectNumber(pair[1], `${what}[${i}][1]`) };
  });
}

/** Evidence references as plain data (copies). */
export function encodeRefs(refs: readonly EventRef[]): EventRef[] {
  return refs.map((r) => ({ ...r }));
}

export function decodeRefs(raw: unknown, what: string): EventRef[] {
  return expectArray(raw, what).map((item, i) => {
    const r = expectObject(item, `${what}[${i}]`);
    const ref: EventRef = { source: expectString(r.source, `${what}[${i}].source`), id: expectString(r.id, `${what}[${i}].id`) };
    if (r.time !== undefined) ref.time = expectNumber(r.time, `${what}[${i}].time`);
    return ref;
  });
}

/** Read back a workload identity (string fields and string labels only). */
export function decodeWorkload(raw: unknown, what: string): WorkloadIdentity {
  const v = expectObject(raw, what);
  const out: Record<string, unknown> = {};
  for (const [k, value] of Object.entries(v)) {
    if (k === 'labels') {
      const labels: Record<string, string> = {};
      for (const [l, x] of Object.entries(expectObject(value, `${what}.labels`))) labels[l] = expectString(x, `${what}.labels.${l}`);
      out.labels = labels;
    } else out[k] = expectString(value, `${what}.${k}`);
  }
  return out as WorkloadIdentity;
}

/** Open windows of a windowed analytic as JSON: `[end, [key, accumulator, count][]][]` and the operator's watermark. */
export interface EncodedWindows<E> {
  watermark: number | null;
  windows: [number, [string, E, number][]][];
}

/** Snapshot the open windows behind a core window operator's state handle, each accumulator encoded by `encode`. */
export function encodeWindows<A, E>(handle: WindowStateHandle<string, A>, encode: (acc: A) => E): EncodedWindows<E> {
  const snap = handle.snapshot();
  return {
    watermark: snap.watermark,
    windows: snap.windows.map(([end, cells]) => [end, cells.map(([key, acc, count]): [string, E, number] => [key, encode(acc), count])]),
  };
}

/**
 * Read back open windows written by `encodeWindows`, checking everything; throws before anything is changed. At most
 * `maxOpen` (key, window) cells are kept (the earliest windows, which fire first); the rest are counted as `dropped`.
 */
export function decodeWindows<A>(
  raw: unknown,
  what: string,
  maxOpen: number,
  decode: (raw: unknown, what: string) => A,
): { snapshot: EncodedWindows<A>; dropped: number } {
  const s = expectObject(raw, what);
  const watermark = s.watermark === null ? null : expectNumber(s.watermark, `${what} watermark`);
  const windows: [number, [string, A, number][]][] = [];
  let open = 0;
  let dropped = 0;
  let previous = Number.NEGATIVE_INFINITY;
  for (const [i, item] of expectArray(s.windows, what).entries()) {
    const w = expectArray(item, `window ${i}`);
    const end = expectNumber(w[0], `window ${i} end`);
    if (end <= previous) throw new CheckpointFormatError(`window ${i} is out of order`);
    previous = end;
    const cells: [string, A, number][] = [];
    const keys = new Set<string>();
    for (const [j, rawCell] of expectArray(w[1], `window ${i} cells`).entries()) {
      const cellWhat = `window ${i} cell ${j}`;
      const cell = expectArray(rawCell, cellWhat);
      const key = expectString(cell[0], `${cellWhat} key`);
      if (keys.has(key)) throw new CheckpointFormatError(`${cellWhat} repeats key ${key}`);
      keys.add(key);
      const acc = decode(cell[1], cellWhat);
      const count = expectNumber(cell[2], `${cellWhat} count`);
      if (open >= maxOpen) {
        dropped++;
        continue;
      }
      open++;
      cells.push([key, acc, count]);
    }
    if (cells.length > 0) windows.push([end, cells]);
  }
  return { snapshot: { watermark, windows }, dropped };
}
