import type { Command } from '../cli-io.js';

export const demo: Command = {
  name: 'demo',
  summary: 'Replay the bundled scenario through the T1537 preset and print alerts',
  help: 'usage: outflow demo\n\nReplays a bundled scenario and prints the alerts it raises.',
  async run(_argv, io) {
    io.stderr.write('demo: not built yet\n');
    return 1;
  },
};
