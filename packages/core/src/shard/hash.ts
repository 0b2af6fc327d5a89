/** 32-bit FNV-1a of a string (UTF-16 code units). */
export function fnv1a(text: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A well-mixed 32-bit hash of a 32-bit integer (murmur3 finaliser, fmix32). */
export function mix32(x: number): number {
  let h = x | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Stable key hashing for sharding: FNV-1a over UTF-16 code units, 32 bits, then
 * fmix32 (FNV-1a alone leaves the low bits of similar keys, 10.0.0.1 and 10.0.0.2,
 * correlated). The same key maps to the same shard in every process and on every run.
 */
export function hashKey(key: string): number {
  return mix32(fnv1a(key));
}

/** The shard (0 .. shards-1) a key belongs to. */
export function shardOf(key: string, shards: number): number {
  return shards <= 1 ? 0 : hashKey(key) % shards;
}

/**
 * The `index`-th field (0-based) of a `separator`-separated record, without
 * splitting the rest: a cheap routing key for line formats (`recordField(3)`
 * is the source address of a default-format VPC flow log line). Undefined when
 * the record has fewer fields.
 */
export function recordField(index: number, separator = ' '): (record: string) => string | undefined {
  if (!(Number.isInteger(index) && index >= 0)) throw new RangeError('recordField index must be a non-negative integer');
  return (record) => {
    let start = 0;
    for (let i = 0; i < index; i++) {
      const next = record.indexOf(separator, start);
      if (next < 0) return undefined;
      start = next + separator.length;
    }
    const end = record.indexOf(separator, start);
    return end < 0 ? record.slice(start) : record.slice(start, end);
  };
}
