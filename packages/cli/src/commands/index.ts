import type { Command } from '../cli-io.js';

/** Every subcommand, loaded on first use so `outflow --help` stays fast. */
export const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  decode: { summary: 'Decode telemetry files into normalized events (JSON lines)', load: async () => (await import('./decode.js')).decode },
  replay: { summary: 'Replay recorded telemetry through the T1537 preset in event time', load: async () => (await import('./replay.js')).replay },
  eval: { summary: 'Score the T1537 preset on generated, labelled scenarios', load: async () => (await import('./eval.js')).evalCommand },
  run: { summary: 'Run a long-lived pipeline from a YAML/JSON file or a config module', load: async () => (await import('./run.js')).runCommand },
  demo: { summary: 'Replay the bundled scenario through the T1537 preset and print alerts', load: async () => (await import('./demo.js')).demo },
  emulate: {
    summary: 'Adversary emulation: real exfiltration in network namespaces, caught end to end (root, Linux)',
    load: async () => (await import('./emulate.js')).emulate,
  },
  nab: { summary: 'Rate a detector on the Numenta Anomaly Benchmark (NAB v1.1)', load: async () => (await import('./nab.js')).nab },
};
