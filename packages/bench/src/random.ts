/** Seeded xorshift32: uniform 32-bit unsigned integers, the same sequence for the same seed (bench inputs). */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}
