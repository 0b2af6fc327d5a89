import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../src/index.js';
import { run } from './helpers.js';

describe('outflow', () => {
  it('prints help listing every command, and the version', async () => {
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    for (const name of Object.keys(COMMANDS)) expect(help.stdout).toContain(`  ${name}`);
    const version = await run(['--version']);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('shows a command help and rejects unknown commands and options with exit code 2', async () => {
    const decodeHelp = await run(['decode', '--help']);
    expect(decodeHelp.stdout).toMatch(/usage: outflow decode/);
    const unknown = await run(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "frobnicate"/);
    const badOption = await run(['decode', '--nope', 'x']);
    expect(badOption.code).toBe(2);
    expect(badOption.stderr).toMatch(/Unknown option '--nope'/);
    const none = await run([]);
    expect(none.code).toBe(2);
  });

  it('runs as an installed binary', () => {
    const bin = fileURLToPath(new URL('../bin/outflow.js', import.meta.url));
    if (!existsSync(fileURLToPath(new URL('../dist/bin.js', import.meta.url)))) throw new Error('build the cli first (npm test builds it)');
    expect(execFileSync(process.execPath, [bin, '--help'], { encoding: 'utf8' })).toMatch(/usage: outflow <command>/);
  });
});
