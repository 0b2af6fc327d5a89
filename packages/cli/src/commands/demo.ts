import { type Exporter, SEVERITIES } from '@outflow/core';
import { consoleExporter } from '@outflow/exporter-console';
import { DEFAULT_SCENARIOS } from '@outflow/testkit';
import { type Command, parse, UsageError, writeLine } from '../cli-io.js';
import { ProgressBar } from '../progress.js';
import { duration, runScenario, table } from '../scenario-run.js';

const help = `usage: outflow demo [--seed <n>] [--hours <h>] [--keep] [--quiet]

Replays a bundled, generated scenario through the full t1537 preset, with no network, cluster or cloud account:
eight hours of a small EKS-style cluster (web services, an hourly ETL job, a nightly backup syncing to the
organisation's own S3 bucket, CI pulling images, an SRE using kubectl) and the attack chain of the strategy (a pod
from an untrusted image, kubectl exec, secrets read, tar of application data, an upload with curl to an external
address, an EBS snapshot shared with a foreign account). Alerts are printed as they fire, then a summary: alerts by
detection and severity, which attack steps were caught, what was suppressed and why, and events per second.

options:
  --seed <n>    generator seed (default 1537)
  --hours <h>   simulated hours (default 8)
  --keep        keep the generated telemetry (the directory is printed) to replay it yourself
  --quiet       print only the summary
  -h, --help    show this help`;

export const demo: Command = {
  name: 'demo',
  summary: 'Replay the bundled scenario through the T1537 preset and print alerts',
  help,
  async run(argv, io) {
    const { values } = parse(argv, { seed: { type: 'string' }, hours: { type: 'string' }, keep: { type: 'boolean' }, quiet: { type: 'boolean' } }, false);
    const seed = values.seed === undefined ? 1537 : Number(values.seed);
    const hours = values.hours === undefined ? 8 : Number(values.hours);
    if (!Number.isInteger(seed) || seed < 0) throw new UsageError('--seed must be a non-negative integer');
    if (!(hours >= 2 && hours <= 72)) throw new UsageError('--hours must be between 2 and 72');
    const bar = new ProgressBar(io.stderr, 'demo');
    const out = io.stdout;
    const printer = consoleExporter({ stream: out });
    const exporters: (Exporter | typeof printer)[] = [];
    if (!values.quiet) {
      // Clear the progress bar before each alert is printed so the two do not interleave.
      exporters.push({
        export: async () => bar.clear(),
        shutdown: async () => {},
      });
      exporters.push(printer);
    }
    writeLine(io.stderr, `demo: generating ${hours} h of telemetry for a small cluster (seed ${seed}) and replaying it through the t1537 preset...`);
    const started = Date.now();
    const run = await runScenario({
      seed,
      hours,
      scenarios: DEFAULT_SCENARIOS,
      exporters,
      keep: values.keep === true,
      onProgress: (r, t, time) => bar.update(t ? r / t : 1, Number.isFinite(time) ? new Date(time).toISOString().slice(11, 16) : ''),
      signal: io.signal,
    });
    bar.clear();
    const { result, evaluation: e, telemetry } = run;
    const alerts = result.alerts.filter((a) => a.status === 'new');
    const wall = Date.now() - started;

    writeLine(out, '\n== Summary ==');
    writeLine(
      out,
      `${result.events.toLocaleString('en-US')} events (${Object.entries(telemetry.meta.counts)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}) in ${(result.wallMs / 1000).toFixed(1)} s: ${Math.round(result.events / (result.wallMs / 1000)).toLocaleString('en-US')} events/s`,
    );
    writeLine(out, `${alerts.length} alerts, ${result.errors} bad records\n`);

    const bySeverity = new Map<string, Record<string, number>>();
    for (const a of alerts) {
      const row = bySeverity.get(a.detection.id) ?? {};
      row[a.severity] = (row[a.severity] ?? 0) + 1;
      bySeverity.set(a.detection.id, row);
    }
    const sev = [...SEVERITIES].reverse();
    writeLine(out, 'Alerts by detection and severity');
    writeLine(
      out,
      table(
        ['detection', ...sev, 'total'],
        [...bySeverity.entries()]
          .sort()
          .map(([id, row]) => [id, ...sev.map((s) => String(row[s] ?? 0)), String(Object.values(row).reduce((x, y) => x + y, 0))]),
      ),
    );

    writeLine(out, '\nAttack steps');
    writeLine(
      out,
      table(
        ['step', 'caught', 'first alert after', 'by'],
        e.steps.map((s) => [
          `${s.step.step}: ${s.step.description}`.slice(0, 80),
          s.caught ? 'yes' : 'MISSED',
          duration(s.latencyMs),
          (s.byExpected.length ? s.byExpected : s.by).join(', ') || '-',
        ]),
      ),
    );

    const onBackup = alerts.filter((a) => a.workload?.workloadName === 'nightly-backup');
    writeLine(
      out,
      `\nBenign activity: ${e.falseAlerts.length} false alert${e.falseAlerts.length === 1 ? '' : 's'}; nightly backup to the organisation's bucket: ${onBackup.length === 0 ? 'no alerts' : `${onBackup.length} ALERTS`}`,
    );
    for (const a of e.falseAlerts) writeLine(out, `  false alert: ${a.detection.id}: ${a.explanation.summary}`);

    const suppressed = new Map<string, number>();
    for (const s of result.suppressed) {
      const key = `${s.finding.detection.id} — ${s.suppressor}: ${s.reason}`;
      suppressed.set(key, (suppressed.get(key) ?? 0) + 1);
    }
    writeLine(out, `\nSuppressed findings: ${result.suppressed.length}`);
    for (const [k, n] of [...suppressed.entries()].sort()) writeLine(out, `  ${String(n).padStart(4)} × ${k}`);
    if (values.keep)
      writeLine(
        out,
        `\nTelemetry kept in ${run.dir} (replay it: outflow replay --config ${run.dir}/outflow.config.json ${run.dir}/k8s-audit ${run.dir}/cloudtrail ${run.dir}/vpc-flow ${run.dir}/falco ${run.dir}/tetragon)`,
      );
    const caught = e.steps.filter((s) => s.caught).length;
    writeLine(out, `\ndemo caught=${caught}/${e.steps.length} false=${e.falseAlerts.length} alerts=${alerts.length} seconds=${(wall / 1000).toFixed(1)}`);
    return 0;
  },
};
