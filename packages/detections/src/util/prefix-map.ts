import { type ParsedCidr, parseCidr, parseIPv4, parseIPv6Into } from './ip.js';

interface Item<T> {
  start: bigint;
  end: bigint;
  prefix: number;
  priority: number;
  value: T;
}

interface Family<T> {
  /** Segment starts and ends: one number per segment (IPv4) or four words per segment (IPv6). */
  starts: Float64Array | Uint32Array;
  ends: Float64Array | Uint32Array;
  values: T[];
}

/**
 * Maps IP prefixes to values, answering "which value covers this address?"
 * with a binary search over disjoint ranges.
 *
 * Entries may nest (CIDRs never partially overlap). When several cover an
 * address, the one with the lowest `priority` wins; among equal priorities,
 * the longest prefix (the most specific) wins; among identical prefixes of
 * equal priority, the last added wins. `build()` flattens the nested prefixes
 * into sorted disjoint segments once; `lookup()` then costs one parse and
 * O(log segments) comparisons, and allocates nothing for IPv4.
 */
export class PrefixMap<T> {
  private readonly items4: Item<T>[] = [];
  private readonly items6: Item<T>[] = [];
  private v4: Family<T> | undefined;
  private v6: Family<T> | undefined;
  private readonly scratch = new Uint32Array(4);

  /** Number of prefixes added. */
  get size(): number {
    return this.items4.length + this.items6.length;
  }

  /** Number of disjoint segments after `build()` (for tests and benchmarks). */
  get segments(): number {
    this.ensureBuilt();
    return (this.v4?.values.length ?? 0) + (this.v6?.values.length ?? 0);
  }

  /** Add a prefix. Returns false (and adds nothing) when `cidr` does not parse. */
  add(cidr: string | ParsedCidr, value: T, priority = 0): boolean {
    const parsed = typeof cidr === 'string' ? parseCidr(cidr) : cidr;
    if (!parsed) return false;
    const item: Item<T> = { start: parsed.start, end: parsed.end, prefix: parsed.prefix, priority, value };
    (parsed.family === 4 ? this.items4 : this.items6).push(item);
    this.v4 = undefined;
    this.v6 = undefined;
    return true;
  }

  /** Flatten the prefixes into disjoint segments. Called by the first lookup after an `add`. */
  build(): void {
    this.v4 = flatten(this.items4, 4);
    this.v6 = flatten(this.items6, 6);
  }

  private ensureBuilt(): void {
    if (!this.v4 || !this.v6) this.build();
  }

  /** Value covering `address` (IPv4 or IPv6 text), or undefined. */
  lookup(address: string): T | undefined {
    this.ensureBuilt();
    const v4 = parseIPv4(address);
    if (v4 >= 0) return this.lookupV4(v4);
    const w = this.scratch;
    if (!parseIPv6Into(address, w)) return undefined;
    if (w[0] === 0 && w[1] === 0 && w[2] === 0xffff) return this.lookupV4(w[3] as number);
    return this.lookupV6(w);
  }

  /** Value covering the IPv4 address `n` (as a number). */
  lookupV4(n: number): T | undefined {
    this.ensureBuilt();
    const f = this.v4 as Family<T>;
    const starts = f.starts as Float64Array;
    let lo = 0;
    let hi = starts.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if ((starts[mid] as number) <= n) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0 || n > ((f.ends as Float64Array)[found] as number)) return undefined;
    return f.values[found];
  }

  private lookupV6(w: Uint32Array): T | undefined {
    const f = this.v6 as Family<T>;
    const starts = f.starts as Uint32Array;
    let lo = 0;
    let hi = f.values.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (compare6(starts, mid, w) <= 0) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0 || compare6(f.ends as Uint32Array, found, w) < 0) return undefined;
    return f.values[found];
  }
}

/** Compare the segment boundary at `index` with the address `w`: negative when the boundary is lower. */
function compare6(arr: Uint32Array, index: number, w: Uint32Array): number {
  const base = index * 4;
  for (let i = 0; i < 4; i++) {
    const a = arr[base + i] as number;
    const b = w[i] as number;
    if (a !== b) return a < b ? -1 : 1;
  }
  return 0;
}

interface Segment<T> {
  start: bigint;
  end: bigint;
  value: T;
}

function flatten<T>(items: readonly Item<T>[], family: 4 | 6): Family<T> {
  // Containers before their contents: by start, then widest first, then best priority first.
  const sorted = items
    .map((item, order) => ({ item, order }))
    .sort((a, b) => {
      if (a.item.start !== b.item.start) return a.item.start < b.item.start ? -1 : 1;
      if (a.item.prefix !== b.item.prefix) return a.item.prefix - b.item.prefix;
      if (a.item.priority !== b.item.priority) return a.item.priority - b.item.priority;
      return a.order - b.order;
    })
    .map((x) => x.item);
  const segments: Segment<T>[] = [];
  const emit = (start: bigint, end: bigint, value: T) => {
    if (start > end) return;
    const last = segments[segments.length - 1];
    if (last && last.value === value && last.end + 1n === start) last.end = end;
    else segments.push({ start, end, value });
  };
  // Open prefixes, innermost last, each with the best item covering it so far.
  const stack: { end: bigint; best: Item<T> }[] = [];
  let cursor = 0n;
  const closeUntil = (limit: bigint | undefined) => {
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { end: bigint; best: Item<T> };
      if (limit !== undefined && top.end >= limit) break;
      emit(cursor, top.end, top.best.value);
      cursor = top.end + 1n;
      stack.pop();
    }
  };
  for (const item of sorted) {
    closeUntil(item.start);
    const parent = stack[stack.length - 1];
    if (parent) emit(cursor, item.start - 1n, parent.best.value);
    cursor = item.start;
    const best = parent && parent.best.priority < item.priority ? parent.best : item;
    stack.push({ end: item.end, best });
  }
  closeUntil(undefined);

  const n = segments.length;
  if (family === 4) {
    const starts = new Float64Array(n);
    const ends = new Float64Array(n);
    segments.forEach((s, i) => {
      starts[i] = Number(s.start);
      ends[i] = Number(s.end);
    });
    return { starts, ends, values: segments.map((s) => s.value) };
  }
  const starts = new Uint32Array(n * 4);
  const ends = new Uint32Array(n * 4);
  const put = (arr: Uint32Array, i: number, v: bigint) => {
    for (let k = 0; k < 4; k++) arr[i * 4 + k] = Number((v >> BigInt(96 - 32 * k)) & 0xffffffffn);
  };
  segments.forEach((s, i) => {
    put(starts, i, s.start);
    put(ends, i, s.end);
  });
  return { starts, ends, values: segments.map((s) => s.value) };
}
