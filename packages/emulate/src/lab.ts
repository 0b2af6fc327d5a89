import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { RUN_DIR_MARKER } from './cleanup.js';
import { type Ledger, NAME_PREFIX } from './ledger.js';
import { type CommandResult, ip, type RunOptions, run, sleep, throwIfAborted } from './sys.js';

/** One machine of the lab: a network namespace with one veth on the lab bridge. */
export interface LabHostSpec {
  /** Short name (letters, digits; at most 8), part of the namespace name `ofx-<run>-<name>`. */
  name: string;
  /** Addresses with prefix length, e.g. `10.244.0.13/24`; the first is the host's main address. */
  addresses: readonly string[];
}

/** The heartbeat probe: a namespace that sends bursts of tiny datagrams to a neighbour that does not exist. */
export interface ProbeSpec {
  /** Source address of the bursts; flows from it are lab instrumentation, not traffic. */
  address: string;
  /** Destination address of the bursts (a static neighbour with a made-up MAC). */
  target: string;
}

export interface LabSpec {
  hosts: readonly LabHostSpec[];
  probe: ProbeSpec;
}

export interface SoftflowdOptions {
  /** UDP port of the NetFlow receiver on 127.0.0.1. */
  collectorPort: number;
  /** NetFlow version: 9, or 10 (IPFIX). Default 10. */
  version?: 9 | 10;
  /** softflowd timeouts in seconds (`-t name=seconds`). */
  timeouts?: Readonly<Record<string, number>>;
  /** libpcap buffer (`-B`), bytes. Default 8 MiB. */
  bufferBytes?: number;
}

export interface LabProcess {
  readonly host: string;
  readonly name: string;
  readonly child: ChildProcess;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

const MADE_UP_MAC = '02:00:00:0f:00:01';
/** UDP port of the export relay on the switch namespace's loopback (private to the namespace). */
const RELAY_PORT = 2055;
const DISABLE_IPV6 = 'for f in /proc/sys/net/ipv6/conf/*/disable_ipv6; do echo 1 > "$f"; done';

/**
 * A lab of network namespaces joined by veth pairs to one Linux bridge that
 * lives in a namespace of its own (`ofx-<run>-sw`, the switch). Nothing is
 * created in the root namespace: no link, no address, no route, and the
 * host's firewall never sees lab traffic (a bridge in the root namespace
 * would hand its frames to the host's iptables when `br_netfilter` is
 * loaded, as on Docker hosts, whose FORWARD policy drops them). Every host
 * gets an on-link default route, so any lab address is one ARP away; nothing
 * is routed out of the lab.
 *
 * softflowd captures on the bridge inside the switch namespace and exports
 * to a relay there (UDP on the switch's loopback), which hands each datagram
 * through a pipe to this process, which sends it unchanged to the NetFlow
 * receiver on the root namespace's 127.0.0.1.
 *
 * Everything is recorded in the run's ledger before it is created.
 */
export class Lab {
  readonly runId: string;
  readonly bridge: string;
  /** The switch namespace: the bridge, the hosts' veth ends, softflowd and the export relay. */
  readonly switchNs: string;
  readonly dir: string;
  private readonly hosts = new Map<string, { ns: string; veth: string; spec: LabHostSpec }>();
  private readonly processes = new Set<LabProcess>();
  private softflowd: LabProcess | undefined;
  private softflowdLog = '';
  private probe: { proc: LabProcess; lines: AsyncIterator<string>; pending: Promise<void> } | undefined;
  private relayOut: Socket | undefined;
  private relayed = 0;

  private constructor(
    private readonly ledger: Ledger,
    private readonly spec: LabSpec,
  ) {
    this.runId = ledger.runId;
    this.bridge = `${NAME_PREFIX}${this.runId}-br`;
    this.switchNs = `${NAME_PREFIX}${this.runId}-sw`;
    this.dir = join(tmpdir(), `${NAME_PREFIX}${this.runId}`);
  }

  /** Build the lab. On failure, what was created is in the ledger for the caller's cleanup. */
  static async build(spec: LabSpec, ledger: Ledger, signal?: AbortSignal): Promise<Lab> {
    const lab = new Lab(ledger, spec);
    ledger.setDir(lab.dir);
    mkdirSync(lab.dir, { recursive: true });
    writeFileSync(join(lab.dir, RUN_DIR_MARKER), `${ledger.runId}\n`);
    await lab.createBridge();
    let index = 0;
    for (const host of [...spec.hosts, { name: 'probe', addresses: [`${spec.probe.address}/24`] }]) {
      throwIfAborted(signal);
      await lab.createHost(host, index++);
    }
    await lab.configureProbe();
    return lab;
  }

  private async createBridge(): Promise<void> {
    const sw = this.switchNs;
    this.ledger.addNamespace(sw);
    await ip(['netns', 'add', sw]);
    await ip(['-n', sw, 'link', 'set', 'dev', 'lo', 'up']);
    // IPv4 only; bridged frames skip iptables even where br_netfilter is loaded (the switch has no rules anyway)
    await run('ip', ['netns', 'exec', sw, 'sh', '-c', `${DISABLE_IPV6}; echo 0 > /proc/sys/net/bridge/bridge-nf-call-iptables`], { allowFailure: true });
    const withOptions = await ip(
      ['-n', sw, 'link', 'add', 'name', this.bridge, 'type', 'bridge', 'nf_call_iptables', '0', 'nf_call_ip6tables', '0', 'nf_call_arptables', '0'],
      { allowFailure: true },
    );
    // kernels without the bridge netfilter options: a plain bridge
    if (withOptions.code !== 0) await ip(['-n', sw, 'link', 'add', 'name', this.bridge, 'type', 'bridge']);
    await ip(['-n', sw, 'link', 'set', 'dev', this.bridge, 'up']);
  }

  private async createHost(spec: LabHostSpec, index: number): Promise<void> {
    if (!/^[a-z][a-z0-9]{0,7}$/.test(spec.name) || spec.name === 'sw')
      throw new Error(`lab host name "${spec.name}" must be 1-8 lowercase letters and digits, not "sw"`);
    const ns = this.namespaceName(spec.name);
    const veth = `${NAME_PREFIX}${this.runId}-v${index}`;
    const sw = this.switchNs;
    this.ledger.addNamespace(ns);
    await ip(['netns', 'add', ns]);
    await ip(['-n', ns, 'link', 'set', 'dev', 'lo', 'up']);
    // IPv4 only: no router solicitations or MLD reports from the lab
    await run('ip', ['netns', 'exec', ns, 'sh', '-c', DISABLE_IPV6], { allowFailure: true });
    // the pair is born with one end in the switch and the other in the host: never in the root namespace
    await ip(['-n', sw, 'link', 'add', 'name', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await run('ip', ['netns', 'exec', sw, 'sh', '-c', `echo 1 > /proc/sys/net/ipv6/conf/${veth}/disable_ipv6`], { allowFailure: true });
    await run('ip', ['netns', 'exec', ns, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv6/conf/eth0/disable_ipv6'], { allowFailure: true });
    await ip(['-n', sw, 'link', 'set', 'dev', veth, 'master', this.bridge]);
    await ip(['-n', sw, 'link', 'set', 'dev', veth, 'up']);
    for (const address of spec.addresses) await ip(['-n', ns, 'addr', 'add', address, 'dev', 'eth0']);
    await ip(['-n', ns, 'link', 'set', 'dev', 'eth0', 'up']);
    await ip(['-n', ns, 'route', 'add', 'default', 'dev', 'eth0']);
    this.hosts.set(spec.name, { ns, veth, spec });
  }

  private async configureProbe(): Promise<void> {
    const probe = this.hosts.get('probe');
    if (!probe) throw new Error('no probe host');
    const { target } = this.spec.probe;
    await ip(['-n', probe.ns, 'neigh', 'replace', target, 'lladdr', MADE_UP_MAC, 'dev', 'eth0', 'nud', 'permanent']);
    // The bridge learns the made-up MAC on the probe's own port, so bursts reach the bridge device (where
    // softflowd captures) and no other host. Without `bridge`, they are flooded to every port: still correct.
    await run('bridge', ['-n', this.switchNs, 'fdb', 'add', MADE_UP_MAC, 'dev', probe.veth, 'master', 'static'], { allowFailure: true });
  }

  namespaceName(host: string): string {
    return `${NAME_PREFIX}${this.runId}-${host}`;
  }

  /** The namespace of a lab host. */
  ns(host: string): string {
    const h = this.hosts.get(host);
    if (!h) throw new Error(`no lab host "${host}"`);
    return h.ns;
  }

  /** The main address of a lab host. */
  address(host: string): string {
    const h = this.hosts.get(host);
    if (!h) throw new Error(`no lab host "${host}"`);
    return (h.spec.addresses[0] as string).split('/')[0] as string;
  }

  hostNames(): string[] {
    return [...this.hosts.keys()];
  }

  /** Start a long-running program inside a host's namespace. Its pid is recorded before this returns. */
  spawn(host: string, argv: readonly string[], options: { name?: string; stdin?: 'pipe' | 'ignore'; stdout?: 'pipe' | 'ignore' } = {}): LabProcess {
    const ns = host === 'sw' ? this.switchNs : this.ns(host);
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: [options.stdin ?? 'ignore', options.stdout ?? 'ignore', 'pipe'] });
    return this.track(host, options.name ?? (argv[0] as string), child);
  }

  private track(host: string, name: string, child: ChildProcess): LabProcess {
    if (child.pid !== undefined) this.ledger.addProcess(child.pid, `${host}:${name}`);
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 64 * 1024) stderr += d;
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('error', () => resolve({ code: null, signal: null }));
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    const proc: LabProcess = {
      host,
      name,
      child,
      exited,
      stop: async (graceMs = 1_000) => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
          await exited;
          clearTimeout(timer);
        }
        this.processes.delete(proc);
      },
    };
    Object.defineProperty(proc, 'stderr', { get: () => stderr });
    this.processes.add(proc);
    void exited.then(() => this.processes.delete(proc));
    return proc;
  }

  /** Run a program inside a host's namespace to completion. */
  exec(host: string, argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    return run('ip', ['netns', 'exec', this.ns(host), ...argv], options);
  }

  /**
   * Start softflowd on the lab bridge (IPFIX with absolute millisecond times
   * by default, IPv4 only), exporting to the relay in the switch namespace,
   * which forwards every datagram unchanged to `127.0.0.1:<collectorPort>`
   * in the root namespace.
   */
  async startSoftflowd(options: SoftflowdOptions): Promise<void> {
    await this.startRelay(options.collectorPort);
    const ctl = join(this.dir, 'softflowd.ctl');
    const timeouts = options.timeouts ?? { maxlife: 2, general: 2, tcp: 2, 'tcp.rst': 1, 'tcp.fin': 1, udp: 2, icmp: 2, expint: 1 };
    const args = [
      'softflowd',
      '-i',
      this.bridge,
      '-n',
      `127.0.0.1:${RELAY_PORT}`,
      '-v',
      String(options.version ?? 10),
      '-A',
      'milli',
      '-d',
      '-p',
      join(this.dir, 'softflowd.pid'),
      '-c',
      ctl,
      '-B',
      String(options.bufferBytes ?? 8 << 20),
      ...Object.entries(timeouts).flatMap(([k, v]) => ['-t', `${k}=${v}`]),
      'ip',
    ];
    const proc = this.spawn('sw', args, { name: 'softflowd' });
    proc.child.stderr?.on('data', (d: Buffer) => {
      if (this.softflowdLog.length < 64 * 1024) this.softflowdLog += d.toString();
    });
    this.softflowd = proc;
    let exited = false;
    void proc.exited.then(() => {
      exited = true;
    });
    for (let i = 0; i < 100 && !exited && !existsSync(ctl); i++) await sleep(50);
    if (exited || !existsSync(ctl)) throw new Error(`softflowd did not start on ${this.bridge}: ${this.softflowdLog.trim() || 'no control socket'}`);
  }

  /** The export relay: UDP on the switch's 127.0.0.1 → length-prefixed frames on a pipe → UDP to the collector. */
  private async startRelay(collectorPort: number): Promise<void> {
    const script = [
      "const dgram = require('node:dgram');",
      "const socket = dgram.createSocket('udp4');",
      "socket.on('message', (msg) => { const head = Buffer.alloc(4); head.writeUInt32BE(msg.length); process.stdout.write(Buffer.concat([head, msg])); });",
      `socket.bind(${RELAY_PORT}, '127.0.0.1', () => process.stderr.write('ready\\n'));`,
      "process.stdin.on('end', () => process.exit(0));",
      'process.stdin.resume();',
    ].join('\n');
    const proc = this.spawn('sw', [process.execPath, '-e', script], { name: 'relay', stdin: 'pipe', stdout: 'pipe' });
    const out = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      out.once('error', reject);
      out.bind(0, '127.0.0.1', () => resolve());
    });
    out.on('error', () => {});
    this.relayOut = out;
    let buffered: Buffer = Buffer.alloc(0);
    proc.child.stdout?.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      while (buffered.length >= 4) {
        const length = buffered.readUInt32BE(0);
        if (buffered.length < 4 + length) break;
        const datagram = buffered.subarray(4, 4 + length);
        buffered = buffered.subarray(4 + length);
        this.relayed++;
        out.send(datagram, collectorPort, '127.0.0.1');
      }
    });
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the export relay did not start: ${stderr}`)), 10_000);
      proc.child.stderr?.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes('ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      void proc.exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`the export relay exited: ${stderr}`));
      });
    });
  }

  /** Datagrams the relay has forwarded to the collector. */
  get relayedDatagrams(): number {
    return this.relayed;
  }

  /** What softflowd wrote to stderr. */
  get softflowdOutput(): string {
    return this.softflowdLog;
  }

  /** `softflowctl -c <ctl> <command>`; returns its output. */
  async softflowctl(command: string): Promise<string> {
    const r = await run('softflowctl', ['-c', join(this.dir, 'softflowd.ctl'), command], { allowFailure: true, timeoutMs: 5_000 });
    return r.stdout;
  }

  /** Start the heartbeat sender in the probe namespace. */
  async startProbe(): Promise<void> {
    const script = [
      "const dgram = require('node:dgram');",
      "const readline = require('node:readline');",
      'const [src, dst] = process.argv.slice(1);',
      "const socket = dgram.createSocket('udp4');",
      'const payload = Buffer.alloc(1);',
      "socket.bind({ address: src, port: 0 }, () => process.stdout.write('ready\\n'));",
      "readline.createInterface({ input: process.stdin }).on('line', (line) => {",
      "  const [port, count] = line.split(' ').map(Number);",
      '  let left = count;',
      "  const done = () => { if (--left === 0) process.stdout.write('sent ' + port + '\\n'); };",
      '  for (let i = 0; i < count; i++) socket.send(payload, port, dst, done);',
      '});',
      "process.stdin.on('end', () => process.exit(0));",
    ].join('\n');
    const proc = this.spawn('probe', [process.execPath, '-e', script, this.spec.probe.address, this.spec.probe.target], {
      name: 'probe',
      stdin: 'pipe',
      stdout: 'pipe',
    });
    const lines = createInterface({ input: proc.child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
    const first = await withTimeout(lines.next(), 10_000, 'the heartbeat probe did not start');
    if (first.done || first.value !== 'ready') throw new Error(`the heartbeat probe did not start: ${String(first.value ?? '')}`);
    this.probe = { proc, lines, pending: Promise.resolve() };
  }

  /** Send `count` one-byte datagrams from the probe to the made-up neighbour's `port`; resolves once they are sent. */
  burst(port: number, count: number): Promise<void> {
    const probe = this.probe;
    if (!probe) return Promise.reject(new Error('the heartbeat probe is not running'));
    const next = probe.pending.then(async () => {
      probe.proc.child.stdin?.write(`${port} ${count}\n`);
      const line = await withTimeout(probe.lines.next(), 5_000, 'the heartbeat probe did not answer');
      if (line.done || line.value !== `sent ${port}`) throw new Error(`unexpected answer from the heartbeat probe: ${String(line.value ?? 'end')}`);
    });
    probe.pending = next.catch(() => {});
    return next;
  }

  /** Stop every process the lab started (softflowd last, after a final export). */
  async stopProcesses(): Promise<void> {
    const relay = [...this.processes].find((p) => p.name === 'relay');
    const others = [...this.processes].filter((p) => p !== this.softflowd && p !== relay);
    await Promise.all(others.map((p) => p.stop(500)));
    if (this.softflowd) {
      await this.softflowctl('shutdown');
      await Promise.race([this.softflowd.exited, sleep(1_000)]);
      await this.softflowd.stop(500);
    }
    await Promise.all([...this.processes].map((p) => p.stop(500)));
    this.relayOut?.close();
    this.relayOut = undefined;
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
