import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One measured figure, as written to results JSON and docs/performance.md. */
export interface Figure {
  /** Stable id, e.g. `decode.aws_vpc_flow`. */
  id: string;
  title: string;
  value: number;
  unit: string;
  /** Ratio to a baseline measured side by side in the same process and run. */
  ratio?: { value: number; to: string };
  /** The target in words, e.g. `>= 0.5 of bare parse`. */
  target?: string;
  met?: boolean;
  notes?: string;
  /** Raw data behind the figure (samples of a curve), kept in the results JSON only. */
  data?: unknown;
}

export interface Measurement {
  /** Items per second, median over runs. */
  perSecond: number;
  /** Median wall time of one run, ms. */
  medianMs: number;
  /** Items processed per run (as returned by the body). */
  items: number;
  runsMs: number[];
}

export interface MeasureOptions {
  /** Unmeasured runs first. Default 1. */
  warmup?: number;
  /** Measured runs; the median is reported. Default 3 (2 in quick mode). */
  runs?: number;
}

export interface Harness {
  /**
   * Run `body` (which returns how many items it processed) `warmup` times,
   * then `runs` times, and report the median.
   */
  measure(body: Body, options?: MeasureOptions): Promise<Measurement>;
  /**
   * Measure several bodies interleaved (a, b, a, b, ...) so that machine noise
   * hits them alike; use for ratios.
   */
  compare(bodies: Record<string, Body>, options?: MeasureOptions): Promise<Record<string, Measurement>>;
  /** A fresh scratch directory. */
  tmpDir(): string;
  /** Quick mode (`--quick`): fewer runs and smaller inputs, for smoke-testing suites. */
  readonly quick: boolean;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * What a body returns: the items it processed, or the items and the wall time
 * it measured itself (to leave out setup that a long-running process pays
 * once, such as starting worker threads).
 */
export type BodyResult = number | { items: number; ms: number };
export type Body = () => BodyResult | Promise<BodyResult>;

async function timeOnce(body: Body): Promise<{ ms: number; items: number }> {
  const start = process.hrtime.bigint();
  const result = await body();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  return typeof result === 'number' ? { ms, items: result } : result;
}

export function createHarness(quick = false): Harness {
  // One warm-up and the median of three runs by default: `npm run bench` runs every suite in under ten minutes.
  const defaults = (o?: MeasureOptions) => ({ warmup: o?.warmup ?? 1, runs: o?.runs ?? (quick ? 2 : 3) });
  const summarize = (runs: { ms: number; items: number }[]): Measurement => {
    const perSecond = median(runs.map((r) => (r.items / r.ms) * 1000));
    return { perSecond, medianMs: median(runs.map((r) => r.ms)), items: runs[0]?.items ?? 0, runsMs: runs.map((r) => r.ms) };
  };
  return {
    quick,
    tmpDir: () => mkdtempSync(join(tmpdir(), 'outflow-bench-')),
    async measure(body, options) {
      const { warmup, runs } = defaults(options);
      for (let i = 0; i < warmup; i++) await body();
      const results: { ms: number; items: number }[] = [];
      for (let i = 0; i < runs; i++) results.push(await timeOnce(body));
      return summarize(results);
    },
    async compare(bodies, options) {
      const { warmup, runs } = defaults(options);
      const names = Object.keys(bodies);
      for (let i = 0; i < warmup; i++) for (const n of names) await (bodies[n] as Body)();
      const results: Record<string, { ms: number; items: number }[]> = Object.fromEntries(names.map((n) => [n, []]));
      for (let i = 0; i < runs; i++) {
        for (const n of names) results[n]?.push(await timeOnce(bodies[n] as Body));
      }
      return Object.fromEntries(names.map((n) => [n, summarize(results[n] as { ms: number; items: number }[])]));
    },
  };
}

/** A benchmark suite. Each suite runs in its own Node process. */
export interface Suite {
  name: string;
  description: string;
  /** Extra Node/V8 flags for the suite's process (e.g. `--single-threaded-gc`). */
  execArgv?: readonly string[];
  run(harness: Harness): Promise<Figure[]>;
}

/**
 * CPU time (user + system of the whole process: every thread, GC included)
 * of several bodies run interleaved, the median of `runs` after one warm-up
 * round, in µs per run. On a machine shared with other work, wall time
 * charges a body for waiting on the CPU; CPU time charges only its work.
 * Meaningful for single-threaded bodies.
 */
export async function compareCpu(bodies: Record<string, () => unknown>, runs: number): Promise<Record<string, number>> {
  const names = Object.keys(bodies);
  const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let i = 0; i <= runs; i++) {
    for (const n of names) {
      const start = process.cpuUsage();
      await (bodies[n] as () => unknown)();
      const used = process.cpuUsage(start);
      if (i > 0) samples[n]?.push(used.user + used.system);
    }
  }
  return Object.fromEntries(names.map((n) => [n, median(samples[n] as number[])]));
}
