export type { CliIO, Command } from './cli-io.js';
export { parse, UsageError, writeLine } from './cli-io.js';
export { COMMANDS } from './commands/index.js';
export { main, usage, version } from './main.js';
