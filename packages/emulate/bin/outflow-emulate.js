#!/usr/bin/env node
// `outflow emulate` without the rest of the CLI (what the kill-midway tests start as a child process).
import { EMULATE_HELP, EmulateUsageError, emulateCommand } from '../dist/index.js';

const controller = new AbortController();
let signals = 0;
const onSignal = (signal) => {
  signals++;
  if (signals > 1) process.exit(130);
  controller.abort(new Error(`received ${signal}`));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const argv = process.argv.slice(2);
if (argv.includes('-h') || argv.includes('--help')) {
  process.stdout.write(`${EMULATE_HELP}\n`);
} else {
  emulateCommand(argv, { stdout: process.stdout, stderr: process.stderr, signal: controller.signal }).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      if (err instanceof EmulateUsageError) {
        process.stderr.write(`outflow emulate: ${err.message}\n\n${EMULATE_HELP}\n`);
        process.exitCode = 2;
        return;
      }
      process.stderr.write(`outflow emulate: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
