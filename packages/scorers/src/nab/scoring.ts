/**
 * The Numenta Anomaly Benchmark (NAB v1.1) scoring rules, re-implemented from
 * the description of numenta/NAB's `nab/sweeper.py`, `nab/optimizer.py` and
 * `nab/runner.py`:
 *
 * - every row of a file gets a weight: inside a labelled window, a scaled
 *   sigmoid of its position (earliest row ≈ tpWeight, last row ≈ 0); outside,
 *   a false-positive cost that is small just after a window and `fpWeight`
 *   far from one (or before any window);
 * - the first 15 % of each file (at most 750 rows) is a probation period and
 *   is not scored;
 * - at threshold T a row is a detection when its anomaly score is >= T; a
 *   file scores the sum of its false positives' weights plus, per window, the
 *   best detection's weight or `-fnWeight` when the window has none;
 * - the threshold of a detector and profile is the anomaly score that
 *   maximises the corpus score (an exact sweep over every distinct score);
 * - the normalised score is `100 * (raw - null) / (perfect - null)` with
 *   `null = -windows * fnWeight` and `perfect = windows * tpWeight`.
 */

/** Weights of one application profile (`config/profiles.json`). */
export interface NabCostMatrix {
  tpWeight: number;
  fpWeight: number;
  fnWeight: number;
  tnWeight?: number;
}

export type NabProfileName = 'standard' | 'reward_low_FP_rate' | 'reward_low_FN_rate';

export const NAB_PROFILE_NAMES: readonly NabProfileName[] = ['standard', 'reward_low_FP_rate', 'reward_low_FN_rate'];

/** NAB's three published profiles. */
export const NAB_PROFILES: Readonly<Record<NabProfileName, NabCostMatrix>> = Object.freeze({
  standard: { tpWeight: 1, fpWeight: 0.11, fnWeight: 1, tnWeight: 1 },
  reward_low_FP_rate: { tpWeight: 1, fpWeight: 0.22, fnWeight: 1, tnWeight: 1 },
  reward_low_FN_rate: { tpWeight: 1, fpWeight: 0.11, fnWeight: 2, tnWeight: 1 },
});

/** Fraction of each file that is probation. */
export const NAB_PROBATION_PERCENT = 0.15;

/** `2·sigmoid(-5x) − 1`, and −1 beyond x > 3. */
export function scaledSigmoid(x: number): number {
  if (x > 3) return -1;
  return 2 / (1 + Math.exp(5 * x)) - 1;
}

const MAX_TP = scaledSigmoid(-1);

/** Rows at the start of a file excluded from scoring: `min(floor(p·n), p·5000)`. */
export function probationaryLength(rows: number, percent = NAB_PROBATION_PERCENT): number {
  return Math.min(Math.floor(percent * rows), percent * 5000);
}

/** One labelled data file: its row timestamps (epoch ms) and its anomaly windows as inclusive row-index ranges. */
export interface NabFileLabels {
  /** Relative path, e.g. `realKnownCause/nyc_taxi.csv`. */
  name: string;
  /** Rows in the file. */
  rows: number;
  /** Windows as `[firstRow, lastRow]` (inclusive), in order, not overlapping. */
  windows: readonly (readonly [number, number])[];
}

/**
 * Where each scored row of a file sits, independent of the profile: the
 * window it is in (or -1), and its unweighted score — multiplied by tpWeight
 * inside a window and by fpWeight outside.
 */
export interface NabFileLayout {
  name: string;
  rows: number;
  probation: number;
  windows: number;
  /** Per row: index of its window in the file, -1 outside any window, -2 in the probation period. */
  window: Int32Array;
  /** Per row: the unweighted score (already divided by the maximum TP score inside a window). */
  unweighted: Float64Array;
}

/** Precompute the row layout of a file (the part of NAB's `calcSweepScore` that does not depend on the profile). */
export function layoutFile(labels: NabFileLabels, probationPercent = NAB_PROBATION_PERCENT): NabFileLayout {
  const n = labels.rows;
  const probation = probationaryLength(n, probationPercent);
  const window = new Int32Array(n);
  const unweighted = new Float64Array(n);
  let w = 0;
  let prevRight = -1;
  let prevWidth = 0;
  for (let i = 0; i < n; i++) {
    const current = labels.windows[w];
    if (current && i >= current[0] && i <= current[1]) {
      const width = current[1] - current[0] + 1;
      const position = -(current[1] - i + 1) / width;
      unweighted[i] = scaledSigmoid(position) / MAX_TP;
      window[i] = w;
      if (i === current[1]) {
        prevRight = i;
        prevWidth = width;
        w++;
      }
    } else {
      // NAB divides by (width - 1): a one-row window gives +Infinity (then -1) or NaN right on it; never happens in the corpus.
      unweighted[i] = prevRight < 0 ? -1 : scaledSigmoid(Math.abs(prevRight - i) / (prevWidth - 1));
      window[i] = -1;
    }
    if (i < probation) window[i] = -2;
  }
  return { name: labels.name, rows: n, probation, windows: labels.windows.length, window, unweighted };
}

/** Score of a detector at one threshold, with its confusion counts (rows, as NAB counts them). */
export interface NabThresholdScore {
  threshold: number;
  score: number;
  tp: number;
  tn: number;
  fp: number;
  fn: number;
}

/** Scored rows of a set of files, sorted by anomaly score (highest first): what every profile's sweep reads. */
export interface NabSweepInput {
  /** Anomaly score, global window id (-1 outside windows) and unweighted score, per scored row, in descending score order. */
  score: Float64Array;
  window: Int32Array;
  unweighted: Float64Array;
  windows: number;
}

/** Collect the scored (non-probation) rows of every file and sort them once by anomaly score, highest first. */
export function prepareSweep(files: readonly { layout: NabFileLayout; scores: ArrayLike<number> }[]): NabSweepInput {
  let n = 0;
  for (const { layout, scores } of files) {
    if (scores.length !== layout.rows) throw new RangeError(`${layout.name}: ${scores.length} anomaly scores for ${layout.rows} rows`);
    for (let i = 0; i < layout.rows; i++) if ((layout.window[i] as number) !== -2) n++;
  }
  const rawScore = new Float64Array(n);
  const rawWindow = new Int32Array(n);
  const rawUnweighted = new Float64Array(n);
  let k = 0;
  let base = 0;
  for (const { layout, scores } of files) {
    for (let i = 0; i < layout.rows; i++) {
      const w = layout.window[i] as number;
      if (w === -2) continue;
      rawScore[k] = scores[i] as number;
      rawWindow[k] = w >= 0 ? base + w : -1;
      rawUnweighted[k] = layout.unweighted[i] as number;
      k++;
    }
    base += layout.windows;
  }
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => (rawScore[b] as number) - (rawScore[a] as number));
  const score = new Float64Array(n);
  const window = new Int32Array(n);
  const unweighted = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const j = order[i] as number;
    score[i] = rawScore[j] as number;
    window[i] = rawWindow[j] as number;
    unweighted[i] = rawUnweighted[j] as number;
  }
  return { score, window, unweighted, windows: base };
}

function isSweepInput(value: unknown): value is NabSweepInput {
  return typeof value === 'object' && value !== null && (value as NabSweepInput).score instanceof Float64Array;
}

/**
 * The corpus score at every distinct threshold, highest threshold first
 * (NAB's `calcScoreByThreshold`); the first entry (threshold 1.1) detects nothing.
 */
export function scoresByThreshold(
  input: NabSweepInput | readonly { layout: NabFileLayout; scores: ArrayLike<number> }[],
  profile: NabCostMatrix,
): NabThresholdScore[] {
  const rows = isSweepInput(input) ? input : prepareSweep(input);
  const n = rows.score.length;
  const windows = rows.windows;
  const best = new Float64Array(windows).fill(-profile.fnWeight);
  // Only windows with at least one scored row count (all of them, in NAB's corpus).
  const present = new Uint8Array(windows);
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < n; i++) {
    const w = rows.window[i] as number;
    if (w >= 0) {
      present[w] = 1;
      fn++;
    } else tn++;
  }
  let windowSum = 0;
  for (let w = 0; w < windows; w++) if (present[w]) windowSum -= profile.fnWeight;
  let fpSum = 0;
  let tp = 0;
  let fp = 0;
  const out: NabThresholdScore[] = [];
  let threshold = 1.1;
  for (let i = 0; i < n; i++) {
    const s = rows.score[i] as number;
    if (s !== threshold) {
      out.push({ threshold, score: fpSum + windowSum, tp, tn, fp, fn });
      threshold = s;
    }
    const w = rows.window[i] as number;
    if (w >= 0) {
      tp++;
      fn--;
      const weight = (rows.unweighted[i] as number) * profile.tpWeight;
      const prev = best[w] as number;
      if (weight > prev) {
        windowSum += weight - prev;
        best[w] = weight;
      }
    } else {
      fp++;
      tn--;
      fpSum += (rows.unweighted[i] as number) * profile.fpWeight;
    }
  }
  out.push({ threshold, score: fpSum + windowSum, tp, tn, fp, fn });
  return out;
}

/** The threshold that maximises the corpus score (the highest such threshold on ties, as NAB's stable sort picks). */
export function optimizeThreshold(
  input: NabSweepInput | readonly { layout: NabFileLayout; scores: ArrayLike<number> }[],
  profile: NabCostMatrix,
): NabThresholdScore {
  const all = scoresByThreshold(input, profile);
  let best = all[0] as NabThresholdScore;
  for (const s of all) if (s.score > best.score) best = s;
  return best;
}

/** Score one file at a fixed threshold: rows with anomaly score >= threshold are detections. */
export function scoreFile(
  layout: NabFileLayout,
  scores: ArrayLike<number>,
  threshold: number,
  profile: NabCostMatrix,
): NabThresholdScore & { detectedWindows: number } {
  if (scores.length !== layout.rows) throw new RangeError(`${layout.name}: ${scores.length} anomaly scores for ${layout.rows} rows`);
  const best = new Float64Array(layout.windows).fill(Number.NEGATIVE_INFINITY);
  let fpSum = 0;
  let tp = 0;
  let tn = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < layout.rows; i++) {
    const w = layout.window[i] as number;
    if (w === -2) continue;
    const hit = (scores[i] as number) >= threshold;
    const u = layout.unweighted[i] as number;
    if (w >= 0) {
      if (hit) {
        tp++;
        const weight = u * profile.tpWeight;
        if (weight > (best[w] as number)) best[w] = weight;
      } else fn++;
    } else if (hit) {
      fp++;
      fpSum += u * profile.fpWeight;
    } else tn++;
  }
  let windowSum = 0;
  let detectedWindows = 0;
  for (let w = 0; w < layout.windows; w++) {
    const b = best[w] as number;
    if (b === Number.NEGATIVE_INFINITY) windowSum -= profile.fnWeight;
    else {
      windowSum += b;
      detectedWindows++;
    }
  }
  return { threshold, score: fpSum + windowSum, tp, tn, fp, fn, detectedWindows };
}

/** NAB's normalisation: 0 for the null detector (never fires), 100 for the perfect one. */
export function normalizeScore(raw: number, windows: number, profile: NabCostMatrix): number {
  const nullScore = -windows * profile.fnWeight;
  const perfect = windows * profile.tpWeight;
  if (perfect === nullScore) return 0;
  return (100 * (raw - nullScore)) / (perfect - nullScore);
}
