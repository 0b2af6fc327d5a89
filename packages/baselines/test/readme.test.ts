import { describe, expect, it } from 'vitest';
import { EwmaBaseline, FirstSeenBaseline, SketchBaseline } from '../src/index.js';

// The README example, with its printed values asserted.
describe('README example', () => {
  it('prints what the README says', () => {
    const t0 = Date.UTC(2024, 0, 1);
    const bytes = new EwmaBaseline({ halfLifeMs: 6 * 3_600_000, clipSigma: 4 });
    let s = bytes.init(t0);
    for (let i = 0; i < 600; i++) s = bytes.update(s, 5e6 + (i % 7) * 1e5, t0 + i * 60_000);
    const line1 = [bytes.mean(s).toFixed(0), Math.sqrt(bytes.variance(s)).toFixed(0), bytes.samples(s)].join(' ');

    const sizes = new SketchBaseline({ relativeAccuracy: 0.01 });
    let q = sizes.init(t0);
    for (let i = 1; i <= 1000; i++) q = sizes.update(q, i * 1000, t0 + i);
    const p99 = sizes.quantile(q, 0.99) / 1000;

    const seen = new FirstSeenBaseline({ forgetMs: 30 * 86_400_000 });
    let d = seen.init(t0);
    d = seen.update(d, 'backup.s3.amazonaws.com', t0);
    expect([seen.known(d, 'backup.s3.amazonaws.com', t0 + 86_400_000), seen.known(d, 'attacker.example', t0)]).toEqual([true, false]);
    expect(Math.abs(p99 - 990) / 990).toBeLessThan(0.01);
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
    expect(line1).toBe('5299366 199647 600');
  });
});
