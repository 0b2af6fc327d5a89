export type EvictionReason = 'ttl' | 'cap';

export interface KeyedStateOptions<K, V> {
  /** Most keys held at once. Inserting at the cap evicts the least recently touched keys (1/64 of the cap at a time). */
  maxKeys: number;
  /** A key untouched for this long (in the clock the caller passes, usually event time) expires on the next `expire`. */
  ttlMs: number;
  /**
   * Touches closer than this to the previous one do not reorder the key
   * (saves a Map delete+insert on hot keys). A key may therefore expire up to
   * this much earlier than `ttlMs` after its last touch. Default `ttlMs / 64`.
   */
  touchGranularityMs?: number;
  onEvict?: (key: K, value: V, reason: EvictionReason) => void;
}

interface Slot<V> {
  value: V;
  touched: number;
}

/**
 * Per-key state with a key cap and a TTL: the building block for every
 * per-key structure in Outflow, so none grows without bound.
 *
 * Entries sit in a Map ordered by last touch, so both the cap (evict the
 * least recently touched) and the TTL (sweep from the oldest until a live one)
 * cost O(evicted), not O(keys).
 */
export class KeyedState<K, V> {
  private readonly map = new Map<K, Slot<V>>();
  private clock = Number.NEGATIVE_INFINITY;
  readonly maxKeys: number;
  readonly ttlMs: number;
  private readonly granularity: number;
  private readonly onEvict: ((key: K, value: V, reason: EvictionReason) => void) | undefined;
  private readonly evictChunk: number;
  /** Evictions so far, by reason. */
  readonly evictions = { ttl: 0, cap: 0 };

  constructor(options: KeyedStateOptions<K, V>) {
    if (!(options.maxKeys >= 1)) throw new RangeError('KeyedState maxKeys must be at least 1');
    if (!(options.ttlMs > 0)) throw new RangeError('KeyedState ttlMs must be positive');
    this.maxKeys = options.maxKeys;
    this.ttlMs = options.ttlMs;
    this.granularity = options.touchGranularityMs ?? options.ttlMs / 64;
    this.onEvict = options.onEvict;
    this.evictChunk = Math.max(1, Math.ceil(options.maxKeys / 64));
  }

  get size(): number {
    return this.map.size;
  }

  /** Value for key, without touching it. */
  peek(key: K): V | undefined {
    return this.map.get(key)?.value;
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  /** Value for key, touching it at `now`. */
  get(key: K, now: number): V | undefined {
    const slot = this.map.get(key);
    if (!slot) return undefined;
    this.touch(key, slot, now);
    return slot.value;
  }

  /** Value for key, creating it with `create` when absent (which may evict the least recently touched key). */
  getOrCreate(key: K, now: number, create: (key: K) => V): V {
    const slot = this.map.get(key);
    if (slot) {
      this.touch(key, slot, now);
      return slot.value;
    }
    const value = create(key);
    this.insert(key, value, now);
    return value;
  }

  set(key: K, value: V, now: number): void {
    const slot = this.map.get(key);
    if (slot) {
      slot.value = value;
      this.touch(key, slot, now);
      return;
    }
    this.insert(key, value, now);
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  private advance(now: number): number {
    if (now > this.clock) this.clock = now;
    return this.clock;
  }

  private touch(key: K, slot: Slot<V>, now: number): void {
    const t = this.advance(now);
    if (t - slot.touched >= this.granularity) {
      slot.touched = t;
      this.map.delete(key);
      this.map.set(key, slot);
    }
  }

  private insert(key: K, value: V, now: number): void {
    const t = this.advance(now);
    if (this.map.size >= this.maxKeys) this.evictOldest(Math.max(1, this.map.size - this.maxKeys + this.evictChunk));
    this.map.set(key, { value, touched: t });
  }

  /**
   * Evict the `n` least recently touched keys with one iterator. Evicting in
   * chunks (1/64 of the cap) rather than one key per insert matters: V8's Map
   * leaves a hole per deleted entry at its front, and starting a fresh
   * iterator per insert would rescan those holes every time.
   */
  private evictOldest(n: number): void {
    let evicted = 0;
    for (const [key, slot] of this.map) {
      if (evicted >= n) break;
      this.map.delete(key);
      evicted++;
      this.evictions.cap++;
      this.onEvict?.(key, slot.value, 'cap');
    }
  }

  /** Evict keys untouched for `ttlMs` as of `now`. Returns how many expired. */
  expire(now: number): number {
    const horizon = this.advance(now) - this.ttlMs;
    let n = 0;
    for (const [key, slot] of this.map) {
      if (slot.touched > horizon) break;
      this.map.delete(key);
      n++;
      this.evictions.ttl++;
      this.onEvict?.(key, slot.value, 'ttl');
    }
    return n;
  }

  /** Entries from least to most recently touched. */
  *entries(): IterableIterator<[K, V, number]> {
    for (const [key, slot] of this.map) yield [key, slot.value, slot.touched];
  }

  /** Plain-data copy of every entry, oldest first, for checkpoints. */
  snapshot(): { key: K; value: V; touched: number }[] {
    const out: { key: K; value: V; touched: number }[] = [];
    for (const [key, slot] of this.map) out.push({ key, value: slot.value, touched: slot.touched });
    return out;
  }

  /** Replace the contents with a snapshot (entries must be ordered by `touched`, as `snapshot()` writes them). */
  restore(entries: readonly { key: K; value: V; touched: number }[]): void {
    this.map.clear();
    for (const e of entries) {
      if (this.map.size >= this.maxKeys) this.evictOldest(1);
      this.map.set(e.key, { value: e.value, touched: e.touched });
      if (e.touched > this.clock) this.clock = e.touched;
    }
  }

  clear(): void {
    this.map.clear();
  }
}
