#!/usr/bin/env node
/**
 * `npm run bench`: runs every suite in its own process (after a warm-up, median of several runs), writes
 * packages/bench/results/latest.json and updates the table in docs/performance.md.
 *
 *   node packages/bench/dist/run.js [--quick] [--suite name]... [--no-docs]
 */
import { execFileSync, fork } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createHarness, type Figure, type Suite } from './harness.js';
import { SUITES } from './suites/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..', '..');

interface SuiteResult {
  suite: string;
  figures: Figure[];
  error?: string;
  seconds: number;
}

async function child(name: string, quick: boolean): Promise<void> {
  const load = SUITES[name];
  if (!load) throw new Error(`unknown suite ${name}`);
  const suite = await load();
  const started = Date.now();
  const figures = await suite.run(createHarness(quick));
  process.send?.({ suite: name, figures, seconds: (Date.now() - started) / 1000 } satisfies SuiteResult);
}

async function runInChild(name: string, quick: boolean): Promise<SuiteResult> {
  const extra = (await (SUITES[name] as () => Promise<Suite>)()).execArgv ?? [];
  return new Promise((resolve) => {
    const started = Date.now();
    let result: SuiteResult | undefined;
    const proc = fork(fileURLToPath(import.meta.url), ['--child', name, ...(quick ? ['--quick'] : [])], {
      execArgv: ['--expose-gc', '--max-old-space-size=4096', ...extra],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    proc.on('message', (m) => {
      result = m as SuiteResult;
    });
    proc.on('exit', (code) => {
      resolve(result ?? { suite: name, figures: [], error: `exited with code ${code}`, seconds: (Date.now() - started) / 1000 });
    });
  });
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString('en-US');
  return n.toPrecision(3);
}

function machine(): string {
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
  return `${cpus().length} × ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.versions.node}`;
}

function table(results: SuiteResult[], date: string): string {
  const lines = ['| figure | value | ratio | target | met | machine | date |', '|---|---|---|---|---|---|---|'];
  const m = machine();
  for (const r of results) {
    if (r.error) lines.push(`| ${r.suite} (suite failed: ${r.error}) | | | | | ${m} | ${date} |`);
    for (const f of r.figures) {
      const ratio = f.ratio ? `${fmt(f.ratio.value)} × ${f.ratio.to}` : '';
      const met = f.met === undefined ? '' : f.met ? 'yes' : '**no**';
      lines.push(`| ${f.title} | ${fmt(f.value)} ${f.unit} | ${ratio} | ${f.target ?? ''} | ${met} | ${m} | ${date} |`);
    }
  }
  return lines.join('\n');
}

async function mainRun(): Promise<void> {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean' }, suite: { type: 'string', multiple: true }, child: { type: 'string' }, 'no-docs': { type: 'boolean' } },
  });
  const quick = values.quick ?? false;
  if (values.child) {
    await child(values.child, quick);
    return;
  }
  const names = values.suite ?? Object.keys(SUITES);
  const results: SuiteResult[] = [];
  const started = Date.now();
  for (const name of names) {
    process.stderr.write(`bench: ${name} ...\n`);
    const r = await runInChild(name, quick);
    results.push(r);
    process.stderr.write(`bench: ${name} done in ${r.seconds.toFixed(1)} s${r.error ? ` (${r.error})` : ''}\n`);
    for (const f of r.figures) process.stderr.write(`  ${f.title}: ${fmt(f.value)} ${f.unit}${f.ratio ? ` (${fmt(f.ratio.value)} × ${f.ratio.to})` : ''}\n`);
  }
  const date = new Date().toISOString().slice(0, 10);
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repo, encoding: 'utf8' }).trim();
  } catch {
    // not a git checkout
  }
  const out = { date, commit, machine: machine(), quick, seconds: (Date.now() - started) / 1000, results };
  const resultsDir = join(repo, 'packages', 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  // Only a full run replaces latest.json (the committed record); a run of some suites goes to partial.json.
  const file = quick ? 'quick.json' : values.suite ? 'partial.json' : 'latest.json';
  writeFileSync(join(resultsDir, file), `${JSON.stringify(out, null, 2)}\n`);
  if (!quick && !values['no-docs'] && !values.suite) {
    const docPath = join(repo, 'docs', 'performance.md');
    const doc = readFileSync(docPath, 'utf8');
    const begin = '<!-- bench:begin -->';
    const end = '<!-- bench:end -->';
    const i = doc.indexOf(begin);
    const j = doc.indexOf(end);
    if (i >= 0 && j > i) {
      const body = `${begin}\n${table(results, date)}\n\nGenerated by \`npm run bench\` at commit ${commit} in ${out.seconds.toFixed(0)} s.\n${end}`;
      writeFileSync(docPath, doc.slice(0, i) + body + doc.slice(j + end.length));
    }
  }
  process.stderr.write(`bench: finished in ${out.seconds.toFixed(0)} s\n`);
  if (results.some((r) => r.error)) process.exitCode = 1;
}

await mainRun();
