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
  /** Unmeasured runs first. Default 2. */
  warmup?: number;
  /** Measured runs; the median is reported. Default 5. */
  runs?: number;
}

export interface Harness {
  /**
   * Run `body` (which returns how many items it processed) `warmup` times,
   * then `runs` times, and report the median.
   */
  measure(body: () => number | Promise<number>, options?: MeasureOptions): Promise<Measurement>;
  /**
   * Measure several bodies interleaved (a, b, a, b, ...) so that machine noise
   * hits them alike; use for ratios.
   */
  compare(bodies: Record<string, () => number | Promise<number>>, options?: MeasureOptions): Promise<Record<string, Measurement>>;
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

async function timeOnce(body: () => number | Promise<number>): Promise<{ ms: number; items: number }> {
  const start = process.hrtime.bigint();
  const items = await body();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  return { ms, items };
}

export function createHarness(quick = false): Harness {
  const defaults = (o?: MeasureOptions) => ({ warmup: o?.warmup ?? (quick ? 1 : 2), runs: o?.runs ?? (quick ? 2 : 5) });
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
      for (let i = 0; i < warmup; i++) for (const n of names) await (bodies[n] as () => number | Promise<number>)();
      const results: Record<string, { ms: number; items: number }[]> = Object.fromEntries(names.map((n) => [n, []]));
      for (let i = 0; i < runs; i++) {
        for (const n of names) results[n]?.push(await timeOnce(bodies[n] as () => number | Promise<number>));
      }
      return Object.fromEntries(names.map((n) => [n, summarize(results[n] as { ms: number; items: number }[])]));
    },
  };
}

/** A benchmark suite. Each suite runs in its own Node process. */
export interface Suite {
  name: string;
  description: string;
  run(harness: Harness): Promise<Figure[]>;
}
