#!/usr/bin/env node
// Writes docs/reference/configuration.md from every component's config schema (build first: npm run build).
import { writeFileSync } from 'node:fs';
import { renderConfigReference } from '../packages/cli/dist/reference.js';

const out = new URL('../docs/reference/configuration.md', import.meta.url);
writeFileSync(out, renderConfigReference());
console.log(`wrote ${out.pathname}`);
