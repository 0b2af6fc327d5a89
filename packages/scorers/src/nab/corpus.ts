import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { NabFileLabels } from './scoring.js';

/** One NAB data file, parsed. */
export interface NabSeries extends NabFileLabels {
  /** Category folder, e.g. `realKnownCause`. */
  category: string;
  /** Row timestamps, epoch ms (NAB timestamps are naive; read as UTC). */
  timestamps: Float64Array;
  values: Float64Array;
  /** Window limits as given in the labels file, epoch ms. */
  windowTimes: readonly (readonly [number, number])[];
}

export interface NabCorpus {
  dir: string;
  files: NabSeries[];
  /** Windows in the whole corpus (116 in NAB v1.1). */
  windows: number;
}

/** Parse `YYYY-MM-DD HH:MM:SS[.ffffff]` (or with a `T`) as UTC epoch ms. Returns NaN when malformed. */
export function parseNabTimestamp(text: string): number {
  // Fast path for the corpus' own `YYYY-MM-DD HH:MM:SS`.
  if (text.length === 19 && text.charCodeAt(4) === 45 && text.charCodeAt(10) === 32 && text.charCodeAt(13) === 58) {
    const num = (from: number, to: number) => {
      let v = 0;
      for (let i = from; i < to; i++) {
        const d = text.charCodeAt(i) - 48;
        if (d < 0 || d > 9) return Number.NaN;
        v = v * 10 + d;
      }
      return v;
    };
    return Date.UTC(num(0, 4), num(5, 7) - 1, num(8, 10), num(11, 13), num(14, 16), num(17, 19));
  }
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?/.exec(text.trim());
  if (!m) return Number.NaN;
  const ms = m[7] ? Math.round(Number(`0.${m[7]}`) * 1000) : 0;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0), ms);
}

/** Read a file, gunzipping it when its name ends in `.gz`. */
export function readMaybeGzip(path: string): string {
  const bytes = readFileSync(path);
  return (path.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8');
}

/** Resolve `path` or `path.gz`, whichever exists. */
export function findFile(path: string): string | undefined {
  if (existsSync(path)) return path;
  if (existsSync(`${path}.gz`)) return `${path}.gz`;
  return undefined;
}

/** Parse a CSV with a header; returns the named columns as strings per row. */
export function parseCsvColumns(text: string, columns: readonly string[], source: string): string[][] {
  const lines = text.split(/\r?\n/);
  const header = (lines[0] ?? '').split(',').map((h) => h.trim());
  const idx = columns.map((c) => {
    const i = header.indexOf(c);
    if (i < 0) throw new Error(`${source}: no "${c}" column (header: ${header.join(',')})`);
    return i;
  });
  const out: string[][] = [];
  for (let l = 1; l < lines.length; l++) {
    const line = lines[l] as string;
    if (line.length === 0) continue;
    const cells = line.split(',');
    out.push(idx.map((i) => cells[i] ?? ''));
  }
  return out;
}

function listDataFiles(dataDir: string): { category: string; file: string; path: string }[] {
  const out: { category: string; file: string; path: string }[] = [];
  for (const category of readdirSync(dataDir).sort()) {
    const catDir = join(dataDir, category);
    if (!statSync(catDir).isDirectory()) continue;
    for (const entry of readdirSync(catDir).sort()) {
      if (!/\.csv(\.gz)?$/.test(entry)) continue;
      out.push({ category, file: entry.replace(/\.gz$/, ''), path: join(catDir, entry) });
    }
  }
  return out;
}

/**
 * Load a NAB checkout layout: `data/<category>/<file>.csv` (or `.csv.gz`) and
 * `labels/combined_windows.json`. Window limits must be timestamps of rows in
 * their file, as NAB requires.
 */
export function loadNabCorpus(dir: string): NabCorpus {
  const dataDir = join(dir, 'data');
  const labelsPath = findFile(join(dir, 'labels', 'combined_windows.json'));
  if (!existsSync(dataDir)) throw new Error(`${dir}: no data/ directory (expected a NAB checkout layout)`);
  if (!labelsPath) throw new Error(`${dir}: no labels/combined_windows.json`);
  const labels = JSON.parse(readMaybeGzip(labelsPath)) as Record<string, [string, string][]>;
  const files: NabSeries[] = [];
  let windows = 0;
  for (const { category, file, path } of listDataFiles(dataDir)) {
    const name = `${category}/${file}`;
    const rows = parseCsvColumns(readMaybeGzip(path), ['timestamp', 'value'], name);
    const timestamps = new Float64Array(rows.length);
    const values = new Float64Array(rows.length);
    const index = new Map<number, number>();
    rows.forEach(([ts, v], i) => {
      const t = parseNabTimestamp(ts as string);
      if (Number.isNaN(t)) throw new Error(`${name}: row ${i + 2}: bad timestamp "${ts}"`);
      timestamps[i] = t;
      values[i] = Number(v);
      if (!index.has(t)) index.set(t, i);
    });
    const limits = labels[name];
    if (!limits) throw new Error(`${name}: not in labels/combined_windows.json`);
    const windowTimes = limits.map(([a, b]) => [parseNabTimestamp(a), parseNabTimestamp(b)] as const);
    const rowWindows = windowTimes.map(([a, b]) => {
      const from = index.get(a);
      const to = index.get(b);
      if (from === undefined || to === undefined) throw new Error(`${name}: window [${a}, ${b}] does not start and end on rows of the file`);
      return [from, to] as const;
    });
    windows += rowWindows.length;
    files.push({ name, category, rows: rows.length, timestamps, values, windows: rowWindows, windowTimes });
  }
  if (files.length === 0) throw new Error(`${dataDir}: no CSV files`);
  return { dir, files, windows };
}

/**
 * Anomaly scores a detector wrote in NAB's results layout:
 * `results/<detector>/<category>/<detector>_<file>.csv[.gz]` with an `anomaly_score` column.
 * Returns undefined when the detector has no results folder.
 */
export function loadNabResults(dir: string, detector: string, corpus: NabCorpus): Map<string, Float64Array> | undefined {
  const base = join(dir, 'results', detector);
  if (!existsSync(base)) return undefined;
  const out = new Map<string, Float64Array>();
  for (const file of corpus.files) {
    const [category, csv] = file.name.split('/') as [string, string];
    const path = findFile(join(base, category, `${detector}_${csv}`));
    if (!path) throw new Error(`${base}: no results for ${file.name}`);
    const rows = parseCsvColumns(readMaybeGzip(path), ['anomaly_score'], path);
    if (rows.length !== file.rows) throw new Error(`${path}: ${rows.length} rows, the data file has ${file.rows}`);
    out.set(
      file.name,
      Float64Array.from(rows, (r) => Number(r[0])),
    );
  }
  return out;
}
