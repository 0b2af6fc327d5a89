import type { Command } from '../cli-io.js';

/** Every subcommand, loaded on first use so `outflow --help` stays fast. */
export const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  decode: { summary: 'Decode telemetry files into normalized events (JSON lines)', load: async () => (await import('./decode.js')).decode },
  demo: { summary: 'Replay the bundled scenario through the T1537 preset and print alerts', load: async () => (await import('./demo.js')).demo },
};
