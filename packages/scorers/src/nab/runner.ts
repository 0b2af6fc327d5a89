import type { NabCorpus } from './corpus.js';
import type { NabDetector } from './detectors.js';
import {
  layoutFile,
  NAB_PROBATION_PERCENT,
  NAB_PROFILES,
  type NabCostMatrix,
  type NabFileLayout,
  type NabProfileName,
  normalizeScore,
  optimizeThreshold,
  prepareSweep,
  scoreFile,
} from './scoring.js';

export interface NabFileScore {
  name: string;
  category: string;
  windows: number;
  detectedWindows: number;
  score: number;
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

export interface NabProfileResult {
  profile: string;
  /** Threshold that maximises the corpus score. */
  threshold: number;
  raw: number;
  normalized: number;
  files: NabFileScore[];
}

export interface NabResult {
  detector: string;
  files: number;
  windows: number;
  /** Wall time spent running the detector over the corpus, ms (0 for precomputed results). */
  detectMs: number;
  profiles: Record<string, NabProfileResult>;
}

/** Run a detector over every file of the corpus; returns the per-row scores by file name. */
export function runDetector(corpus: NabCorpus, detector: NabDetector, probationPercent = NAB_PROBATION_PERCENT): Map<string, Float64Array> {
  const out = new Map<string, Float64Array>();
  for (const file of corpus.files) {
    const layout = layoutFile(file, probationPercent);
    const next = detector.create({ name: file.name, rows: file.rows, probationaryRows: layout.probation });
    const scores = new Float64Array(file.rows);
    for (let i = 0; i < file.rows; i++) {
      const s = next(file.timestamps[i] as number, file.values[i] as number);
      scores[i] = Number.isFinite(s) ? (s < 0 ? 0 : Math.min(s, 1)) : 0;
    }
    out.set(file.name, scores);
  }
  return out;
}

/**
 * Score per-row anomaly scores the NAB way, for each profile: optimise the
 * corpus threshold, score every file at it, normalise between the null and
 * the perfect detector.
 */
export function scoreNab(
  corpus: NabCorpus,
  scores: ReadonlyMap<string, ArrayLike<number>>,
  options: { detector?: string; detectMs?: number; profiles?: Readonly<Record<string, NabCostMatrix>>; probationPercent?: number } = {},
): NabResult {
  const profiles = options.profiles ?? NAB_PROFILES;
  const files: { layout: NabFileLayout; scores: ArrayLike<number>; category: string }[] = corpus.files.map((f) => {
    const s = scores.get(f.name);
    if (!s) throw new Error(`no anomaly scores for ${f.name}`);
    return { layout: layoutFile(f, options.probationPercent), scores: s, category: f.category };
  });
  const out: Record<string, NabProfileResult> = {};
  const sweep = prepareSweep(files);
  for (const [name, profile] of Object.entries(profiles)) {
    const best = optimizeThreshold(sweep, profile);
    const perFile = files.map((f) => {
      const s = scoreFile(f.layout, f.scores, best.threshold, profile);
      return {
        name: f.layout.name,
        category: f.category,
        windows: f.layout.windows,
        detectedWindows: s.detectedWindows,
        score: s.score,
        tp: s.tp,
        fp: s.fp,
        fn: s.fn,
        tn: s.tn,
      };
    });
    out[name] = { profile: name, threshold: best.threshold, raw: best.score, normalized: normalizeScore(best.score, corpus.windows, profile), files: perFile };
  }
  return { detector: options.detector ?? 'unnamed', files: corpus.files.length, windows: corpus.windows, detectMs: options.detectMs ?? 0, profiles: out };
}

/** Run and score a detector. */
export function runNab(corpus: NabCorpus, detector: NabDetector, options: { profiles?: Readonly<Record<string, NabCostMatrix>> } = {}): NabResult {
  const started = performance.now();
  const scores = runDetector(corpus, detector);
  const detectMs = performance.now() - started;
  return scoreNab(corpus, scores, { ...options, detector: detector.name, detectMs });
}

const SHORT: Record<string, string> = { standard: 'standard', reward_low_FP_rate: 'reward_low_FP', reward_low_FN_rate: 'reward_low_FN' };

function pad(text: string, width: number, right = false): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

/**
 * A per-category table (windows detected, false-positive rows and the
 * normalised score of each category at the corpus threshold, per profile),
 * then, as the last line, `NAB standard=<x> reward_low_FP=<y> reward_low_FN=<z>`.
 */
export function formatNabReport(result: NabResult): string {
  const names = Object.keys(result.profiles);
  const std = result.profiles.standard ?? result.profiles[names[0] as string];
  const categories = [...new Set(std?.files.map((f) => f.category) ?? [])];
  const header = ['category', 'files', 'windows', 'detected', 'fp rows', ...names.map((n) => SHORT[n] ?? n)];
  const rows: string[][] = [];
  const addRow = (label: string, filter: (f: NabFileScore) => boolean) => {
    const stdFiles = std?.files.filter(filter) ?? [];
    const windows = stdFiles.reduce((a, f) => a + f.windows, 0);
    const cells = [
      label,
      String(stdFiles.length),
      String(windows),
      String(stdFiles.reduce((a, f) => a + f.detectedWindows, 0)),
      String(stdFiles.reduce((a, f) => a + f.fp, 0)),
    ];
    for (const n of names) {
      const p = result.profiles[n] as NabProfileResult;
      const raw = p.files.filter(filter).reduce((a, f) => a + f.score, 0);
      const profile = (NAB_PROFILES as Record<string, NabCostMatrix>)[n];
      cells.push(windows === 0 || !profile ? `${raw >= 0 ? '+' : ''}${raw.toFixed(2)} raw` : normalizeScore(raw, windows, profile).toFixed(2));
    }
    rows.push(cells);
  };
  for (const c of categories) addRow(c, (f) => f.category === c);
  addRow('all', () => true);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) => cells.map((c, i) => pad(c, widths[i] as number, i > 0)).join('  ');
  const out = [
    `NAB v1.1, detector "${result.detector}": ${result.files} files, ${result.windows} windows${result.detectMs > 0 ? `, detection ${(result.detectMs / 1000).toFixed(1)} s` : ''}`,
    `thresholds: ${names.map((n) => `${SHORT[n] ?? n} ${(result.profiles[n] as NabProfileResult).threshold.toPrecision(6)}`).join(', ')} (optimised on the corpus, per profile)`,
    'detected / fp rows at the standard threshold; scores normalised per category (null detector 0, perfect 100)',
    '',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
    `NAB ${names.map((n) => `${SHORT[n] ?? n}=${(result.profiles[n] as NabProfileResult).normalized.toFixed(2)}`).join(' ')}`,
  ];
  return out.join('\n');
}

export type { NabProfileName };
