#!/usr/bin/env node
// Scaffold a workspace package: `node scripts/new-package.mjs <dir-name> "<description>" [--peer @outflow/core,...] [--private]`
// Writes package.json, tsconfig.json, tsconfig.build.json, vitest.config.ts, src/index.ts and a README stub.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir, description = '', ...rest] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node scripts/new-package.mjs <dir-name> "<description>" [--peer a,b] [--private]');
  process.exit(2);
}
const flag = (name) => {
  const i = rest.indexOf(name);
  return i >= 0 ? (rest[i + 1] ?? '') : undefined;
};
const priv = rest.includes('--private');
const peers = (flag('--peer') ?? '@outflow/core').split(',').filter(Boolean);
const root = join('packages', dir);
if (existsSync(join(root, 'package.json'))) {
  console.error(`${root}/package.json exists`);
  process.exit(1);
}
mkdirSync(join(root, 'src'), { recursive: true });
mkdirSync(join(root, 'test'), { recursive: true });
const name = `@outflow/${dir}`;
const peerVersions = { '@outflow/core': '^0.1.0', rxjs: '^7.8.0', '@opentelemetry/api': '^1.9.0' };
const devVersions = { '@outflow/core': '0.1.0', rxjs: '^7.8.2', '@opentelemetry/api': '1.9.1' };
const pkg = {
  name,
  version: '0.1.0',
  description,
  license: 'Apache-2.0',
  ...(priv ? { private: true } : {}),
  type: 'module',
  exports: {
    '.': { source: './src/index.ts', types: './dist/index.d.ts', default: './dist/index.js' },
    './package.json': './package.json',
  },
  main: './dist/index.js',
  types: './dist/index.d.ts',
  files: ['dist', 'src', 'README.md'],
  sideEffects: false,
  engines: { node: '>=20.6' },
  scripts: {
    build: 'tsc -p tsconfig.build.json',
    typecheck: 'tsc -p tsconfig.json --noEmit',
    test: 'vitest run',
  },
  peerDependencies: Object.fromEntries(peers.map((p) => [p, peerVersions[p] ?? '^0.1.0'])),
  devDependencies: Object.fromEntries(peers.map((p) => [p, devVersions[p] ?? '0.1.0'])),
};
writeFileSync(join(root, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
writeFileSync(
  join(root, 'tsconfig.json'),
  `${JSON.stringify({ extends: '../../tsconfig.base.json', compilerOptions: { noEmit: true, rootDir: '.' }, include: ['src', 'test'] }, null, 2)}\n`,
);
writeFileSync(
  join(root, 'tsconfig.build.json'),
  `${JSON.stringify({ extends: '../../tsconfig.base.json', compilerOptions: { rootDir: 'src', outDir: 'dist' }, include: ['src'] }, null, 2)}\n`,
);
writeFileSync(join(root, 'vitest.config.ts'), "export { default } from '../../vitest.shared.js';\n");
writeFileSync(join(root, 'src/index.ts'), 'export {};\n');
writeFileSync(join(root, 'README.md'), `# ${name}\n\n${description}\n\n| status | |\n|---|---|\n| stability | development |\n\n`);
console.log(`created ${root}`);
