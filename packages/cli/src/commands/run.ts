import { ConfigError } from '@outflow/core';
import { type Command, parse, UsageError, writeLine } from '../cli-io.js';
import { EXPORT_FLAG_HELP, exportersFromFlags } from '../export-flags.js';
import { loadPipeline } from '../run-config.js';

const help = `usage: outflow run [--check] [--deadline <ms>] [--export <type>[=<target>]]... <config>

Run a long-lived pipeline. <config> is either
  - a YAML or JSON pipeline file naming components by type with their config:
        name: prod-eu-1
        receivers:
          - type: k8s_audit
            config: { http: { host: 0.0.0.0, port: 8443, bearerTokenFile: /etc/outflow/token } }
          - type: aws_cloudtrail
            config: { file: { paths: [/var/log/cloudtrail], follow: true } }
        detections:
          - type: t1537
            config: { organization: { accounts: ["111122223333"] } }
        exporters:
          - type: otlp
            config: { url: http://collector:4318/v1/logs }
        checkpoint: { path: /var/lib/outflow/checkpoint.json }
  - or a JavaScript/TypeScript module whose default export is a pipeline, pipeline options,
    or a function returning one.
The whole configuration is validated at start and every problem is reported with its path.
SIGINT/SIGTERM shut the pipeline down gracefully: receivers stop, queued events are processed,
exporters flush, and the checkpoint is written.

options:
  --check           validate the configuration and exit (0 when valid, 1 otherwise)
  --deadline <ms>   shutdown deadline (default 10000)
${EXPORT_FLAG_HELP.replace('without it, alerts go to stdout as JSON lines', 'added to the exporters the config names')}
  -h, --help        show this help

See docs/reference/configuration.md for every component's options.`;

export const runCommand: Command = {
  name: 'run',
  summary: 'Run a long-lived pipeline from a YAML/JSON file or a config module',
  help,
  async run(argv, io) {
    const { values, positionals } = parse(argv, { check: { type: 'boolean' }, deadline: { type: 'string' }, export: { type: 'string', multiple: true } });
    if (positionals.length !== 1) throw new UsageError('give exactly one config file');
    const deadlineMs = values.deadline === undefined ? 10_000 : Number(values.deadline);
    if (!(deadlineMs > 0)) throw new UsageError('--deadline must be a positive number of milliseconds');
    let pipeline: Awaited<ReturnType<typeof loadPipeline>>;
    try {
      pipeline = await loadPipeline(positionals[0] as string, exportersFromFlags((values.export as string[] | undefined) ?? []));
    } catch (err) {
      if (err instanceof ConfigError) {
        writeLine(io.stderr, err.message);
        return 1;
      }
      throw err;
    }
    if (values.check) {
      writeLine(io.stdout, `${positionals[0]}: ok`);
      await pipeline.shutdown();
      return 0;
    }
    let stopping: Promise<unknown> | undefined;
    const stop = () => {
      stopping ??= pipeline.shutdown({ deadlineMs }).then((report) => {
        writeLine(
          io.stderr,
          `outflow run: stopped${report.clean ? '' : ` (not clean: ${report.alertsDroppedAtDeadline} alerts dead-lettered at the deadline${report.failures.map((f) => `; ${f.component}: ${f.error}`).join('')})`} in ${report.durationMs} ms`,
        );
      });
      return stopping;
    };
    io.signal.addEventListener('abort', () => void stop(), { once: true });
    await pipeline.start();
    writeLine(io.stderr, `outflow run: pipeline "${pipeline.name}" running; Ctrl-C or SIGTERM to stop`);
    await pipeline.done;
    await stop();
    const t = pipeline.telemetry;
    writeLine(
      io.stderr,
      `outflow run: ${t.total('received')} events received, ${t.total('emitted', { component: 'pipeline', reason: 'alert' })} alerts, ${t.total('errors')} errors`,
    );
    return 0;
  },
};
