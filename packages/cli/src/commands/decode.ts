import type { DecodeError, FormatDefinition, OutflowEvent } from '@outflow/core';
import { type Command, parse, UsageError, writeLine } from '../cli-io.js';
import { detectFormat, FORMATS, formatByName, listFiles, readRecords } from '../formats.js';

const help = `usage: outflow decode [--format <type>] [--raw] [--errors] <file or dir>...

Decode telemetry files into Outflow's normalized events and print them as JSON lines on stdout, one per event
(each with its source id). The last line on stderr is "decoded <N> events, <M> errors". Gzip files are read
transparently; directories are walked recursively in sorted order.

options:
  --format <type>  the input format; without it each file's format is detected from its content.
                   types: ${FORMATS.map((f) => f.name).join(', ')}
  --raw            include each event's raw source record
  --errors         print each bad record (location, reason, message) on stderr
  -h, --help       show this help

exit status: 0, or 1 when an input cannot be opened or its format cannot be detected.`;

export const decode: Command = {
  name: 'decode',
  summary: 'Decode telemetry files into normalized events (JSON lines)',
  help,
  async run(argv, io) {
    const { values, positionals } = parse(argv, { format: { type: 'string' }, raw: { type: 'boolean' }, errors: { type: 'boolean' } });
    if (positionals.length === 0) throw new UsageError('give at least one file or directory');
    const forced = typeof values.format === 'string' ? formatByName(values.format) : undefined;
    const { files, missing } = listFiles(positionals);
    let failed = missing.length > 0;
    for (const m of missing) writeLine(io.stderr, `outflow decode: cannot open ${m}`);
    let events = 0;
    let errors = 0;
    const observedTime = Date.now();
    const out = io.stdout;
    let buffer = '';
    const flush = async () => {
      if (buffer.length === 0) return;
      const chunk = buffer;
      buffer = '';
      if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
    };
    for (const file of files) {
      if (io.signal.aborted) break;
      const format: FormatDefinition | undefined = forced ?? detectFormat(file);
      if (!format) {
        writeLine(io.stderr, `outflow decode: cannot detect the format of ${file}; give --format`);
        failed = true;
        continue;
      }
      const sink = {
        event(e: OutflowEvent) {
          events++;
          const { raw, ...rest } = e;
          buffer += `${JSON.stringify(values.raw ? e : rest)}\n`;
          void raw;
        },
        error(e: DecodeError) {
          errors++;
          if (values.errors) writeLine(io.stderr, `${e.location ?? file}: ${e.reason}: ${e.message}`);
        },
      };
      try {
        for await (const { record, line, firstLine } of readRecords(file, format.framing)) {
          format.decoder.decode(record, sink, { observedTime, location: file, line, ...(firstLine !== undefined ? { firstLine } : {}), receiver: 'decode' });
          if (buffer.length > 1 << 16) await flush();
        }
      } catch (err) {
        writeLine(io.stderr, `outflow decode: cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`);
        failed = true;
      }
      await flush();
    }
    await flush();
    writeLine(io.stderr, `decoded ${events} events, ${errors} errors`);
    return failed ? 1 : 0;
  },
};
