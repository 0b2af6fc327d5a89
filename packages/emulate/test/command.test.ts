import { describe, expect, it } from 'vitest';
import { EMULATE_HELP, EmulateUsageError, parseEmulateArgs } from '../src/command.js';
import { scenarioNames } from '../src/runner.js';

describe('outflow emulate arguments', () => {
  it('reads scenarios, keep, speed, warm-up and outputs', () => {
    const parsed = parseEmulateArgs([
      '--scenario',
      'archive_nc',
      '--scenario',
      'slow_trickle',
      '--keep',
      '--speed',
      '60',
      '--warmup',
      '30',
      '--json',
      'r.json',
    ]);
    expect(parsed.options).toEqual({ scenarios: ['archive_nc', 'slow_trickle'], keep: true, speed: 60, warmupMs: 30_000 });
    expect(parsed.json).toBe('r.json');
    expect(parsed.cleanup).toBe(false);
    expect(parseEmulateArgs([]).options).toEqual({});
    expect(parseEmulateArgs(['--scenario', 'benign']).options.scenarios).toEqual(['benign']);
    expect(parseEmulateArgs(['--cleanup', '--force'])).toMatchObject({ cleanup: true, force: true });
    expect(parseEmulateArgs(['--netflow', '9']).options.netflowVersion).toBe(9);
  });

  it('rejects what it cannot use, naming the problem', () => {
    const bad: [string[], RegExp][] = [
      [['--scenario', 'ddos'], /unknown scenario "ddos" \(known: .*archive_nc.*benign\)/],
      [['--speed', '0'], /--speed must be a positive number/],
      [['--warmup', 'soon'], /--warmup must be a number of seconds/],
      [['--netflow', '5'], /--netflow must be 9 or 10/],
      [['--force'], /--force only goes with --cleanup/],
      [['--bogus'], /Unknown option '--bogus'/],
      [['extra'], /positional/i],
    ];
    for (const [argv, message] of bad) {
      expect(() => parseEmulateArgs(argv)).toThrow(EmulateUsageError);
      expect(() => parseEmulateArgs(argv)).toThrow(message);
    }
  });

  it('documents every scenario and the summary line in its help', () => {
    for (const name of scenarioNames()) expect(EMULATE_HELP).toContain(name);
    expect(EMULATE_HELP).toContain('emulate caught=<k>/<n> false=<f> latency_p50_ms=<x> latency_max_ms=<y>');
  });
});
