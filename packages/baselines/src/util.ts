/** True for a finite number. */
export function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** Weight a sample keeps after `dt` ms with half-life `halfLife` ms. */
export function decay(dt: number, halfLife: number): number {
  return dt <= 0 ? 1 : Math.exp((-dt * Math.LN2) / halfLife);
}

/** Bytes of the JSON form of a value: what a checkpoint of it costs. */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value));
}

/** 32-bit FNV-1a of a string (UTF-16 code units). */
export function fnv1a(text: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A well-mixed 32-bit hash of a 32-bit integer (murmur3 finaliser). */
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
 * Forward decay (Cormode et al.): instead of shrinking every counter as time
 * passes, weigh a new sample by `2^((t - landmark) / halfLife)`. When weights
 * grow past 2^64, every counter is rescaled once and the landmark moves.
 */
export function forwardWeight(t: number, landmark: number, halfLife: number | undefined): number {
  if (halfLife === undefined) return 1;
  return 2 ** ((t - landmark) / halfLife);
}

export const RESCALE_AT = 2 ** 64;
