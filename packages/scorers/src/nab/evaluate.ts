import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadNabCorpus, loadNabResults, type NabCorpus } from './corpus.js';
import { NAB_DETECTORS, type NabDetector } from './detectors.js';
import { type NabResult, runNab, scoreNab } from './runner.js';

/** Where the anomaly scores to rate come from. */
export type NabSource = { kind: 'detector'; detector: NabDetector; from: 'builtin' | 'module' } | { kind: 'results'; name: string };

function isNabDetector(value: unknown): value is NabDetector {
  return typeof value === 'object' && value !== null && typeof (value as NabDetector).create === 'function' && typeof (value as NabDetector).name === 'string';
}

function looksLikePath(name: string): boolean {
  return name.includes('/') || name.includes('\\') || /\.(c|m)?js$/.test(name);
}

/**
 * Resolve `--detector <name>`: a module path (`./my-detector.mjs`, exporting
 * a NabDetector as `default` or `detector`), a built-in detector
 * (`outflow`, `z_score`, `robust_z`, `out_of_range`), or a folder of
 * precomputed scores in the corpus' `results/<name>/` (NAB's own layout).
 */
export async function resolveNabSource(name: string, options: { dir: string; cwd?: string }): Promise<NabSource> {
  if (looksLikePath(name)) {
    const path = isAbsolute(name) ? name : resolve(options.cwd ?? process.cwd(), name);
    if (!existsSync(path)) throw new Error(`detector module ${path} does not exist`);
    const mod = (await import(pathToFileURL(path).href)) as { default?: unknown; detector?: unknown };
    const detector = isNabDetector(mod.detector) ? mod.detector : isNabDetector(mod.default) ? mod.default : undefined;
    if (!detector) throw new Error(`${path} must export a NAB detector ({ name, description, create(file) }) as "detector" or default`);
    return { kind: 'detector', detector, from: 'module' };
  }
  const builtin = NAB_DETECTORS[name];
  if (builtin) return { kind: 'detector', detector: builtin, from: 'builtin' };
  if (existsSync(join(options.dir, 'results', name))) return { kind: 'results', name };
  throw new Error(
    `unknown detector "${name}": not built in (${Object.keys(NAB_DETECTORS).join(', ')}), no ${join(options.dir, 'results', name)} folder, and not a module path`,
  );
}

/** Load a NAB layout, run or read the named detector's scores and score them. */
export async function evaluateNab(dir: string, name: string, options: { cwd?: string; corpus?: NabCorpus } = {}): Promise<NabResult> {
  const corpus = options.corpus ?? loadNabCorpus(dir);
  const source = await resolveNabSource(name, { dir, ...(options.cwd ? { cwd: options.cwd } : {}) });
  if (source.kind === 'detector') return runNab(corpus, source.detector);
  const scores = loadNabResults(dir, source.name, corpus);
  if (!scores) throw new Error(`no results/${source.name} folder in ${dir}`);
  return scoreNab(corpus, scores, { detector: source.name });
}
