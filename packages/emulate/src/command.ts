import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { leftovers } from './cleanup.js';
import { defaultStateDir } from './ledger.js';
import { formatReport } from './report.js';
import { cleanupLeftovers, type EmulateOptions, EmulationUnavailable, runEmulation, scenarioNames, unavailableReason } from './runner.js';
import { EmulationAborted } from './sys.js';

export const EMULATE_HELP = `usage: outflow emulate [--scenario <name>]... [--keep] [--speed <x>] [--warmup <s>] [--json <file>]
       outflow emulate --cleanup [--force]

Adversary emulation (root, Linux): builds a lab of network namespaces joined by veth pairs to a bridge
(pods of a pretend cluster, an external host, the organisation's storage host), exports IPFIX from the
bridge with softflowd to the NetFlow receiver on 127.0.0.1, and runs the T1537 preset over it while real
programs move real bytes: benign traffic (HTTP between pods and to a partner API, a nightly backup of a few
hundred MB to our storage) and attacks. The scenario writes the matching Kubernetes audit events (pod
starts, kubectl exec) and Tetragon process_exec events. Time is compressed: one wall second is <speed>
seconds of event time for every source.

Prints one row per attack step (caught or missed, the first alert, the latency from the step's start to it)
and the false alerts on benign traffic; the last line is
  emulate caught=<k>/<n> false=<f> latency_p50_ms=<x> latency_max_ms=<y>
Exit code 0 when every step was caught and nothing benign alerted, 1 otherwise, 130 when interrupted.

Everything it creates (namespaces, links, processes, files) is removed at the end, also after a failure or
Ctrl-C. A run killed with SIGKILL leaves a record under ${defaultStateDir()}: the next run, or --cleanup,
removes what it names and anything else named ofx-*.

options:
  --scenario <name>   attack steps to run (repeatable): ${scenarioNames().join(', ')}; "benign" runs none (default: all)
  --keep              leave the lab up afterwards (remove it later with --cleanup --force)
  --speed <x>         event seconds per wall second (default 120)
  --warmup <s>        wall seconds of benign traffic before the first attack (default 40)
  --settle <s>        wall seconds to wait for alerts after the last step (default 15)
  --netflow <v>       9 or 10 (IPFIX, default)
  --json <file>       also write the full report as JSON
  --events <file>     write every event the analytics saw (enriched) as JSON lines
  --cleanup           remove leftovers of earlier runs and exit
  --force             with --cleanup: also remove runs whose process is still alive (a --keep lab)
  -h, --help          show this help`;

/** Streams and signal the command runs with. */
export interface EmulateIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  signal: AbortSignal;
}

/** An error in how the command was called (exit code 2). */
export class EmulateUsageError extends Error {
  override readonly name = 'EmulateUsageError';
}

function seconds(value: unknown, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!(n >= 0) || !Number.isFinite(n)) throw new EmulateUsageError(`${flag} must be a number of seconds`);
  return n * 1000;
}

/** Parse `outflow emulate` arguments into options (throws EmulateUsageError). */
export function parseEmulateArgs(argv: readonly string[]): { options: EmulateOptions; json?: string; cleanup: boolean; force: boolean } {
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      allowPositionals: false,
      strict: true,
      options: {
        scenario: { type: 'string', multiple: true },
        keep: { type: 'boolean' },
        speed: { type: 'string' },
        warmup: { type: 'string' },
        settle: { type: 'string' },
        netflow: { type: 'string' },
        json: { type: 'string' },
        events: { type: 'string' },
        cleanup: { type: 'boolean' },
        force: { type: 'boolean' },
      },
    }));
  } catch (err) {
    throw new EmulateUsageError(err instanceof Error ? err.message : String(err));
  }
  const options: EmulateOptions = {};
  const scenarios = (values.scenario as string[] | undefined) ?? [];
  const known = [...scenarioNames(), 'benign'];
  for (const s of scenarios) if (!known.includes(s)) throw new EmulateUsageError(`unknown scenario "${s}" (known: ${known.join(', ')})`);
  if (scenarios.length > 0) options.scenarios = scenarios;
  if (values.keep === true) options.keep = true;
  if (values.speed !== undefined) {
    const speed = Number(values.speed);
    if (!(speed > 0) || !Number.isFinite(speed)) throw new EmulateUsageError('--speed must be a positive number');
    options.speed = speed;
  }
  const warmup = seconds(values.warmup, '--warmup');
  if (warmup !== undefined) options.warmupMs = warmup;
  const settle = seconds(values.settle, '--settle');
  if (settle !== undefined) options.settleMs = settle;
  if (values.netflow !== undefined) {
    if (values.netflow !== '9' && values.netflow !== '10') throw new EmulateUsageError('--netflow must be 9 or 10');
    options.netflowVersion = values.netflow === '9' ? 9 : 10;
  }
  if (typeof values.events === 'string') options.eventLog = values.events;
  if (values.force === true && values.cleanup !== true) throw new EmulateUsageError('--force only goes with --cleanup');
  return { options, ...(typeof values.json === 'string' ? { json: values.json } : {}), cleanup: values.cleanup === true, force: values.force === true };
}

/** `outflow emulate`: returns the exit code. */
export async function emulateCommand(argv: readonly string[], io: EmulateIO): Promise<number> {
  const parsed = parseEmulateArgs(argv);
  const err = (line: string) => io.stderr.write(`${line}\n`);
  if (parsed.cleanup) {
    const reason = unavailableReason();
    if (reason && !reason.startsWith('missing')) {
      err(`outflow emulate --cleanup ${reason}`);
      return 1;
    }
    const report = await cleanupLeftovers({ includeLive: parsed.force });
    err(
      `removed ${report.namespaces.length} namespaces, ${report.links.length} links, ${report.processes.length} processes, ${report.dirs.length} directories, ${report.records.length} run records`,
    );
    for (const f of report.failures) err(`  failed: ${f}`);
    const left = await leftovers();
    if (left.namespaces.length + left.links.length + left.processes.length > 0)
      err(`still present (a live run?): ${[...left.namespaces, ...left.links, ...left.processes.map((p) => `pid ${p}`)].join(', ')}`);
    return report.failures.length > 0 ? 1 : 0;
  }
  try {
    const report = await runEmulation({ ...parsed.options, signal: io.signal, onProgress: (line) => err(`emulate: ${line}`) });
    if (parsed.json) writeFileSync(parsed.json, `${JSON.stringify(report, null, 2)}\n`);
    io.stdout.write(`${formatReport(report)}\n`);
    const s = report.summary;
    return s.caught === s.total && s.falseAlerts === 0 && report.steps.every((st) => !st.error) ? 0 : 1;
  } catch (e) {
    if (e instanceof EmulationAborted) {
      err(`outflow emulate: interrupted (${e.message}); the lab was removed`);
      return 130;
    }
    if (e instanceof EmulationUnavailable) {
      err(e.message);
      return 1;
    }
    throw e;
  }
}
