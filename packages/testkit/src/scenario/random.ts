/** A small, fast, seeded PRNG (mulberry32) so generated telemetry is identical for identical seeds. */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Normal(mean, sd) by Box–Muller. */
  normal(mean: number, sd: number): number {
    const u = Math.max(this.next(), 1e-12);
    const v = this.next();
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Log-normal with the given median and spread (sd of the log). */
  logNormal(median: number, sigma: number): number {
    return Math.exp(this.normal(Math.log(median), sigma));
  }

  /** A version-4-shaped UUID from the generator. */
  uuid(): string {
    const hex = (n: number) => Array.from({ length: n }, () => Math.floor(this.next() * 16).toString(16)).join('');
    return `${hex(8)}-${hex(4)}-4${hex(3)}-${(8 + Math.floor(this.next() * 4)).toString(16)}${hex(3)}-${hex(12)}`;
  }

  hex(n: number): string {
    return Array.from({ length: n }, () => Math.floor(this.next() * 16).toString(16)).join('');
  }

  /** Upper-case alphanumeric id, e.g. for AWS access key ids. */
  alnum(n: number): string {
    const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
    return Array.from({ length: n }, () => chars[Math.floor(this.next() * chars.length)]).join('');
  }
}

/** Uniform draws in [0, 1) from a seeded `Random`, as a function: deterministic tests. */
export function rng(seed: number): () => number {
  const random = new Random(seed);
  return () => random.next();
}

/** Standard normal draws (Box–Muller, two uniform draws each) from a seeded `rng`. */
export function gaussian(seed: number): () => number {
  const r = rng(seed);
  return () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/** `length` normal draws with `mean` and `sd` from `gaussian(seed)`, as a sample function that cycles through them. */
export function normalSamples(seed: number, length: number, mean: number, sd: number): (i: number) => number {
  const g = gaussian(seed);
  const values = Array.from({ length }, () => mean + sd * g());
  return (i) => values[i % values.length] as number;
}
