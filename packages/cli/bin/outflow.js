#!/usr/bin/env node
// The `outflow` executable. Kept as plain JavaScript outside dist/ so npm can link it at install time,
// before the TypeScript sources are built.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/bin.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('outflow: the CLI is not built yet; run `npm run build` (or `npm test`) in the repository first\n');
  process.exit(1);
}
await import(entry.href);
