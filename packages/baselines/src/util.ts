export { fnv1a, mix32 } from '@outflow/core';

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
