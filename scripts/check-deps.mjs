#!/usr/bin/env node
// Dependencies between workspace packages only point the allowed way (see docs/architecture.md):
// nothing points back at core, plugins depend on core (and the shared transports), and only
// applications (cli, bench, examples) may depend on everything.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** package name pattern -> the @outflow packages it may depend on at run time (dependencies and peerDependencies). */
const RULES = [
  { match: /^@outflow\/core$/, allow: [] },
  { match: /^@outflow\/(testkit|io|baselines)$/, allow: ['core'] },
  { match: /^@outflow\/scorers$/, allow: ['core', 'baselines'] },
  { match: /^@outflow\/receiver-/, allow: ['core', 'io'] },
  { match: /^@outflow\/exporter-/, allow: ['core'] },
  { match: /^@outflow\/transport-/, allow: ['core', 'io'] },
  { match: /^@outflow\/detections$/, allow: ['core', 'baselines', 'scorers'] },
  { match: /^@outflow\/emulate$/, allow: ['*'] },
  { match: /^@outflow\/(cli|bench)$/, allow: ['*'] },
  { match: /^@outflow-examples\//, allow: ['*'] },
  { match: /^@outflow-example\//, allow: ['*'] },
];
/** Test-only dependencies every package except core may use. */
const DEV_ALLOWED = ['testkit'];
/** Extra test-only dependencies for some packages: detections test on real records decoded by the receivers. */
const DEV_EXTRA = { '@outflow/detections': /^receiver-/ };

const problems = [];
const dirs = ['packages', 'examples'].flatMap((top) =>
  existsSync(top)
    ? readdirSync(top)
        .map((d) => join(top, d))
        .filter((d) => existsSync(join(d, 'package.json')))
    : [],
);
for (const dir of dirs) {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const rule = RULES.find((r) => r.match.test(pkg.name));
  if (!rule) {
    problems.push(`${pkg.name} (${dir}): no dependency rule; add one to scripts/check-deps.mjs`);
    continue;
  }
  if (rule.allow.includes('*')) continue;
  const runtime = { ...pkg.dependencies, ...pkg.peerDependencies };
  for (const dep of Object.keys(runtime)) {
    if (!dep.startsWith('@outflow/')) continue;
    const short = dep.slice('@outflow/'.length);
    if (!rule.allow.includes(short)) problems.push(`${pkg.name} must not depend on ${dep} (allowed: ${rule.allow.join(', ') || 'none'})`);
  }
  for (const dep of Object.keys(pkg.devDependencies ?? {})) {
    if (!dep.startsWith('@outflow/')) continue;
    const short = dep.slice('@outflow/'.length);
    if (rule.allow.includes(short)) continue;
    if (DEV_EXTRA[pkg.name]?.test(short)) continue;
    if (pkg.name === '@outflow/core' || !DEV_ALLOWED.includes(short)) problems.push(`${pkg.name} must not depend on ${dep}, even for tests`);
  }
  // Shared libraries are peers so a host never loads two copies.
  if (!pkg.private && pkg.name !== '@outflow/cli') {
    for (const shared of ['rxjs', '@opentelemetry/api', '@outflow/core']) {
      if (pkg.dependencies?.[shared]) problems.push(`${pkg.name}: ${shared} must be a peerDependency, not a dependency`);
    }
  }
  // Source imports must match declared dependencies.
  const srcDir = join(dir, 'src');
  if (existsSync(srcDir)) {
    const declared = new Set([
      ...Object.keys(pkg.dependencies ?? {}),
      ...Object.keys(pkg.peerDependencies ?? {}),
      ...Object.keys(pkg.optionalDependencies ?? {}),
    ]);
    const walk = (d) =>
      readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : e.name.endsWith('.ts') ? [join(d, e.name)] : []));
    for (const file of walk(srcDir)) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](@outflow\/[a-z0-9-]+)/g)) {
        if (m[1] !== pkg.name && !declared.has(m[1])) problems.push(`${file} imports ${m[1]}, which ${pkg.name} does not declare`);
      }
    }
  }
}
if (problems.length > 0) {
  console.error(`Dependency direction check failed:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  process.exit(1);
}
console.log(`dependency direction ok (${dirs.length} packages)`);
