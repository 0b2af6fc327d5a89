import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderConfigReference } from '../src/reference.js';
import { REGISTRY } from '../src/registry.js';

describe('configuration reference', () => {
  it('docs/reference/configuration.md is generated from the components, and up to date', () => {
    const committed = readFileSync(new URL('../../../docs/reference/configuration.md', import.meta.url), 'utf8');
    // Regenerate with `npm run docs:config` when this fails.
    expect(committed).toBe(renderConfigReference());
  });

  it('documents every registered component with its options', () => {
    const text = renderConfigReference();
    for (const c of REGISTRY) expect(text).toContain(`### \`${c.factory.type}\` (${c.factory.kind})`);
    expect(text).toMatch(/\| `http\.port` \| integer \(≥ 0, ≤ 65535\) \|/);
  });
});
