import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { run } from './helpers.js';

const nabDir = fileURLToPath(new URL('../../scorers/testdata/nab', import.meta.url));

describe('outflow nab', () => {
  it('scores the default detector on the committed NAB corpus and prints the three profiles last', async () => {
    const r = await run(['nab', nabDir]);
    expect(r.code).toBe(0);
    const last = r.stdout.trim().split('\n').at(-1) ?? '';
    const m = /^NAB standard=([\d.]+) reward_low_FP=([\d.]+) reward_low_FN=([\d.]+)$/.exec(last);
    expect(m).not.toBeNull();
    expect(Number(m?.[1])).toBeGreaterThanOrEqual(70);
  }, 120_000);

  it('reproduces Numenta HTM from its published scores', async () => {
    const r = await run(['nab', nabDir, '--detector', 'numenta']);
    expect(r.code).toBe(0);
    const last = r.stdout.trim().split('\n').at(-1) ?? '';
    const [std, fp, fn] = [...last.matchAll(/=([\d.]+)/g)].map((x) => Number(x[1]));
    expect(Math.abs((std ?? 0) - 70.1)).toBeLessThanOrEqual(0.1);
    expect(Math.abs((fp ?? 0) - 63.12)).toBeLessThanOrEqual(0.1);
    expect(Math.abs((fn ?? 0) - 74.32)).toBeLessThanOrEqual(0.1);
  }, 120_000);
});
