import { EwmaBaseline } from '@outflow/baselines';
import { ConfigError } from '@outflow/core';
import { MIN, T0 } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import { createModel, SCORERS, zScoreScorer } from '../src/index.js';

describe('scorer components', () => {
  it('have snake_case types, a kind, a stability and a description', () => {
    for (const [type, f] of Object.entries(SCORERS)) {
      expect(f.type).toBe(type);
      expect(f.kind).toBe('scorer');
      expect(f.description.length).toBeGreaterThan(10);
      expect(f.validate(f.type === 'threshold' ? { above: 1 } : {})).toBeDefined();
    }
  });

  it('report every invalid option with its path', () => {
    try {
      zScoreScorer.validate({ direction: 'sideways', minStd: -1, nope: 1 }, 'scorer');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).issues.map((i) => i.path).sort()).toEqual(['scorer', 'scorer.direction', 'scorer.minStd']);
    }
  });
});

describe('createModel', () => {
  it('builds a baseline and its scorer from plain configuration', () => {
    const m = createModel({ baseline: { type: 'ewma', halfLifeSamples: 50 }, scorer: { type: 'z_score', direction: 'up' } });
    expect(m.baseline).toBeInstanceOf(EwmaBaseline);
    let s = m.baseline.init(T0);
    for (let i = 0; i < 100; i++) s = m.baseline.update(s, 10 + (i % 3), T0 + i * MIN);
    expect(m.scorer.score(s, 100, T0 + 100 * MIN).probability).toBe(1);
  });

  it('reports unknown types and bad options together, with paths', () => {
    try {
      createModel({ baseline: { type: 'ewma', halfLifeMs: -5 }, scorer: { type: 'nonsense' } }, 'detections[0].model');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const paths = (err as ConfigError).issues.map((i) => i.path);
      expect(paths).toContain('detections[0].model.scorer.type');
      expect(paths).toContain('detections[0].model.baseline.halfLifeMs');
    }
  });

  it('refuses a scorer that cannot read the baseline', () => {
    expect(() => createModel({ baseline: { type: 'first_seen' }, scorer: { type: 'z_score' } })).toThrow(
      /z_score.*"first_seen" has no mean, variance, support/,
    );
    expect(() => createModel({ baseline: { type: 'count_min' }, scorer: { type: 'rarity' } })).not.toThrow();
    expect(() => createModel({ baseline: { type: 'quantile_sketch' }, scorer: { type: 'out_of_range', tolerance: 0.1 } })).not.toThrow();
  });
});
