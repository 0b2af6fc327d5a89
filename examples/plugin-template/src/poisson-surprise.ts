import { defineComponent, type Score, type Scorer, z } from '@outflow/core';

/** The part of a baseline's state this scorer reads: a mean rate and how long it has been learned. Any EWMA or Welford state fits. */
export interface RateState {
  n: number;
  since: number;
  mean: number;
}

/** log P(X = k) for X ~ Poisson(λ), by Stirling–Lanczos log-gamma. */
function logPoissonPmf(k: number, lambda: number): number {
  return k * Math.log(lambda) - lambda - logGamma(k + 1);
}

function logGamma(x: number): number {
  const g = 7;
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012,
    9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const y = x - 1;
  let a = c[0] as number;
  const t = y + g + 0.5;
  for (let i = 1; i < g + 2; i++) a += (c[i] as number) / (y + i);
  return 0.5 * Math.log(2 * Math.PI) + (y + 0.5) * Math.log(t) - t + Math.log(a);
}

/** P(X ≥ k) for X ~ Poisson(λ), summing the upper tail in log space (stable for large k). */
export function poissonUpperTail(k: number, lambda: number): number {
  if (k <= 0) return 1;
  if (lambda <= 0) return 0;
  let logTerm = logPoissonPmf(k, lambda);
  let sum = 0;
  for (let i = k; i < k + 1000; i++) {
    const term = Math.exp(logTerm);
    sum += term;
    if (term < sum * 1e-12) break;
    logTerm += Math.log(lambda) - Math.log(i + 1);
  }
  return Math.min(1, sum);
}

/**
 * Scores a count (connections, API calls, secrets read per window) by how surprising it is under a Poisson model
 * whose rate is the baseline's mean: value = −log10 P(X ≥ k), probability = 1 − P(X ≥ k). Counts at or below the
 * mean are not surprising. Bad input (negative, NaN) scores 0 with an explanation.
 */
export class PoissonSurpriseScorer implements Scorer<RateState, number> {
  readonly type = 'poisson_surprise';

  score(state: RateState, k: number, time: number): Score {
    const lambda = Math.max(state.mean, 1e-9);
    const explanation = {
      scorer: this.type,
      observed: Number.isFinite(k) ? `${k} events` : `invalid (${k})`,
      expected: `about ${lambda.toFixed(1)} (Poisson mean)`,
      baselineAgeMs: Math.max(0, time - state.since),
      samples: state.n,
    };
    if (!Number.isFinite(k) || k < 0) return { value: 0, probability: 0, explanation };
    const count = Math.round(k);
    const tail = count <= lambda ? 1 : poissonUpperTail(count, lambda);
    const value = -Math.log10(Math.max(tail, 1e-300));
    return { value, probability: 1 - tail, explanation: { ...explanation, details: { tail } } };
  }
}

export const poissonSurpriseScorer = defineComponent({
  type: 'poisson_surprise',
  kind: 'scorer',
  stability: 'alpha',
  description: 'How surprising a count is under a Poisson model with the baseline mean as its rate',
  schema: z.object({}).strict(),
  create: () => new PoissonSurpriseScorer(),
});
