import { EwmaBaseline } from '@outflow/baselines';
import { detect } from '@outflow/core';
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { ZScoreScorer } from '../src/index.js';

// The README example, with its printed line asserted.
describe('README example', () => {
  it('prints what the README says', () => {
    interface Flow {
      workload: string;
      bytes: number;
      time: number;
    }
    const t0 = Date.UTC(2024, 0, 1);
    const baseline = new EwmaBaseline({ halfLifeMs: 3_600_000, clipSigma: 4 });
    const bytesPerMinute = detect({
      key: (f: Flow) => f.workload,
      feature: (f: Flow) => f.bytes,
      baseline,
      scorer: new ZScoreScorer(baseline, { direction: 'up' }),
      threshold: 0.9999,
      learning: { minSamples: 60, minAgeMs: 3_600_000 },
      reference: { refreshMs: 86_400_000 },
    });
    const lines: string[] = [];
    const flows = new Subject<Flow>();
    flows.pipe(bytesPerMinute).subscribe((a) => lines.push(`${a.key}: ${a.score.explanation.observed}, expected ${a.score.explanation.expected}`));
    for (let i = 0; i < 120; i++) flows.next({ workload: 'shop/api', bytes: 5e6 + (i % 5) * 1e5, time: t0 + i * 60_000 });
    flows.next({ workload: 'shop/api', bytes: 9e8, time: t0 + 120 * 60_000 });
    expect(lines).toEqual(['shop/api: 900M, expected 5.202M ± 141.4k (mean ± σ)']);
  });
});
