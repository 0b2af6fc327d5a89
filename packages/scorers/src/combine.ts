import { jsonBytes } from '@outflow/baselines';
import type { Baseline, Score, Scorer } from '@outflow/core';
import { explanation, type Model } from './model.js';

/** One member of a combination: its own baseline and scorer, an optional feature mapping and weight. */
export interface Part<F> {
  // biome-ignore lint/suspicious/noExplicitAny: parts hold baselines of different state and feature types
  baseline: Baseline<any, any>;
  // biome-ignore lint/suspicious/noExplicitAny: see above
  scorer: Scorer<any, any>;
  /** Feature for this part from the combined feature; `undefined` skips the part for that observation. Default: the feature itself. */
  feature?: (feature: F) => unknown;
  /** Weight in `weighted` (relative) and `noisy_or` (in [0, 1]) modes. Default 1. */
  weight?: number;
}

export type CombineMode = 'max' | 'weighted' | 'noisy_or';

/** Each part's state under its name. */
export interface CompositeState {
  n: number;
  since: number;
  parts: Record<string, unknown>;
}

interface Member<F> extends Part<F> {
  name: string;
  weight: number;
  prob: (state: unknown, feature: unknown, time: number) => number;
  val: (state: unknown, feature: unknown, time: number) => number;
}

/**
 * Combine several baseline+scorer pairs into one model. Every part learns
 * from every observation; the combined probability is the highest part
 * probability (`max`), the weighted mean of them (`weighted`), or
 * 1 − Π(1 − weight·p) (`noisy_or`, for independent evidence). The explanation
 * is the strongest part's, prefixed with its name, and lists every part's
 * probability in `details`. In `max` mode `value` is the strongest part's own
 * value; in the other modes it is the combined probability.
 */
export function combine<F>(parts: Record<string, Part<F>>, options: { mode?: CombineMode } = {}): Model<CompositeState, F> {
  const mode = options.mode ?? 'max';
  const members: Member<F>[] = Object.entries(parts).map(([name, p]) => {
    const weight = p.weight ?? 1;
    if (!(weight >= 0)) throw new RangeError(`combine: part "${name}" weight must be >= 0`);
    if (mode === 'noisy_or' && weight > 1) throw new RangeError(`combine: part "${name}" weight must be <= 1 in noisy_or mode`);
    const scorer = p.scorer;
    const prob = scorer.probability
      ? (s: unknown, f: unknown, t: number) => (scorer.probability as (s: unknown, f: unknown, t: number) => number)(s, f, t)
      : (s: unknown, f: unknown, t: number) => scorer.score(s, f, t).probability;
    const val = scorer.value
      ? (s: unknown, f: unknown, t: number) => (scorer.value as (s: unknown, f: unknown, t: number) => number)(s, f, t)
      : (s: unknown, f: unknown, t: number) => scorer.score(s, f, t).value;
    return { ...p, name, weight, prob, val };
  });
  if (members.length === 0) throw new RangeError('combine: at least one part');
  const totalWeight = members.reduce((a, m) => a + m.weight, 0);
  const label = `${mode}(${members.map((m) => m.name).join(', ')})`;

  const baseline: Baseline<CompositeState, F> = {
    type: `composite_${mode}`,
    init(time) {
      const states: Record<string, unknown> = {};
      for (const m of members) states[m.name] = m.baseline.init(time);
      return { n: 0, since: time, parts: states };
    },
    update(state, feature, time) {
      let learned = false;
      for (const m of members) {
        const f = m.feature ? m.feature(feature) : feature;
        if (f === undefined) continue;
        const before = m.baseline.samples(state.parts[m.name]);
        state.parts[m.name] = m.baseline.update(state.parts[m.name], f, time);
        if (m.baseline.samples(state.parts[m.name]) > before) learned = true;
      }
      if (learned) {
        if (state.n === 0) state.since = time;
        state.n++;
      }
      return state;
    },
    samples: (state) => state.n,
    since: (state) => state.since,
    sizeOf: (state) => jsonBytes(state),
  };

  const combineProbabilities = (probs: number[]): number => {
    if (mode === 'max') {
      let best = 0;
      for (const p of probs) if (p > best) best = p;
      return best;
    }
    if (mode === 'weighted') {
      if (totalWeight <= 0) return 0;
      let sum = 0;
      for (let i = 0; i < probs.length; i++) sum += (members[i] as Member<F>).weight * (probs[i] as number);
      return sum / totalWeight;
    }
    let keep = 1;
    for (let i = 0; i < probs.length; i++) keep *= 1 - (members[i] as Member<F>).weight * (probs[i] as number);
    return 1 - keep;
  };

  const scorer: Scorer<CompositeState, F> = {
    type: `combine_${mode}`,
    probability(state, feature, time) {
      if (mode === 'max') {
        let best = 0;
        for (const m of members) {
          const f = m.feature ? m.feature(feature) : feature;
          if (f === undefined) continue;
          const p = m.prob(state.parts[m.name], f, time);
          if (p > best) best = p;
        }
        return best;
      }
      const probs = members.map((m) => {
        const f = m.feature ? m.feature(feature) : feature;
        return f === undefined ? 0 : m.prob(state.parts[m.name], f, time);
      });
      return combineProbabilities(probs);
    },
    value(state, feature, time) {
      if (mode !== 'max') return (scorer.probability as (s: CompositeState, f: F, t: number) => number)(state, feature, time);
      let best = -1;
      let value = 0;
      for (const m of members) {
        const f = m.feature ? m.feature(feature) : feature;
        if (f === undefined) continue;
        const s = state.parts[m.name];
        const p = m.prob(s, f, time);
        if (p > best) {
          best = p;
          value = m.val(s, f, time);
        } else if (p === best) {
          const v = m.val(s, f, time);
          if (v > value) value = v;
        }
      }
      return value;
    },
    score(state, feature, time): Score {
      const scores = members.map((m) => {
        const f = m.feature ? m.feature(feature) : feature;
        return f === undefined ? undefined : (m.scorer.score(state.parts[m.name], f, time) as Score);
      });
      const probs = scores.map((s) => s?.probability ?? 0);
      const probability = combineProbabilities(probs);
      let top = -1;
      for (let i = 0; i < scores.length; i++) {
        const s = scores[i];
        if (!s) continue;
        const best = top >= 0 ? (scores[top] as Score) : undefined;
        if (!best || s.probability > best.probability || (s.probability === best.probability && s.value > best.value)) top = i;
      }
      const details: Record<string, number | string | boolean> = {};
      members.forEach((m, i) => {
        details[m.name] = probs[i] as number;
      });
      const lead = top >= 0 ? (scores[top] as Score) : undefined;
      const name = top >= 0 ? (members[top] as Member<F>).name : '';
      if (lead) details.strongest = name;
      return {
        value: mode === 'max' ? (lead?.value ?? 0) : probability,
        probability,
        explanation: explanation(
          baseline,
          state,
          time,
          label,
          lead ? `${name}: ${lead.explanation.observed}` : String(feature),
          lead ? `${name}: ${lead.explanation.expected}` : 'no part could score this observation',
          details,
        ),
      };
    },
  };
  return { baseline, scorer };
}
