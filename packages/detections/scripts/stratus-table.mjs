#!/usr/bin/env node
// Replays every Stratus Red Team detonation log in testdata/stratus through the CLI
// (`outflow replay --preset t1537 <log>`, default configuration) and writes the table
// "technique → analytics that fired" into docs/detections/README.md, between the markers
// <!-- stratus-table:begin --> and <!-- stratus-table:end -->.
//
//   node packages/detections/scripts/stratus-table.mjs          rewrite the table
//   node packages/detections/scripts/stratus-table.mjs --check  exit 1 when the README differs
//
// Needs the CLI built: cd /work/main && npx turbo run build --filter=@outflow/cli...
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const PACKAGE = join(HERE, '..');
const ROOT = join(PACKAGE, '..', '..');
const STRATUS = join(PACKAGE, 'testdata', 'stratus');
const README = join(ROOT, 'docs', 'detections', 'README.md');
const CLI = join(ROOT, 'packages', 'cli', 'dist', 'bin.js');
const BEGIN = '<!-- stratus-table:begin -->';
const END = '<!-- stratus-table:end -->';

/** The T1537 detonations and the analytic each must fire. */
export const POSITIVES = {
  'aws.exfiltration.ec2-share-ebs-snapshot': 'ebs_snapshot_shared',
  'aws.exfiltration.ec2-share-ami': 'ami_shared',
  'aws.exfiltration.rds-share-snapshot': 'rds_snapshot_shared',
};

/** Replay one log through the CLI: the alerts (status `new`) and the counts of its last stderr line. */
function replay(file) {
  const r = spawnSync(process.execPath, [CLI, 'replay', '--preset', 't1537', file], { encoding: 'utf8', cwd: ROOT });
  const last = r.stderr.trim().split('\n').pop() ?? '';
  const m = /^replayed (\d+) events, (\d+) alerts, (\d+) errors$/.exec(last);
  if (r.status !== 0 || !m) throw new Error(`outflow replay ${file} failed (exit ${r.status}): ${r.stderr}`);
  const alerts = r.stdout
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .map((l) => JSON.parse(l))
    .filter((a) => a.status === 'new');
  return { events: Number(m[1]), alerts: Number(m[2]), errors: Number(m[3]), fired: alerts.map((a) => `${a.detection.id} (${a.severity})`) };
}

export function table(rows) {
  const lines = ['| technique | events | alerts |', '|---|---|---|'];
  for (const row of rows) {
    const name = POSITIVES[row.technique] ? `**${row.technique}**` : row.technique;
    lines.push(`| ${name} | ${row.events} | ${row.fired.length > 0 ? [...new Set(row.fired)].sort().join(', ') : '—'} |`);
  }
  return lines.join('\n');
}

function main() {
  const check = process.argv.includes('--check');
  if (!existsSync(CLI)) {
    console.error(`${relative(ROOT, CLI)} is missing: build the CLI first (npx turbo run build --filter=@outflow/cli...)`);
    process.exit(2);
  }
  const files = readdirSync(STRATUS)
    .filter((f) => f.endsWith('.json'))
    .sort();
  const rows = [];
  let failures = 0;
  for (const f of files) {
    const technique = f.replace(/\.json$/, '');
    const r = replay(join(STRATUS, f));
    rows.push({ technique, ...r });
    const ids = new Set(r.fired.map((x) => x.split(' ')[0]));
    const expected = POSITIVES[technique];
    const ok = r.errors === 0 && (expected ? ids.size === 1 && ids.has(expected) : ids.size === 0);
    if (!ok) failures++;
    console.error(`${ok ? 'ok  ' : 'FAIL'} ${technique}: ${r.events} events, ${r.fired.join(', ') || 'no alert'}${r.errors ? `, ${r.errors} errors` : ''}`);
  }
  const readme = readFileSync(README, 'utf8');
  const start = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`${relative(ROOT, README)}: markers ${BEGIN} / ${END} not found`);
  const next = `${readme.slice(0, start + BEGIN.length)}\n${table(rows)}\n${readme.slice(end)}`;
  if (check) {
    if (next !== readme) {
      console.error(`${relative(ROOT, README)}: the Stratus table is out of date; run node ${relative(ROOT, fileURLToPath(import.meta.url))}`);
      process.exit(1);
    }
  } else if (next !== readme) writeFileSync(README, next);
  console.error(`${files.length} detonation logs, ${failures} not as expected`);
  process.exit(failures > 0 ? 1 : 0);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
