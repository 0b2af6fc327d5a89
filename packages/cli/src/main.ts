import { readFileSync } from 'node:fs';
import { type CliIO, UsageError, writeLine } from './cli-io.js';
import { COMMANDS } from './commands/index.js';

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return [
    'outflow: detect data exfiltration from containers in cloud environments (MITRE ATT&CK T1537)',
    '',
    'usage: outflow <command> [options]',
    '',
    'commands:',
    ...lines,
    '',
    'options:',
    '  -h, --help     show help (also `outflow <command> --help`)',
    '  -v, --version  print the version',
    '',
    'docs: https://github.com/outflow-dev/outflow/tree/main/docs',
  ].join('\n');
}

/** Run the CLI with `argv` (without node and script). Returns the exit code. */
export async function main(argv: string[], io: CliIO): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
    const topic = first === 'help' ? rest[0] : undefined;
    if (topic && COMMANDS[topic]) {
      writeLine(io.stdout, (await COMMANDS[topic].load()).help);
      return 0;
    }
    writeLine(first === undefined ? io.stderr : io.stdout, usage());
    return first === undefined ? 2 : 0;
  }
  if (first === '-v' || first === '--version') {
    writeLine(io.stdout, version());
    return 0;
  }
  const entry = COMMANDS[first];
  if (!entry) {
    writeLine(io.stderr, `outflow: unknown command "${first}"\n\n${usage()}`);
    return 2;
  }
  const command = await entry.load();
  if (rest.includes('-h') || rest.includes('--help')) {
    writeLine(io.stdout, command.help);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      writeLine(io.stderr, `outflow ${first}: ${err.message}\n\n${command.help}`);
      return 2;
    }
    writeLine(io.stderr, `outflow ${first}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}
