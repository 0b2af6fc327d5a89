import { SCENARIOS } from '@outflow/testkit';
import { type Command, parse, UsageError, writeLine } from '../cli-io.js';
import { ProgressBar } from '../progress.js';
import { duration, pct, runScenario, table } from '../scenario-run.js';

const help = `usage: outflow eval [--scenario <name>]... [--seed <n>] [--hours <h>] [--workloads <n>] [--json]

Generate labelled telemetry (Kubernetes audit, CloudTrail, VPC flow logs, Falco, Tetragon) for the chosen scenarios on
top of background web traffic, replay it through the t1537 preset, and score the alerts against the labels: per
analytic, true and false positives, precision, recall and detection latency (event time from the start of an attack
step to the analytic's first alert on it). An alert is a true positive when it matches an attack step (its evidence,
workload or actor, within the step's time); a step is caught when any alert matches it.
The last line is "eval precision=<p> recall=<r> alerts=<n>".

options:
  --scenario <name>  repeatable; default all. Scenarios:
${Object.values(SCENARIOS)
  .map(
    (s) => `                       ${s.name.padEnd(22)} ${s.kind.padEnd(7)} ${s.description.length > 70 ? `${s.description.slice(0, 67)}...` : s.description}`,
  )
  .join('\n')}
  --seed <n>         generator seed (default 1)
  --hours <h>        simulated hours (default 8)
  --workloads <n>    scale of the background (extra web services; default 1)
  --json             print the table as JSON instead of text
  -h, --help         show this help`;

export const evalCommand: Command = {
  name: 'eval',
  summary: 'Score the T1537 preset on generated, labelled scenarios',
  help,
  async run(argv, io) {
    const { values } = parse(
      argv,
      {
        scenario: { type: 'string', multiple: true },
        seed: { type: 'string' },
        hours: { type: 'string' },
        workloads: { type: 'string' },
        json: { type: 'boolean' },
      },
      false,
    );
    const scenarios = (values.scenario as string[] | undefined) ?? Object.keys(SCENARIOS);
    for (const s of scenarios) if (!SCENARIOS[s]) throw new UsageError(`unknown scenario "${s}" (known: ${Object.keys(SCENARIOS).join(', ')})`);
    const num = (v: unknown, name: string, fallback: number) => {
      if (v === undefined) return fallback;
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number`);
      return n;
    };
    const seed = num(values.seed, 'seed', 1);
    const hours = num(values.hours, 'hours', 8);
    const workloads = num(values.workloads, 'workloads', 1);
    const bar = new ProgressBar(io.stderr, 'eval');
    const {
      evaluation: e,
      result,
      telemetry,
    } = await runScenario({ seed, hours, workloads, scenarios, onProgress: (r, t) => bar.update(t ? r / t : 1), signal: io.signal });
    bar.clear();
    const rows = e.perAnalytic.map((a) => ({
      analytic: a.analytic,
      tp: a.truePositives,
      fp: a.falsePositives,
      precision: a.precision,
      recall: a.recall,
      expectedSteps: a.expectedSteps,
      caughtSteps: a.caughtSteps,
      latencyMedianMs: a.latencyMedianMs,
      latencyMaxMs: a.latencyMaxMs,
    }));
    if (values.json) {
      const json = {
        seed,
        hours,
        scenarios,
        events: result.events,
        perAnalytic: rows,
        steps: e.steps.map((s) => ({ scenario: s.step.scenario, step: s.step.step, caught: s.caught, by: s.by, latencyMs: s.latencyMs })),
        falseAlerts: e.falseAlerts.map((a) => ({ detection: a.detection.id, dedupKey: a.dedupKey, summary: a.explanation.summary })),
        precision: e.precision,
        recall: e.recall,
        alerts: e.alerts,
      };
      writeLine(io.stdout, JSON.stringify(json, null, 2));
    } else {
      writeLine(
        io.stdout,
        `scenarios: ${scenarios.join(', ')}  (seed ${seed}, ${hours} h, ${result.events} events, ${telemetry.labels.filter((l) => l.kind === 'attack').length} attack steps)\n`,
      );
      writeLine(
        io.stdout,
        table(
          ['analytic', 'TP', 'FP', 'precision', 'recall', 'steps', 'latency p50', 'latency max'],
          rows.map((r) => [
            r.analytic,
            String(r.tp),
            String(r.fp),
            pct(r.precision),
            pct(r.recall),
            `${r.caughtSteps}/${r.expectedSteps}`,
            duration(r.latencyMedianMs),
            duration(r.latencyMaxMs),
          ]),
        ),
      );
      writeLine(io.stdout);
      writeLine(
        io.stdout,
        table(
          ['attack step', 'caught', 'by', 'latency'],
          e.steps.map((s) => [
            `${s.step.scenario}/${s.step.step}`,
            s.caught ? 'yes' : 'NO',
            (s.byExpected.length ? s.byExpected : s.by).join(' ') || '-',
            duration(s.latencyMs),
          ]),
        ),
      );
      if (e.falseAlerts.length > 0) {
        writeLine(io.stdout, '\nfalse alerts:');
        for (const a of e.falseAlerts) writeLine(io.stdout, `  ${a.detection.id}: ${a.explanation.summary}`);
      }
      writeLine(io.stdout);
    }
    writeLine(io.stdout, `eval precision=${pct(e.precision)} recall=${pct(e.recall)} alerts=${e.alerts}`);
    return 0;
  },
};
