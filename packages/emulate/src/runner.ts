import { randomFillSync } from 'node:crypto';
import { appendFileSync, closeSync, existsSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  type Alert,
  type ComponentFactory,
  type ComponentSpec,
  createPipeline,
  type Detection,
  type Finding,
  type Logger,
  MemoryDeadLetter,
  type Pipeline,
  type Receiver,
  silentLogger,
} from '@outflow/core';
import { t1537 } from '@outflow/detections';
import { k8sAudit } from '@outflow/receiver-k8s-audit';
import { tetragon } from '@outflow/receiver-tetragon';
import { Observable } from 'rxjs';
import { type CleanupReport, emptyCleanupReport, labLinks, labNamespaces, sweep, teardown } from './cleanup.js';
import { LabClock } from './clock.js';
import { type LabFlowReceiver, labNetflow } from './flows.js';
import { Lab } from './lab.js';
import { defaultStateDir, Ledger, listRecords, NAME_PREFIX, newRunId } from './ledger.js';
import { childrenOf, HTTP_SERVER_SCRIPT, which } from './programs.js';
import { buildResults, type EmulationReport, type ReceivedAlert, type StepRun } from './report.js';
import {
  type AttackSizes,
  attackSteps,
  type BackgroundActivity,
  DEFAULT_SIZES,
  LAB_CLUSTER,
  LAB_HOSTS,
  LAB_PODS,
  labPresetConfig,
  nightlyBackup,
  PROBE,
  podTraffic,
  type ScenarioStep,
  SERVICES,
  type StepContext,
} from './scenario.js';
import { abortError, hasCommand, sleep, throwIfAborted } from './sys.js';
import { TelemetryWriter } from './telemetry.js';

/** Raised when the emulation cannot run here (not Linux, not root, a tool missing). */
export class EmulationUnavailable extends Error {
  override readonly name = 'EmulationUnavailable';
}

/** Debian packages that provide the programs the lab runs. */
export const REQUIRED_PROGRAMS: readonly { program: string; debian: string; probe?: string[] }[] = [
  { program: 'ip', debian: 'iproute2', probe: ['-V'] },
  { program: 'bridge', debian: 'iproute2', probe: ['-V'] },
  { program: 'softflowd', debian: 'softflowd' },
  { program: 'softflowctl', debian: 'softflowd' },
  { program: 'nc', debian: 'netcat-openbsd' },
  { program: 'curl', debian: 'curl', probe: ['--version'] },
  { program: 'tar', debian: 'tar', probe: ['--version'] },
  { program: 'sh', debian: 'dash', probe: ['-c', 'true'] },
];

/** Capabilities the lab needs that this process does not have (from `CapEff` in /proc/self/status). */
function missingCapabilities(): string[] {
  let eff: bigint;
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (!m) return [];
    eff = BigInt(`0x${m[1]}`);
  } catch {
    return [];
  }
  const needed: [string, bigint][] = [
    ['CAP_NET_ADMIN', 12n],
    ['CAP_NET_RAW', 13n],
    ['CAP_SYS_ADMIN', 21n],
  ];
  return needed.filter(([, bit]) => (eff & (1n << bit)) === 0n).map(([name]) => name);
}

/** Why the emulation cannot run here, or undefined when it can. */
export function unavailableReason(): string | undefined {
  if (process.platform !== 'linux') return `needs Linux (network namespaces); this is ${process.platform}`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0)
    return 'needs root (it creates network namespaces and captures on a bridge); run it with sudo';
  const missingCaps = missingCapabilities();
  if (missingCaps.length > 0) return `needs the capabilities ${missingCaps.join(', ')} (root in an unprivileged container lacks them)`;
  const missing = REQUIRED_PROGRAMS.filter((p) => !hasCommand(p.program, p.probe));
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((m) => m.debian))];
    return `missing ${missing.map((m) => m.program).join(', ')} (Debian: apt-get install ${pkgs.join(' ')})`;
  }
  return undefined;
}

/** Names of the attack steps (`--scenario` values). */
export function scenarioNames(): string[] {
  return attackSteps().map((s) => s.id);
}

export interface EmulateOptions {
  /** Attack steps to run, by id (`archive_nc`, `curl_upload`, `new_destination_burst`, `slow_trickle`); `benign` is accepted and means no attack of its own. Default: all. */
  scenarios?: readonly string[];
  /** Leave the lab up (namespaces, processes, files) after the run. */
  keep?: boolean;
  /** Event ms per wall ms. Default 120 (a wall second is two event minutes). */
  speed?: number;
  /** Wall ms of benign traffic before the first attack (what the baselines learn from). Default 40 000. */
  warmupMs?: number;
  /** Wall ms between attack steps. Default 4 000. */
  gapMs?: number;
  /** Wall ms to wait for alerts after the last step. Default 15 000. */
  settleMs?: number;
  /** Wall ms between export flushes (heartbeat burst + `softflowctl expire-all`). Default 1 000. */
  tickMs?: number;
  /** Datagrams per heartbeat burst: enough to fill one libpcap TPACKET_V3 block (about 1 800 here). Default 4 000. */
  burstPackets?: number;
  /** Size of the nightly backup upload. Default 300 MB. */
  backupBytes?: number;
  sizes?: Partial<AttackSizes>;
  /** NetFlow version softflowd exports: 9 or 10 (IPFIX, the default). */
  netflowVersion?: 9 | 10;
  /** Where run records are kept. Default `/run/outflow-emulate`. */
  stateDir?: string;
  /** Preset configuration merged over the lab's (`analytics.<id>.params`, ...). */
  presetOverrides?: Record<string, unknown>;
  signal?: AbortSignal;
  /** Progress lines (human-readable). */
  onProgress?: (line: string) => void;
  /** The pipeline's logger. Default silent. */
  logger?: Logger;
  /** Write every event the analytics saw (after enrichment) to this file, as JSON lines. */
  eventLog?: string;
}

const DEFAULTS = { speed: 120, warmupMs: 40_000, gapMs: 4_000, settleMs: 15_000, tickMs: 1_000, burstPackets: 4_000, backupBytes: 300_000_000 };

function mergeDeep(base: Record<string, unknown>, over: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!over) return base;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b)
        ? mergeDeep(b as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

/** Remove what earlier (killed) runs left behind. Needs root and `ip`. */
export async function cleanupLeftovers(options: { stateDir?: string; includeLive?: boolean } = {}): Promise<CleanupReport> {
  return sweep(options.stateDir ?? defaultStateDir(), { includeLive: options.includeLive ?? false });
}

/**
 * Run the emulation: build the lab, start softflowd and the pipeline (the
 * t1537 preset fed by the lab's NetFlow receiver and the audit and Tetragon
 * logs the scenario writes), run benign traffic and the attack steps, and
 * report which steps were caught, by which alert, how fast, and which alerts
 * were false. Everything created is removed at the end, also on failure or
 * abort, unless `keep`.
 */
export async function runEmulation(options: EmulateOptions = {}): Promise<EmulationReport> {
  const reason = unavailableReason();
  if (reason) throw new EmulationUnavailable(`outflow emulate ${reason}`);
  const o = { ...DEFAULTS, ...options };
  const signal = options.signal ?? new AbortController().signal;
  const progress = options.onProgress ?? (() => {});
  const known = scenarioNames();
  const wanted = options.scenarios ?? known;
  for (const name of wanted)
    if (name !== 'benign' && !known.includes(name)) throw new Error(`unknown scenario "${name}" (known: ${[...known, 'benign'].join(', ')})`);
  const sizes = { ...DEFAULT_SIZES, ...options.sizes };
  const attacks = attackSteps(sizes).filter((s) => wanted.includes(s.id));
  const started = Date.now();

  const stateDir = o.stateDir ?? defaultStateDir();
  const swept = await sweep(stateDir);
  const sweptCount = swept.namespaces.length + swept.links.length + swept.processes.length + swept.dirs.length;
  if (sweptCount > 0)
    progress(`removed leftovers of earlier runs: ${swept.namespaces.length} namespaces, ${swept.links.length} links, ${swept.processes.length} processes`);

  // a run id no record, namespace or link uses (a live run's, or a leftover the sweep could not remove)
  const taken = [...listRecords(stateDir).map((r) => r.record?.runId ?? ''), ...(await labNamespaces()), ...(await labLinks())];
  let runId = newRunId();
  for (let i = 0; i < 100 && taken.some((t) => t === runId || t.startsWith(`${NAME_PREFIX}${runId}-`)); i++) runId = newRunId();
  const ledger = Ledger.create(stateDir, runId);
  let lab: Lab | undefined;
  let pipeline: Pipeline | undefined;
  let flows: LabFlowReceiver | undefined;
  const alerts: ReceivedAlert[] = [];
  const suppressed: EmulationReport['suppressed'] = [];
  const runs: StepRun[] = [];
  const benign: EmulationReport['benign'] = [];
  const stats: Record<string, number> = {};
  const deadLetter = new MemoryDeadLetter(10_000);
  let shuttingDown = false;
  let ticker: Promise<void> | undefined;
  let stopTicker = false;
  let failure: unknown;
  let cleanup: CleanupReport | 'kept' = 'kept';
  const background: { stop(): Promise<void> }[] = [];
  try {
    lab = await Lab.build({ hosts: LAB_HOSTS, probe: PROBE }, ledger, signal);
    const theLab = lab;
    progress(`lab ${ledger.runId}: ${theLab.hostNames().length} namespaces on bridge ${theLab.bridge}; files in ${theLab.dir}`);

    // Compressed time: the run's last events land near the present.
    const expectedWall =
      o.warmupMs +
      attacks.length * o.gapMs +
      o.settleMs +
      (attacks.some((a) => a.id === 'slow_trickle') ? sizes.trickleChunks * sizes.trickleEveryMs : 0) +
      10_000;
    const wallOrigin = Date.now();
    const clock = new LabClock(wallOrigin, Math.round(wallOrigin - expectedWall * o.speed), o.speed);
    const telemetry = new TelemetryWriter(theLab.dir, clock, LAB_CLUSTER);
    telemetry.writeInventory(LAB_PODS, clock.eventOrigin - 86_400_000);
    for (const [i, p] of LAB_PODS.entries()) telemetry.podStarted(p, clock.eventOrigin - 3_600_000 + i * 10_000);

    // The pipeline: lab NetFlow receiver, audit and Tetragon logs tailed, the t1537 preset.
    const labSpec: ComponentSpec<Receiver> = {
      factory: {
        ...(labNetflow as unknown as ComponentFactory<unknown, Receiver>),
        create: (ctx, config) => {
          flows = labNetflow.create(ctx, config as never);
          return flows;
        },
      },
      config: {
        // softflowd marks every record flowDirection=ingress (IE 61 = 0): derive direction from addresses instead
        netflow: { udp: { host: '127.0.0.1', port: 0, receiveBufferBytes: 4 << 20 }, useFlowDirection: false },
        timeWarp: { wallOrigin: clock.wallOrigin, eventOrigin: clock.eventOrigin, speed: clock.speed },
        heartbeatAddress: PROBE.address,
      },
      name: 'netflow',
    };
    const presetConfig = mergeDeep(labPresetConfig(telemetry.inventoryPath), options.presetOverrides);
    pipeline = createPipeline({
      name: 'emulate',
      receivers: [
        labSpec,
        k8sAudit({ file: { paths: [telemetry.auditPath], follow: true, pollIntervalMs: 100 } }, { name: 'k8s_audit' }),
        tetragon({ file: { paths: [telemetry.tetragonPath], follow: true, pollIntervalMs: 100 } }, { name: 'tetragon' }),
      ],
      detections: [t1537(presetConfig as never), ...(options.eventLog ? [eventRecorder(options.eventLog)] : [])],
      deadLetter,
      // Flows arrive up to a few flush periods after they end; audit and runtime events as they happen.
      watermark: { maxOutOfOrdernessMs: 3 * o.tickMs * o.speed, idleTimeoutMs: Math.max(2_000, 3 * o.tickMs) },
      logger: options.logger ?? silentLogger,
    });
    pipeline.alerts$.subscribe((alert: Alert) => alerts.push({ alert, wall: Date.now(), atShutdown: shuttingDown }));
    pipeline.suppressed$.subscribe(({ finding, suppressor, reason }) =>
      suppressed.push({
        detection: finding.detection.id,
        suppressor,
        reason,
        ...(finding.workload?.pod ? { pod: finding.workload.pod } : {}),
        summary: finding.explanation.summary,
      }),
    );
    await pipeline.start();
    const receiver = flows as LabFlowReceiver | undefined;
    const port = receiver?.address()?.port;
    if (!receiver || port === undefined) throw new Error('the lab NetFlow receiver did not start');

    await theLab.startSoftflowd({ collectorPort: port, version: o.netflowVersion ?? 10 });
    await theLab.startProbe();
    progress(
      `softflowd exports ${o.netflowVersion === 9 ? 'NetFlow v9' : 'IPFIX'} from ${theLab.bridge} to 127.0.0.1:${port}; speed ${o.speed}x (1 s wall = ${o.speed} s event time)`,
    );

    // Export flushes: a heartbeat burst pushes softflowd's capture buffer along, expire-all exports, the
    // heartbeat's own flow coming back through the receiver marks that everything before it has arrived.
    let heartbeat = 0;
    let missed = 0;
    const flush = async (): Promise<boolean> => {
      const hbPort = 20_000 + (heartbeat++ % 40_000);
      await theLab.burst(hbPort, o.burstPackets);
      for (let i = 0; i < 25; i++) {
        await theLab.softflowctl('expire-all');
        if (await receiver.waitForHeartbeat(hbPort, 120)) return true;
      }
      missed++;
      return false;
    };
    if (!(await flush())) throw new Error(`softflowd exported nothing from ${theLab.bridge} within 3 s: ${theLab.softflowdOutput.trim()}`);
    ticker = (async () => {
      while (!stopTicker) {
        try {
          await flush();
        } catch (err) {
          if (!stopTicker) progress(`flush failed: ${err instanceof Error ? err.message : String(err)}`);
        }
        for (let waited = 0; waited < o.tickMs && !stopTicker; waited += 50) await sleep(50);
      }
    })();

    await startServices(theLab, signal);
    const ctx = stepContext(theLab, clock, telemetry, signal, progress);

    // Benign traffic all along; the nightly backup halfway through the warm-up.
    const activities: BackgroundActivity[] = [podTraffic];
    for (const a of activities) {
      background.push(await a.start(ctx));
      benign.push({ id: a.id, title: a.title, description: a.description });
    }
    progress(`warm-up: ${Math.round(o.warmupMs / 1000)} s of benign traffic (${Math.round((o.warmupMs * o.speed) / 60_000)} min of event time)`);
    await sleep(o.warmupMs / 2, signal);
    const backupStep = nightlyBackup(o.backupBytes);
    await runStep(backupStep, ctx, clock, runs, progress);
    const backupRun = runs[runs.length - 1] as StepRun;
    benign.push({ id: backupStep.id, title: backupStep.title, description: backupStep.description, ...(backupRun.error ? { error: backupRun.error } : {}) });
    await sleep(Math.max(0, o.warmupMs / 2 - (backupRun.endWall - backupRun.startWall)), signal);

    for (const step of attacks) {
      await runStep(step, ctx, clock, runs, progress);
      const mine = () => alerts.filter((a) => step.pods.includes(a.alert.workload?.pod ?? '')).length;
      await sleep(o.gapMs, signal);
      progress(`  ${step.id}: ${mine()} alert(s) so far`);
    }
    progress(`settling: ${Math.round(o.settleMs / 1000)} s for windows to close and correlations to fire`);
    await sleep(o.settleMs, signal);

    for (const b of background.splice(0)) await b.stop();
    stopTicker = true;
    await ticker;
    await flush();
    stats.heartbeatsMissed = missed;
    stats.flows = receiver.flowCount;
    stats.auditEvents = telemetry.counts.audit;
    stats.tetragonEvents = telemetry.counts.tetragon;
    const sfd = await theLab.softflowctl('statistics');
    for (const [key, re] of [
      ['softflowdPacketsProcessed', /Packets processed: (\d+)/],
      ['softflowdRecordsExported', /Flows exported: \d+ \((\d+) records\)/],
      ['pcapDropped', /Packets dropped by libpcap: (\d+)/],
    ] as const) {
      const m = re.exec(sfd);
      if (m) stats[key] = Number(m[1]);
    }
  } catch (err) {
    failure = signal.aborted ? abortError(signal) : err;
  } finally {
    stopTicker = true;
    await ticker?.catch(() => {});
    for (const b of background.splice(0)) await b.stop().catch(() => {});
    if (pipeline) {
      shuttingDown = true;
      await pipeline.shutdown({ deadlineMs: 10_000 });
      const t = pipeline.telemetry;
      for (const r of ['netflow', 'k8s_audit', 'tetragon']) stats[`received.${r}`] = t.total('received', { component: r });
      stats.pipelineErrors = t.total('errors');
    }
    if (!o.keep) {
      await lab?.stopProcesses().catch(() => {});
      cleanup = await teardown(ledger.snapshot());
      if (cleanup.failures.length === 0) ledger.remove();
      else progress(`cleanup incomplete, run \`outflow emulate --cleanup\`: ${cleanup.failures.join('; ')}`);
    } else {
      progress(`--keep: lab ${ledger.runId} left up (record ${ledger.path}); remove it with \`outflow emulate --cleanup --force\``);
    }
  }
  // an abort ends as EmulationAborted, after the cleanup above
  if (failure) throw failure;
  const { steps, falseAlerts, summary } = buildResults(runs, alerts);
  const deadLetters: Record<string, number> = {};
  for (const e of deadLetter.entries()) deadLetters[`${e.component}:${e.reason}`] = (deadLetters[`${e.component}:${e.reason}`] ?? 0) + 1;
  return {
    runId: ledger.runId,
    speed: o.speed,
    steps,
    benign,
    falseAlerts,
    suppressed,
    summary,
    stats,
    deadLetters,
    cleanup: o.keep ? 'kept' : cleanup === 'kept' ? emptyCleanupReport() : cleanup,
    wallMs: Date.now() - started,
  };
}

/** A detection that finds nothing and writes every event it is given (after enrichment) as a JSON line. */
function eventRecorder(path: string): Detection {
  writeFileSync(path, '');
  return {
    id: 'event_log',
    title: 'Event log',
    connect: (events$) =>
      new Observable<Finding>((subscriber) => {
        const sub = events$.subscribe({
          next: (e) => {
            const { raw: _raw, ...rest } = e;
            appendFileSync(path, `${JSON.stringify(rest)}\n`);
          },
          complete: () => subscriber.complete(),
        });
        return () => sub.unsubscribe();
      }),
  };
}

async function runStep(step: ScenarioStep, ctx: StepContext, clock: LabClock, runs: StepRun[], progress: (line: string) => void): Promise<void> {
  throwIfAborted(ctx.signal);
  progress(`${step.kind} ${step.id}: ${step.description}`);
  const startWall = Date.now();
  const run: StepRun = { step, startWall, endWall: startWall, startEvent: clock.toEvent(startWall) };
  runs.push(run);
  try {
    await step.run(ctx);
  } catch (err) {
    if (ctx.signal.aborted) throw abortError(ctx.signal);
    run.error = err instanceof Error ? err.message : String(err);
    progress(`  ${step.id} failed: ${run.error}`);
  }
  run.endWall = Date.now();
}

async function startServices(lab: Lab, signal: AbortSignal): Promise<void> {
  const waits: Promise<void>[] = [];
  for (const s of SERVICES) {
    if (s.http) {
      const proc = lab.spawn(s.host, [process.execPath, '-e', HTTP_SERVER_SCRIPT, ...s.argv], { name: 'http', stdout: 'pipe' });
      waits.push(
        new Promise<void>((resolve, reject) => {
          let out = '';
          const timer = setTimeout(() => reject(new Error(`the HTTP server on ${s.host} did not start`)), 10_000);
          proc.child.stdout?.on('data', (d: Buffer) => {
            out += d.toString();
            if (out.includes('ready')) {
              clearTimeout(timer);
              resolve();
            }
          });
          void proc.exited.then(() => {
            clearTimeout(timer);
            reject(new Error(`the HTTP server on ${s.host} exited`));
          });
        }),
      );
    } else {
      lab.spawn(s.host, s.argv, { name: s.name });
    }
  }
  await Promise.all(waits);
  throwIfAborted(signal);
  // nc listeners need a moment to bind
  await sleep(200, signal);
}

function stepContext(lab: Lab, clock: LabClock, telemetry: TelemetryWriter, signal: AbortSignal, progress: (line: string) => void): StepContext {
  const root = (host: string) => join(lab.dir, 'pods', host);
  const ctx: StepContext = {
    lab,
    clock,
    dir: lab.dir,
    signal,
    podPath(pod, path) {
      const full = join(root(pod.host), path);
      mkdirSync(full, { recursive: true });
      return full;
    },
    telemetry,
    podExecutable(pod, path, script) {
      const full = join(root(pod.host), path);
      mkdirSync(dirname(full), { recursive: true });
      writeFileSync(full, script, { mode: 0o755 });
      return full;
    },
    podFile(pod, path, bytes, options = {}) {
      const full = join(root(pod.host), path);
      if (existsSync(full)) return full;
      mkdirSync(dirname(full), { recursive: true });
      const fd = openSync(full, 'w');
      try {
        if (options.sparse) ftruncateSync(fd, bytes);
        else {
          const block = Buffer.alloc(1 << 20);
          for (let written = 0; written < bytes; ) {
            const n = Math.min(block.length, bytes - written);
            randomFillSync(block, 0, n);
            written += writeSync(fd, block, 0, n);
          }
        }
      } finally {
        closeSync(fd);
      }
      return full;
    },
    async runInPod(pod, argv, options = {}) {
      throwIfAborted(signal);
      const wall = Date.now();
      if (options.exec) telemetry.exec(pod, options.exec, argv, wall);
      const proc = lab.spawn(pod.host, argv, { name: argv[0] as string });
      let stderr = '';
      proc.child.stderr?.on('data', (d: Buffer) => {
        if (stderr.length < 4096) stderr += d.toString();
      });
      const binary = which(argv[0] as string);
      const parent = options.parent;
      telemetry.processExec(
        pod,
        { binary, args: argv.slice(1), ...(proc.child.pid !== undefined ? { pid: proc.child.pid } : {}), ...(parent ? { parent } : {}) },
        wall,
      );
      // the programs a shell starts: found by parent pid while they run, stamped when seen
      const wantChildren = options.children ?? 0;
      if (wantChildren > 0 && proc.child.pid !== undefined) {
        const seen = new Set<number>();
        const shell = { binary, args: argv.slice(1), pid: proc.child.pid };
        const deadline = Date.now() + 2_000;
        let exited = false;
        void proc.exited.then(() => {
          exited = true;
        });
        while (seen.size < wantChildren && !exited && Date.now() < deadline) {
          for (const child of childrenOf(proc.child.pid)) {
            if (seen.has(child.pid)) continue;
            seen.add(child.pid);
            telemetry.processExec(pod, { binary: which(child.argv[0] as string), args: child.argv.slice(1), pid: child.pid, parent: shell }, Date.now());
          }
          await sleep(5);
        }
      }
      const timeout = setTimeout(() => proc.child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
      const onAbort = () => proc.child.kill('SIGKILL');
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        const { code } = await proc.exited;
        throwIfAborted(signal);
        return { code, stderr };
      } finally {
        clearTimeout(timeout);
        signal.removeEventListener('abort', onAbort);
      }
    },
    sleep: (ms) => sleep(ms, signal),
    log: progress,
  };
  return ctx;
}
