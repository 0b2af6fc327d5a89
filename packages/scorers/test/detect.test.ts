import { EwmaBaseline, FirstSeenBaseline, SketchBaseline } from '@outflow/baselines';
import { type Anomaly, detect } from '@outflow/core';
import { HOUR, MIN, rng, T0 } from '@outflow/testkit';
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { combine, NoveltyScorer, QuantileExceedanceScorer, ZScoreScorer } from '../src/index.js';

interface Flow {
  workload: string;
  dest: string;
  bytes: number;
  time: number;
}

function run<F, S>(op: ReturnType<typeof detect<Flow, string, F, S>>, flows: Flow[]): Anomaly<Flow, string, F>[] {
  const out: Anomaly<Flow, string, F>[] = [];
  const input = new Subject<Flow>();
  input.pipe(op).subscribe((a) => out.push(a));
  for (const f of flows) input.next(f);
  return out;
}

/**
 * Two days of normal traffic (5 MB ± 10 % per minute, uniform noise), then a
 * slow ramp to 10× over a week: each minute it moves less than the noise.
 */
function rampScenario(): { normal: Flow[]; ramp: Flow[] } {
  const r = rng(21);
  const noise = () => 1 + 0.2 * (r() - 0.5);
  const normal = Array.from({ length: 2 * 24 * 60 }, (_, i) => ({ workload: 'payments', dest: 's3', bytes: 5e6 * noise(), time: T0 + i * MIN }));
  const start = T0 + 2 * 24 * HOUR;
  const n = 7 * 24 * 60;
  const ramp = Array.from({ length: n }, (_, i) => ({ workload: 'payments', dest: 's3', bytes: 5e6 * (1 + (9 * i) / n) * noise(), time: start + i * MIN }));
  return { normal, ramp };
}

describe('detect with real baselines: poisoning', () => {
  const make = (guarded: boolean) => {
    const ewma = new EwmaBaseline({ halfLifeMs: HOUR, ...(guarded ? { clipSigma: 3 } : {}) });
    return detect<Flow, string, number, ReturnType<EwmaBaseline['init']>>({
      key: (f) => f.workload,
      feature: (f) => f.bytes,
      baseline: ewma,
      scorer: new ZScoreScorer(ewma, { direction: 'up' }),
      threshold: 0.9999,
      learning: { minSamples: 60, minAgeMs: HOUR },
      ...(guarded ? { reference: { refreshMs: 24 * HOUR } } : {}),
    });
  };

  it('an unguarded EWMA that learns everything below the threshold follows a slow ramp and never fires', () => {
    const { normal, ramp } = rampScenario();
    const op = make(false);
    expect(run(op, normal)).toHaveLength(0);
    expect(run(op, ramp)).toHaveLength(0);
    // It has learned that 50 MB a minute is normal:
    const state = op.snapshot().entries[0]?.value.state as { mean: number };
    expect(state.mean).toBeGreaterThan(4.5e7);
  });

  it('with winsorised learning and a frozen daily reference, the ramp fires within its first day and keeps firing', () => {
    const { normal, ramp } = rampScenario();
    const op = make(true);
    expect(run(op, normal)).toHaveLength(0);
    const fired = run(op, ramp);
    const first = fired[0] as Anomaly<Flow, string, number>;
    expect(first.time - (ramp[0] as Flow).time).toBeLessThan(24 * HOUR);
    expect(first.feature).toBeLessThan(5e6 * 1.5);
    // From then on, nearly every minute of the ramp is raised: neither baseline learned it.
    expect(fired.length).toBeGreaterThan(ramp.length * 0.8);
    // The frozen reference still says 5 MB is normal at the end of the ramp.
    const last = fired[fired.length - 1] as Anomaly<Flow, string, number>;
    expect(last.reference?.explanation.expected).toMatch(/^(4\.9\d*|5\.0\d*)M ± 2\d\d(\.\d)?k \(mean ± σ\)$/);
    expect(last.score.explanation.observed).toMatch(/M$/);
  });
});

describe('detect with real baselines: a T1537-shaped feature', () => {
  it('flags a new destination and an outsized transfer per workload, not other workloads', () => {
    const seen = new FirstSeenBaseline({ forgetMs: 30 * 24 * HOUR });
    const sizes = new SketchBaseline({ halfLifeMs: 7 * 24 * HOUR });
    const model = combine<Flow>({
      destination: { baseline: seen, scorer: new NoveltyScorer(seen), feature: (f) => f.dest },
      volume: { baseline: sizes, scorer: new QuantileExceedanceScorer(sizes, { quantile: 0.999 }), feature: (f) => f.bytes },
    });
    const op = detect({ key: (f: Flow) => f.workload, feature: (f: Flow) => f, ...model, threshold: 1, learning: { minSamples: 100, minAgeMs: 2 * HOUR } });
    const flows: Flow[] = [];
    for (let i = 0; i < 600; i++) {
      flows.push({ workload: 'web', dest: `cdn-${i % 4}`, bytes: 1e4 + (i % 50) * 100, time: T0 + i * MIN });
      flows.push({ workload: 'batch', dest: 'warehouse', bytes: 1e9 + (i % 7) * 1e6, time: T0 + i * MIN });
    }
    flows.push({ workload: 'web', dest: 'attacker-bucket.s3.amazonaws.com', bytes: 1e4, time: T0 + 600 * MIN });
    flows.push({ workload: 'web', dest: 'cdn-1', bytes: 5e8, time: T0 + 601 * MIN });
    flows.push({ workload: 'batch', dest: 'warehouse', bytes: 1e9, time: T0 + 601 * MIN });
    const out = run(op, flows);
    expect(out.map((a) => `${a.key}:${a.score.explanation.details?.strongest}`)).toEqual(['web:destination', 'web:volume']);
    expect(out[0]?.score.explanation.observed).toBe('destination: "attacker-bucket.s3.amazonaws.com" not seen within 30 d');
  });
});
