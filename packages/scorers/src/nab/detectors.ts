import { EwmaBaseline, SeasonalBaseline, SketchBaseline, TransitionBaseline, WelfordBaseline } from '@outflow/baselines';
import { combine } from '../combine.js';
import { likelihood } from '../likelihood.js';
import { logScale } from '../math.js';
import type { Model } from '../model.js';
import { OutOfRangeScorer } from '../quantile.js';
import { TransitionSurpriseScorer } from '../set-scorers.js';
import { RobustZScorer, ZScoreScorer } from '../z-score.js';

/** What a NAB detector learns about a file before its first row: what every NAB detector is given. */
export interface NabFileInfo {
  /** Relative path, e.g. `realKnownCause/nyc_taxi.csv`. */
  name: string;
  rows: number;
  /** Rows of the probation period (15 %, at most 750). */
  probationaryRows: number;
}

/**
 * A streaming detector rated by NAB: for each file, a fresh per-row function
 * returning an anomaly score in [0, 1], called once per row in order, with
 * no look-ahead.
 */
export interface NabDetector {
  readonly name: string;
  readonly description: string;
  create(file: NabFileInfo): (timestamp: number, value: number) => number;
}

export interface ModelDetectorOptions {
  /**
   * Map the model's score to the NAB score: its probability as is, its probability on Numenta's log scale
   * (0.5 at 1 − 1e-5), or its value v as v / (v + 10) (for z values, which saturate the probability). Default `probability`.
   */
  output?: 'probability' | 'log' | 'value';
  /** After a row scores at least `level`, rows in the next `forMs` of event time are multiplied by `factor`: one incident, one detection. */
  suppress?: { level: number; forMs: number; factor: number };
}

/** Rate a baseline+scorer model on NAB: score each row against the model, then learn it. */
export function modelDetector(
  name: string,
  description: string,
  // biome-ignore lint/suspicious/noExplicitAny: any model state
  build: (file: NabFileInfo) => Model<any, number>,
  options: ModelDetectorOptions = {},
): NabDetector {
  return {
    name,
    description,
    create(file) {
      const { baseline, scorer } = build(file);
      const probability = scorer.probability ? scorer.probability.bind(scorer) : (s: unknown, f: number, t: number) => scorer.score(s, f, t).probability;
      const value = scorer.value ? scorer.value.bind(scorer) : (s: unknown, f: number, t: number) => scorer.score(s, f, t).value;
      const output = options.output ?? 'probability';
      const suppress = options.suppress;
      let state: unknown;
      let last = Number.NEGATIVE_INFINITY;
      return (t, v) => {
        if (state === undefined) state = baseline.init(t);
        let score: number;
        if (output === 'value') {
          const z = value(state, v, t);
          score = z > 0 ? z / (z + 10) : 0;
        } else {
          const p = probability(state, v, t);
          score = output === 'log' ? logScale(p) : p;
        }
        if (suppress) {
          if (t - last < suppress.forMs) score *= suppress.factor;
          else if (score >= suppress.level) last = t;
        }
        state = baseline.update(state, v, t);
        return score;
      };
    },
  };
}

const HOUR = 3_600_000;
const halfLifeOf = (alpha: number) => Math.log(0.5) / Math.log(1 - alpha);

/** The knobs of Outflow's NAB configuration (the defaults are the one parameter set reported). */
export interface OutflowNabOptions {
  /** Likelihood averaging window. Default 15. */
  window?: number;
  /** Markov quantisation levels. Default 20. */
  levels?: number;
  /** EWMA smoothing per observation (α) and the |z| that saturates the raw score. Defaults 0.01 and 2. */
  levelAlpha?: number;
  levelScale?: number;
  /** Hour-of-day profile smoothing (α per bucket observation) and saturating |z|. Defaults 0.02 and 8. */
  seasonAlpha?: number;
  seasonScale?: number;
  /** Range novelty tolerance (fraction of the range). Default 0.05. */
  tolerance?: number;
  /** Suppression after a detection, ms of event time. Default 24 h. */
  suppressMs?: number;
}

/**
 * Outflow's NAB configuration — one parameter set for all 58 files. Four
 * parts, the highest wins:
 * - `sequence`: anomaly likelihood (window 15) of a first-order Markov model over 20 levels of the range seen in the first half of probation;
 * - `level`: anomaly likelihood of |z| / 2 against an EWMA (α 0.01);
 * - `season`: anomaly likelihood of |z| / 8 against an hour-of-day profile (each hour an EWMA, α 0.02);
 * - `range`: a new extreme beyond the range seen so far ± 5 % of its width.
 * The likelihoods say nothing during probation and leave its first half out of their distribution.
 */
export function outflowNabModel(file: NabFileInfo, options: OutflowNabOptions = {}): Model<unknown, number> {
  const probation = file.probationaryRows;
  const lik = { window: options.window ?? 15, warmupSamples: probation, skipSamples: Math.floor(probation / 2) };
  const transition = new TransitionBaseline({ levels: options.levels ?? 20, warmupSamples: Math.max(10, Math.floor(probation / 2)) });
  const ewma = new EwmaBaseline({ halfLifeSamples: halfLifeOf(options.levelAlpha ?? 0.01) });
  const seasonal = new SeasonalBaseline({ bucketMs: HOUR, buckets: 24, halfLifeSamples: halfLifeOf(options.seasonAlpha ?? 0.02), minBucketSamples: 4 });
  const welford = new WelfordBaseline();
  const model = combine<number>(
    {
      sequence: likelihood({ baseline: transition, scorer: new TransitionSurpriseScorer(transition) }, lik),
      level: likelihood(
        { baseline: ewma, scorer: new ZScoreScorer(ewma, { minStd: 1e-6, minRelStd: 0, minSupport: 2 }) },
        { ...lik, input: 'value', scale: options.levelScale ?? 2 },
      ),
      season: likelihood(
        { baseline: seasonal, scorer: new ZScoreScorer(seasonal, { minStd: 1e-6, minRelStd: 0, minSupport: 4 }) },
        { ...lik, input: 'value', scale: options.seasonScale ?? 8 },
      ),
      range: { baseline: welford, scorer: new OutOfRangeScorer(welford, { tolerance: options.tolerance ?? 0.05 }) },
    },
    { mode: 'max' },
  );
  return model as Model<unknown, number>;
}

/** Outflow's NAB detector: `outflowNabModel` on the log scale, scores halved for `suppressMs` after a detection (≥ 0.5). */
export function outflowNabDetector(options: OutflowNabOptions = {}): NabDetector {
  return modelDetector(
    'outflow',
    'max of anomaly likelihoods (Markov levels, EWMA z, hour-of-day z) and range novelty; 24 h suppression',
    (file) => outflowNabModel(file, options),
    { output: 'log', suppress: { level: 0.5, forMs: options.suppressMs ?? 24 * HOUR, factor: 0.5 } },
  );
}

/** Built-in detectors for `outflow nab --detector <name>`. */
export const NAB_DETECTORS: Readonly<Record<string, NabDetector>> = {
  outflow: outflowNabDetector(),
  z_score: modelDetector(
    'z_score',
    'two-sided |z| against an EWMA (α 0.01), scored |z| / (|z| + 10)',
    () => {
      const b = new EwmaBaseline({ halfLifeSamples: halfLifeOf(0.01) });
      return { baseline: b, scorer: new ZScoreScorer(b, { minRelStd: 0, minStd: 1e-6, minSupport: 2 }) };
    },
    { output: 'value' },
  ),
  robust_z: modelDetector(
    'robust_z',
    'two-sided robust |z| (median, scaled MAD floored at 1 % of the median) against a quantile sketch with a 3-day half-life, scored |z| / (|z| + 10)',
    () => {
      const b = new SketchBaseline({ halfLifeMs: 3 * 24 * HOUR });
      return { baseline: b, scorer: new RobustZScorer(b) };
    },
    { output: 'value' },
  ),
  out_of_range: modelDetector('out_of_range', 'a new extreme beyond the range seen so far ± 5 % of its width', () => {
    const b = new WelfordBaseline();
    return { baseline: b, scorer: new OutOfRangeScorer(b, { tolerance: 0.05 }) };
  }),
};
