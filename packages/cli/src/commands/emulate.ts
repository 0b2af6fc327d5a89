import { EMULATE_HELP, EmulateUsageError, emulateCommand } from '@outflow/emulate';
import { type Command, UsageError } from '../cli-io.js';

export const emulate: Command = {
  name: 'emulate',
  summary: 'Adversary emulation: real exfiltration in network namespaces, caught end to end (root, Linux)',
  help: EMULATE_HELP,
  async run(argv, io) {
    try {
      return await emulateCommand(argv, { stdout: io.stdout, stderr: io.stderr, signal: io.signal });
    } catch (err) {
      if (err instanceof EmulateUsageError) throw new UsageError(err.message);
      throw err;
    }
  },
};
