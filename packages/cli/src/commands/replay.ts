import { type ComponentSpec, consoleLogger, type Exporter } from '@outflow/core';
import { type Command, parse, UsageError, writeLine } from '../cli-io.js';
import { readConfigFile } from '../config-file.js';
import { EXPORT_FLAG_HELP, exportersFromFlags } from '../export-flags.js';
import { FORMATS, formatByName } from '../formats.js';
import { ProgressBar } from '../progress.js';
import { runReplay } from '../replay-run.js';
import { JsonLinesStreamExporter } from '../stdout-exporter.js';

const help = `usage: outflow replay [--preset t1537] [--config <file>] [--format <type>] [--export <type>[=<target>]]...
                      [--from <time>] [--to <time>] [--speed <x>] [--dry-run] <file or dir>...

Replay recorded telemetry through the detection pipeline in event time: every input is decoded and the inputs are
merged by event time, so events of different sources arrive in the order they happened. Alerts are written as JSON
lines on stdout (each with detection.id, detection.title, detection.attack.technique, severity and evidence); the
last line on stderr is "replayed <N> events, <A> alerts, <E> errors". Identical input gives identical output.

options:
  --preset <name>     the detection preset (only t1537 for now; the default)
  --config <file>     preset configuration, JSON or YAML (organization accounts, cluster ranges, exceptions, ...)
  --format <type>     input format for every file; without it each file's format is detected.
                      types: ${FORMATS.map((f) => f.name).join(', ')}
${EXPORT_FLAG_HELP}
  --from <time>       only events at or after this time (ISO 8601 or epoch ms)
  --to <time>         only events before this time
  --speed <x>         paced playback: event time runs x times faster than the clock (default: as fast as possible)
  --dry-run           no exporter side effects: --export targets are not contacted; alerts are printed only
  --skip-unknown      skip files whose format cannot be detected instead of failing
  -h, --help          show this help

A progress bar is drawn on stderr when it is a terminal.`;

function parseTime(value: unknown, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const s = String(value);
  const n = /^\d+$/.test(s) ? Number(s) : Date.parse(s);
  if (!Number.isFinite(n)) throw new UsageError(`${flag}: not a time: ${s}`);
  return n;
}

export const replay: Command = {
  name: 'replay',
  summary: 'Replay recorded telemetry through the T1537 preset in event time',
  help,
  async run(argv, io) {
    const { values, positionals } = parse(argv, {
      preset: { type: 'string' },
      config: { type: 'string' },
      format: { type: 'string' },
      export: { type: 'string', multiple: true },
      from: { type: 'string' },
      to: { type: 'string' },
      speed: { type: 'string' },
      'dry-run': { type: 'boolean' },
      'skip-unknown': { type: 'boolean' },
    });
    if (positionals.length === 0) throw new UsageError('give at least one file or directory');
    if (values.preset !== undefined && values.preset !== 't1537') throw new UsageError(`unknown preset "${String(values.preset)}" (known: t1537)`);
    const speed = values.speed === undefined ? undefined : Number(values.speed);
    if (speed !== undefined && !(speed > 0)) throw new UsageError('--speed must be a positive number');
    const from = parseTime(values.from, '--from');
    const to = parseTime(values.to, '--to');
    const dryRun = values['dry-run'] === true;
    const exportFlags = (values.export as string[] | undefined) ?? [];
    const configured = exportersFromFlags(exportFlags);
    const bar = new ProgressBar(io.stderr, 'replay');
    const exporters: (ComponentSpec<Exporter> | Exporter)[] = [];
    if (configured.length === 0 || dryRun) exporters.push(new JsonLinesStreamExporter(io.stdout, () => bar.clear()));
    if (!dryRun) exporters.push(...configured);
    else if (configured.length > 0) writeLine(io.stderr, `dry run: not exporting to ${exportFlags.join(', ')}`);
    const result = await runReplay({
      paths: positionals,
      ...(typeof values.format === 'string' ? { format: formatByName(values.format) } : {}),
      ...(typeof values.config === 'string' ? { presetConfig: readConfigFile(values.config) } : {}),
      exporters,
      ...(from !== undefined ? { from } : {}),
      ...(to !== undefined ? { to } : {}),
      ...(speed !== undefined ? { speed } : {}),
      onProgress: (read, total, time) => bar.update(total > 0 ? read / total : 1, Number.isFinite(time) ? new Date(time).toISOString().slice(0, 19) : ''),
      signal: io.signal,
      logger: consoleLogger('error'),
      skipUnknown: values['skip-unknown'] === true,
    });
    bar.clear();
    for (const m of result.missing) writeLine(io.stderr, `outflow replay: cannot open ${m}`);
    for (const s of result.skipped) writeLine(io.stderr, `outflow replay: skipped ${s} (unknown format)`);
    writeLine(io.stderr, `replayed ${result.events} events, ${result.alerts.length} alerts, ${result.errors} errors`);
    return result.missing.length > 0 ? 1 : 0;
  },
};
