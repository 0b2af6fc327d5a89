import type {
  AttributeValue,
  DecodeMeta,
  Decoder,
  DecodeSink,
  FileAccessEvent,
  FlowDirection,
  FlowEndpoint,
  NetworkFlowEvent,
  OutflowEvent,
  ProcessExecEvent,
  ProcessInfo,
  WorkloadIdentity,
} from '@outflow/core';
import {
  decodeJsonLines,
  detailLocation,
  isObject,
  type JsonLineHandler,
  parseRfc3339,
  shortHash,
  splitArgs,
  toNumber,
  unmapAddress,
} from '@outflow/core/codec';

/** Format name of Tetragon's JSON export. */
export const TETRAGON_FORMAT = 'tetragon';

export interface TetragonDecoderOptions {
  /**
   * Called for a well-formed record that maps to no event (an event type or a
   * kprobe hook Outflow has no shape for), with the reason: `unsupported_event`
   * or `unsupported_kprobe`. Such records are not malformed, so they are not
   * reported through `sink.error`; receivers count them as dropped.
   */
  onSkip?(reason: string, location: string | undefined): void;
}

type Json = Record<string, unknown>;

/** Event types of Tetragon's GetEventsResponse that carry nothing Outflow models. */
const UNSUPPORTED_TYPES = [
  'process_tracepoint',
  'process_uprobe',
  'process_usdt',
  'process_loader',
  'process_throttle',
  'process_listen',
  'rate_limit_info',
  'test',
] as const;

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function basename(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash >= 0 && slash < path.length - 1 ? path.slice(slash + 1) : path;
}

/** `containerd://abc` → [`abc`, `containerd`]. */
function splitScheme(id: string): [string, string | undefined] {
  const at = id.indexOf('://');
  return at > 0 ? [id.slice(at + 3), id.slice(0, at)] : [id, undefined];
}

/** Strip the `__x64_sys_` style prefixes of syscall symbols: `__x64_sys_write` → `write`. */
function hookName(fn: string): string {
  if (fn.startsWith('__')) {
    const sys = fn.indexOf('_sys_', 2);
    if (sys > 0) return fn.slice(sys + 5);
  }
  if (fn.startsWith('sys_')) return fn.slice(4);
  if (fn.startsWith('ksys_')) return fn.slice(5);
  return fn;
}

const PROTOCOLS: Record<string, number> = {
  IPPROTO_TCP: 6,
  IPPROTO_UDP: 17,
  IPPROTO_ICMP: 1,
  IPPROTO_ICMPV6: 58,
  IPPROTO_SCTP: 132,
  IPPROTO_UDPLITE: 136,
  TCP: 6,
  UDP: 17,
  ICMP: 1,
  tcp: 6,
  udp: 17,
};
const TRANSPORTS: Record<number, string> = { 6: 'tcp', 17: 'udp', 132: 'sctp', 136: 'udplite' };

function isLoopbackAddress(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}

/** Linux hands out ephemeral (client) ports from 32768 up by default. */
function isEphemeral(port: number | undefined): boolean {
  return port !== undefined && port >= 32768;
}

const ENFORCING_ACTIONS = new Set(['KPROBE_ACTION_SIGKILL', 'KPROBE_ACTION_OVERRIDE', 'KPROBE_ACTION_NOTIFYENFORCER']);

type NetRole = 'connect' | 'accept' | 'send' | 'recv' | 'close' | 'other';

function netRole(name: string): NetRole {
  if (name.includes('accept')) return 'accept';
  if (name.includes('connect')) return 'connect';
  if (name.includes('sendmsg') || name.includes('sendpage') || name.includes('sendto') || name.includes('sendfile')) return 'send';
  if (name.includes('recvmsg') || name.includes('recvfrom') || name.includes('read_sock')) return 'recv';
  if (name.includes('close') || name.includes('release') || name.includes('destroy')) return 'close';
  return 'other';
}

type FileOp = FileAccessEvent['operation'];

/** Operation of a file hook, from its name and (for permission checks and opens) its mask or flags. */
function fileOperation(name: string, mask: number | undefined, flags: string | undefined, openFlags: number | undefined): FileOp {
  if (name.includes('unlink') || name.includes('rmdir')) return 'delete';
  if (name.includes('rename')) return 'rename';
  if (name.includes('chmod') || name.includes('chown') || name.includes('setattr')) return 'chmod';
  if (name.includes('truncate')) return 'write';
  if (name.includes('mkdir') || name.includes('mknod') || name.includes('symlink') || name.includes('link') || name.includes('create')) return 'create';
  if (name === 'security_file_permission' || name === 'security_inode_permission' || name.endsWith('_permission')) {
    // MAY_WRITE 2, MAY_APPEND 8 → write; MAY_READ 4 → read.
    if (mask !== undefined) return mask & 10 ? 'write' : mask & 4 ? 'read' : 'other';
    return 'other';
  }
  if (name.includes('write')) return 'write';
  if (name.includes('read')) return 'read';
  if (name.includes('open') || name === 'fd_install') {
    if (flags !== undefined) {
      if (flags.includes('O_CREAT')) return 'create';
      if (flags.includes('O_WRONLY') || flags.includes('O_RDWR') || flags.includes('O_TRUNC') || flags.includes('O_APPEND')) return 'write';
      return 'open';
    }
    if (openFlags !== undefined) {
      if (openFlags & 0o100) return 'create';
      if (openFlags & (0o1 | 0o2 | 0o1000 | 0o2000)) return 'write';
    }
    return 'open';
  }
  return 'other';
}

/** One record being decoded: what every event built from it shares. */
interface Ctx {
  record: Json;
  rawLine: string;
  meta: DecodeMeta;
  /** Event location (`path:line`). */
  location: string | undefined;
  /** Error location, relative to the input (`5`, `line 3`). */
  detail: string | undefined;
  sink: DecodeSink<OutflowEvent>;
}

/**
 * Decodes Tetragon's JSON export (`tetra getevents -o json`, the
 * `export-filename` file): one GetEventsResponse object per line.
 *
 * - `process_exec` / `process_exit` → `process_exec` events (phase `exec` / `exit`);
 * - `process_kprobe` and `process_lsm` on socket hooks (`tcp_connect`,
 *   `tcp_sendmsg`, `tcp_close`, ...) → `network_flow`; on file hooks
 *   (`security_file_permission`, `fd_install`, `openat`, `write`, ...) → `file_access`;
 * - the legacy `process_connect` / `process_close` events → `network_flow`.
 *
 * Other well-formed records are skipped (see `onSkip`); malformed ones go to
 * `sink.error` with a reason and decoding goes on.
 */
export class TetragonDecoder implements Decoder<string, OutflowEvent>, JsonLineHandler<OutflowEvent> {
  readonly format = TETRAGON_FORMAT;
  private readonly onSkip: ((reason: string, location: string | undefined) => void) | undefined;

  constructor(options: TetragonDecoderOptions = {}) {
    this.onSkip = options.onSkip;
  }

  decode(input: string, sink: DecodeSink<OutflowEvent>, meta: DecodeMeta): void {
    // One record, or several lines: one pretty-printed record (as in Tetragon's docs), or JSON lines.
    decodeJsonLines(input, sink, meta, '{', this);
  }

  /** @internal One JSON value of the input: a Tetragon record. */
  lineValue(value: unknown, rawLine: string, sink: DecodeSink<OutflowEvent>, meta: DecodeMeta, detail: string | undefined): undefined {
    const location = detailLocation(meta, detail);
    if (!isObject(value)) {
      sink.error({
        reason: 'invalid_record',
        message: `a Tetragon event is a JSON object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`,
        raw: rawLine,
        location: detail,
      });
      return;
    }
    const ctx: Ctx = { record: value, rawLine, meta, location, detail, sink };
    let body: unknown;
    if ((body = value.process_exec) !== undefined) return this.exec(ctx, body, 'process_exec');
    if ((body = value.process_exit) !== undefined) return this.exec(ctx, body, 'process_exit');
    if ((body = value.process_kprobe) !== undefined) return this.kprobe(ctx, body, 'process_kprobe');
    if ((body = value.process_lsm) !== undefined) return this.kprobe(ctx, body, 'process_lsm');
    if ((body = value.process_connect) !== undefined) return this.legacyFlow(ctx, body, 'process_connect');
    if ((body = value.process_close) !== undefined) return this.legacyFlow(ctx, body, 'process_close');
    for (const type of UNSUPPORTED_TYPES) {
      if (value[type] !== undefined) {
        this.onSkip?.('unsupported_event', location);
        return;
      }
    }
    fail(ctx, 'unknown_event', 'no Tetragon event type (process_exec, process_exit, process_kprobe, ...) in the record');
  }

  // ---- process_exec / process_exit -------------------------------------------------------

  private exec(ctx: Ctx, body: unknown, type: 'process_exec' | 'process_exit'): undefined {
    if (!isObject(body)) return fail(ctx, 'invalid_record', `${type} must be an object`);
    const p = body.process;
    if (!isObject(p)) return fail(ctx, 'missing_field', `${type}.process is missing`);
    const process = mapProcess(p, body.parent);
    if (!process) return fail(ctx, 'missing_field', `${type}.process.binary is missing`);
    const stamp = eventTime(ctx, type === 'process_exec' ? p.start_time : body.time);
    if (!stamp) return;
    const event: ProcessExecEvent = {
      kind: 'process_exec',
      time: stamp.time,
      observedTime: ctx.meta.observedTime,
      source: TETRAGON_FORMAT,
      sourceId: sourceId(ctx, process.execId, type, stamp.text, ''),
      phase: type === 'process_exec' ? 'exec' : 'exit',
      process,
      raw: ctx.record,
    };
    if (type === 'process_exit') {
      const status = toNumber(body.status);
      if (status !== undefined) event.exitCode = status;
      const signal = str(body.signal);
      if (signal !== undefined) event.signal = signal;
    }
    finish(ctx, event, p);
    ctx.sink.event(event);
  }

  // ---- process_kprobe / process_lsm -------------------------------------------------------

  private kprobe(ctx: Ctx, body: unknown, type: 'process_kprobe' | 'process_lsm'): undefined {
    if (!isObject(body)) return fail(ctx, 'invalid_record', `${type} must be an object`);
    const fn = str(body.function_name);
    if (fn === undefined) return fail(ctx, 'missing_field', `${type}.function_name is missing`);
    const p = body.process;
    if (!isObject(p)) return fail(ctx, 'missing_field', `${type}.process is missing`);
    const argList = body.args;
    if (argList !== undefined && argList !== null && !Array.isArray(argList)) return fail(ctx, 'invalid_field', `${type}.args must be an array`);

    let sock: Json | undefined;
    let sockaddr: Json | undefined;
    let file: Json | undefined;
    let pathString: string | undefined;
    let firstNumber: number | undefined;
    let secondNumber: number | undefined;
    let numbers = 0;
    if (argList) {
      for (const arg of argList as unknown[]) {
        if (!isObject(arg)) continue;
        let v: unknown;
        if ((v = arg.sock_arg) !== undefined) {
          if (isObject(v)) sock ??= v;
        } else if ((v = arg.file_arg) !== undefined || (v = arg.path_arg) !== undefined || (v = arg.linux_binprm_arg) !== undefined) {
          if (isObject(v)) file ??= v;
        } else if ((v = arg.sockaddr_arg) !== undefined) {
          if (isObject(v)) sockaddr ??= v;
        } else if ((v = arg.string_arg) !== undefined) {
          if (typeof v === 'string' && pathString === undefined && v.startsWith('/')) pathString = v;
        } else {
          const n = toNumber(arg.size_arg ?? arg.int_arg ?? arg.uint_arg ?? arg.long_arg);
          if (n !== undefined) {
            if (numbers === 0) firstNumber = n;
            else if (numbers === 1) secondNumber = n;
            numbers++;
          }
        }
      }
    }
    const ret = isObject(body.return) ? toNumber(body.return.int_arg ?? body.return.size_arg ?? body.return.long_arg) : undefined;
    const name = hookName(fn);
    // A hook without the arguments Outflow needs (a socket, or a file or path) is well-formed but unmapped: skipped, not an error.
    if (sock !== undefined || sockaddr !== undefined) {
      return this.kprobeFlow(ctx, body, p, type, fn, name, sock, sockaddr, firstNumber, ret);
    }
    if (file !== undefined || pathString !== undefined) {
      return this.kprobeFile(ctx, body, p, type, fn, name, file, pathString, firstNumber, secondNumber, ret);
    }
    this.onSkip?.('unsupported_kprobe', ctx.location);
  }

  private kprobeFlow(
    ctx: Ctx,
    body: Json,
    p: Json,
    type: string,
    fn: string,
    name: string,
    sock: Json | undefined,
    sockaddr: Json | undefined,
    size: number | undefined,
    ret: number | undefined,
  ): undefined {
    let role = netRole(name);
    let local: FlowEndpoint;
    let remote: FlowEndpoint;
    let protocol: number | undefined;
    let server: boolean;
    let cookie: string | undefined;
    let family: string | undefined;
    if (sock !== undefined) {
      const daddr = str(sock.daddr);
      if (daddr === undefined) return fail(ctx, 'missing_field', `${fn}: sock_arg.daddr is missing`);
      const saddr = str(sock.saddr);
      family = str(sock.family);
      local = { address: saddr !== undefined ? unmapAddress(saddr) : family === 'AF_INET6' ? '::' : '0.0.0.0' };
      const sport = toNumber(sock.sport);
      if (sport !== undefined) local.port = sport;
      remote = { address: unmapAddress(daddr) };
      const dport = toNumber(sock.dport);
      if (dport !== undefined) remote.port = dport;
      protocol = PROTOCOLS[str(sock.protocol) ?? ''];
      const state = str(sock.state);
      if (role === 'connect' || state === 'TCP_SYN_SENT') server = false;
      else if (role === 'accept' || state === 'TCP_LISTEN' || state === 'TCP_SYN_RECV') server = true;
      else server = isEphemeral(dport) && !isEphemeral(sport);
      if (sock.cookie !== undefined && sock.cookie !== null) cookie = String(sock.cookie);
    } else if (sockaddr !== undefined) {
      const addr = str(sockaddr.addr);
      if (addr === undefined) return fail(ctx, 'missing_field', `${fn}: sockaddr_arg.addr is missing`);
      family = str(sockaddr.family);
      local = { address: family === 'AF_INET6' ? '::' : '0.0.0.0' };
      remote = { address: unmapAddress(addr) };
      const port = toNumber(sockaddr.port);
      if (port !== undefined) remote.port = port;
      server = false;
      if (role === 'other') role = 'connect';
    } else {
      return fail(ctx, 'missing_field', `${fn}: a socket hook needs a sock_arg or sockaddr_arg argument`);
    }
    const stamp = eventTime(ctx, undefined);
    if (!stamp) return;
    const process = mapProcess(p, body.parent);
    const workload = mapWorkload(ctx.record, p);
    if (workload) local.workload = workload;
    const loop = isLoopbackAddress(remote.address);
    const direction: FlowDirection = loop ? 'internal' : server ? 'ingress' : 'egress';
    const event: NetworkFlowEvent = {
      kind: 'network_flow',
      time: stamp.time,
      observedTime: ctx.meta.observedTime,
      source: TETRAGON_FORMAT,
      sourceId: sourceId(ctx, process?.execId ?? str(p.exec_id), type, stamp.text, cookie === undefined ? fn : fn + cookie),
      // Flows are oriented initiator → responder: the pod is `src` on sockets it opened, `dst` on sockets it accepted.
      src: server ? remote : local,
      dst: server ? local : remote,
      direction,
      raw: ctx.record,
    };
    if (protocol !== undefined) event.protocol = protocol;
    // Bytes the pod sent go src → dst on its own connections, dst → src on accepted ones; received bytes the reverse.
    let sent: number | undefined;
    let received: number | undefined;
    if (role === 'send') sent = size !== undefined && size >= 0 ? size : ret !== undefined && ret >= 0 ? ret : undefined;
    else if (role === 'recv') received = ret !== undefined && ret >= 0 ? ret : size;
    if (sent !== undefined) {
      if (server) event.reverseBytes = sent;
      else event.bytes = sent;
    }
    if (received !== undefined) {
      if (server) event.bytes = received;
      else event.reverseBytes = received;
    }
    if (role === 'connect' || role === 'accept') event.start = stamp.time;
    else if (role === 'close') event.end = stamp.time;
    const action = str(body.action);
    if (action !== undefined && ENFORCING_ACTIONS.has(action)) event.action = 'reject';
    const attributes = hookAttributes(body, fn, process);
    if (protocol !== undefined && TRANSPORTS[protocol]) attributes['network.transport'] = TRANSPORTS[protocol] as string;
    if (family === 'AF_INET') attributes['network.type'] = 'ipv4';
    else if (family === 'AF_INET6') attributes['network.type'] = 'ipv6';
    if (cookie !== undefined) attributes['tetragon.socket.cookie'] = cookie;
    event.attributes = attributes;
    finish(ctx, event, p, workload);
    ctx.sink.event(event);
  }

  private kprobeFile(
    ctx: Ctx,
    body: Json,
    p: Json,
    type: string,
    fn: string,
    name: string,
    file: Json | undefined,
    pathString: string | undefined,
    first: number | undefined,
    second: number | undefined,
    ret: number | undefined,
  ): undefined {
    let path = file !== undefined ? str(file.path) : pathString;
    if (path === undefined) return fail(ctx, 'missing_field', `${fn}: the file argument has no path`);
    // Early Tetragon releases wrote paths relative to the root: `etc/passwd`.
    if (path.charCodeAt(0) !== 47) path = `/${path}`;
    const flags = file !== undefined ? str(file.flags) : undefined;
    const operation = fileOperation(name, first, flags, pathString !== undefined && file === undefined ? (second ?? first) : undefined);
    const stamp = eventTime(ctx, undefined);
    if (!stamp) return;
    const process = mapProcess(p, body.parent);
    const event: FileAccessEvent = {
      kind: 'file_access',
      time: stamp.time,
      observedTime: ctx.meta.observedTime,
      source: TETRAGON_FORMAT,
      sourceId: sourceId(ctx, process?.execId ?? str(p.exec_id), type, stamp.text, fn),
      path,
      operation,
      raw: ctx.record,
    };
    if (process) event.process = process;
    if (operation === 'read' || operation === 'write') {
      // read/write hooks: (file, buffer, size); the return value is what was actually transferred.
      const bytes = ret !== undefined && ret >= 0 ? ret : name.includes('permission') ? undefined : (second ?? first);
      if (bytes !== undefined) event.bytes = bytes;
    }
    const attributes = hookAttributes(body, fn, undefined);
    if (flags !== undefined) attributes['tetragon.file.flags'] = flags;
    const permission = file !== undefined ? str(file.permission) : undefined;
    if (permission !== undefined) attributes['tetragon.file.permission'] = permission;
    event.attributes = attributes;
    finish(ctx, event, p);
    ctx.sink.event(event);
  }

  // ---- legacy process_connect / process_close ---------------------------------------------

  private legacyFlow(ctx: Ctx, body: unknown, type: 'process_connect' | 'process_close'): undefined {
    if (!isObject(body)) return fail(ctx, 'invalid_record', `${type} must be an object`);
    const p = body.process;
    if (!isObject(p)) return fail(ctx, 'missing_field', `${type}.process is missing`);
    const daddr = str(body.destination_ip);
    if (daddr === undefined) return fail(ctx, 'missing_field', `${type}.destination_ip is missing`);
    const stamp = eventTime(ctx, undefined);
    if (!stamp) return;
    const local: FlowEndpoint = { address: unmapAddress(str(body.source_ip) ?? '0.0.0.0') };
    const sport = toNumber(body.source_port);
    if (sport !== undefined) local.port = sport;
    const remote: FlowEndpoint = { address: unmapAddress(daddr) };
    const dport = toNumber(body.destination_port);
    if (dport !== undefined) remote.port = dport;
    const server = type === 'process_close' && isEphemeral(dport) && !isEphemeral(sport);
    const process = mapProcess(p, body.parent);
    const workload = mapWorkload(ctx.record, p);
    if (workload) local.workload = workload;
    const protocol = PROTOCOLS[str(body.protocol) ?? ''];
    const event: NetworkFlowEvent = {
      kind: 'network_flow',
      time: stamp.time,
      observedTime: ctx.meta.observedTime,
      source: TETRAGON_FORMAT,
      sourceId: sourceId(ctx, process?.execId ?? str(p.exec_id), type, stamp.text, `${local.address}:${sport ?? ''}`),
      src: server ? remote : local,
      dst: server ? local : remote,
      direction: isLoopbackAddress(remote.address) ? 'internal' : server ? 'ingress' : 'egress',
      raw: ctx.record,
    };
    if (protocol !== undefined) event.protocol = protocol;
    if (type === 'process_connect') event.start = stamp.time;
    else {
      event.end = stamp.time;
      const stats = isObject(body.stats) ? body.stats : undefined;
      if (stats) {
        const sent = toNumber(stats.bytes_sent);
        const received = toNumber(stats.bytes_received);
        const segsOut = toNumber(stats.segs_out);
        const segsIn = toNumber(stats.segs_in);
        if (sent !== undefined) event[server ? 'reverseBytes' : 'bytes'] = sent;
        if (received !== undefined) event[server ? 'bytes' : 'reverseBytes'] = received;
        if (segsOut !== undefined) event[server ? 'reversePackets' : 'packets'] = segsOut;
        if (segsIn !== undefined) event[server ? 'packets' : 'reversePackets'] = segsIn;
      }
    }
    const attributes = processAttributes(process, {});
    if (protocol !== undefined && TRANSPORTS[protocol]) attributes['network.transport'] = TRANSPORTS[protocol] as string;
    event.attributes = attributes;
    finish(ctx, event, p, workload);
    ctx.sink.event(event);
  }
}

// ---- shared mapping ------------------------------------------------------------------------

function fail(ctx: Ctx, reason: string, message: string): undefined {
  ctx.sink.error({ reason, message, raw: ctx.rawLine, location: ctx.detail });
  return undefined;
}

/** Event time: the record's `time`, else `fallback` (process start or exit time). Reports the error itself. */
function eventTime(ctx: Ctx, fallback: unknown): { time: number; text: string } | undefined {
  const value = ctx.record.time ?? fallback;
  if (value === undefined || value === null) {
    fail(ctx, 'missing_field', 'time is missing');
    return undefined;
  }
  const time = parseRfc3339(value);
  if (time === undefined) {
    fail(ctx, 'invalid_time', `time ${JSON.stringify(value)} is not an RFC 3339 timestamp`);
    return undefined;
  }
  return { time, text: value as string };
}

/** Deterministic id: Tetragon events have none, so hash exec_id + event type + time (+ hook). */
function sourceId(ctx: Ctx, execId: string | undefined, type: string, time: string, extra: string): string {
  return `tetragon-${execId !== undefined ? shortHash(execId, type, time, extra) : shortHash(ctx.rawLine)}`;
}

function mapProcess(p: Json, parentValue: unknown): ProcessInfo | undefined {
  const binary = str(p.binary);
  if (binary === undefined) return undefined;
  const argv0 = basename(binary);
  const argString = typeof p.arguments === 'string' ? p.arguments : '';
  const args = argString.length > 0 ? [argv0, ...splitArgs(argString)] : [argv0];
  const process: ProcessInfo = { executable: binary, args };
  const pid = toNumber(p.pid);
  if (pid !== undefined) process.pid = pid;
  const uid = toNumber(p.uid);
  if (uid !== undefined) process.uid = uid;
  const cwd = str(p.cwd);
  if (cwd !== undefined) process.cwd = cwd;
  const execId = str(p.exec_id);
  if (execId !== undefined) process.execId = execId;
  if (p.tty !== undefined && p.tty !== null) process.tty = typeof p.tty === 'boolean' ? p.tty : typeof p.tty === 'string' ? p.tty.length > 0 : Boolean(p.tty);
  const user = isObject(p.user) ? str(p.user.name) : undefined;
  if (user !== undefined) process.user = user;
  if (isObject(parentValue)) {
    const parent: NonNullable<ProcessInfo['parent']> = {};
    const ppid = toNumber(parentValue.pid);
    if (ppid !== undefined) parent.pid = ppid;
    const pbin = str(parentValue.binary);
    if (pbin !== undefined) {
      parent.executable = pbin;
      const pargs = typeof parentValue.arguments === 'string' && parentValue.arguments.length > 0 ? splitArgs(parentValue.arguments) : [];
      parent.args = [basename(pbin), ...pargs];
    }
    const pexec = str(parentValue.exec_id) ?? str(p.parent_exec_id);
    if (pexec !== undefined) parent.execId = pexec;
    process.parent = parent;
  } else {
    const pexec = str(p.parent_exec_id);
    if (pexec !== undefined) process.parent = { execId: pexec };
  }
  return process;
}

/** Workload from `process.pod`, `node_name` and `cluster_name`. */
function mapWorkload(record: Json, p: Json): WorkloadIdentity | undefined {
  const w: WorkloadIdentity = {};
  let any = false;
  const pod = p.pod;
  if (isObject(pod)) {
    const ns = str(pod.namespace);
    if (ns !== undefined) w.namespace = ns;
    const name = str(pod.name);
    if (name !== undefined) w.pod = name;
    const uid = str(pod.uid);
    if (uid !== undefined) w.podUid = uid;
    const workload = str(pod.workload);
    if (workload !== undefined) w.workloadName = workload;
    const kind = str(pod.workload_kind);
    if (kind !== undefined) w.workloadKind = kind;
    const c = pod.container;
    if (isObject(c)) {
      const id = str(c.id);
      if (id !== undefined) w.containerId = splitScheme(id)[0];
      const cname = str(c.name);
      if (cname !== undefined) w.container = cname;
      const image = c.image;
      if (isObject(image)) {
        const iname = str(image.name);
        if (iname !== undefined) w.image = iname;
        const iid = str(image.id);
        if (iid !== undefined) {
          const bare = splitScheme(iid)[0];
          const at = bare.lastIndexOf('@');
          w.imageDigest = at >= 0 ? bare.slice(at + 1) : bare;
        }
      }
    }
    const labels = pod.pod_labels;
    if (isObject(labels)) {
      const copy: Record<string, string> = {};
      let n = 0;
      for (const key in labels) {
        const v = labels[key];
        if (typeof v === 'string') copy[key] = v;
        if (++n >= 64) break;
      }
      w.labels = copy;
    }
    any = true;
  }
  const node = str(record.node_name);
  if (node !== undefined) {
    w.node = node;
    any = true;
  }
  const cluster = str(record.cluster_name);
  if (cluster !== undefined) {
    w.cluster = cluster;
    any = true;
  }
  return any ? w : undefined;
}

/** OpenTelemetry process attributes, for events without a typed process slot (flows). */
function processAttributes(process: ProcessInfo | undefined, into: Record<string, AttributeValue>): Record<string, AttributeValue> {
  if (!process) return into;
  into['process.executable.path'] = process.executable;
  if (process.pid !== undefined) into['process.pid'] = process.pid;
  if (process.args.length > 1) into['process.command_args'] = process.args;
  if (process.execId !== undefined) into['tetragon.exec_id'] = process.execId;
  return into;
}

function hookAttributes(body: Json, fn: string, process: ProcessInfo | undefined): Record<string, AttributeValue> {
  const attributes: Record<string, AttributeValue> = { 'tetragon.function': fn };
  const policy = str(body.policy_name);
  if (policy !== undefined) attributes['tetragon.policy'] = policy;
  const action = str(body.action);
  if (action !== undefined) attributes['tetragon.action'] = action;
  const message = str(body.message);
  if (message !== undefined) attributes['tetragon.message'] = message;
  if (Array.isArray(body.tags)) {
    const tags = body.tags.filter((t): t is string => typeof t === 'string');
    if (tags.length > 0) attributes['tetragon.tags'] = tags;
  }
  return processAttributes(process, attributes);
}

/** Common fields: receiver, location, workload (and the container runtime as an attribute). */
function finish(ctx: Ctx, event: OutflowEvent, p: Json, known?: WorkloadIdentity): void {
  if (ctx.meta.receiver !== undefined) event.receiver = ctx.meta.receiver;
  if (ctx.location !== undefined) event.location = ctx.location;
  const workload = known ?? mapWorkload(ctx.record, p);
  if (workload) event.workload = workload;
  const pod = p.pod;
  if (isObject(pod) && isObject(pod.container) && typeof pod.container.id === 'string') {
    const runtime = splitScheme(pod.container.id)[1];
    if (runtime !== undefined) {
      event.attributes ??= {};
      event.attributes['container.runtime'] = runtime;
    }
  }
}

/** The shared Tetragon decoder (skipped records are not counted; receivers build their own with `onSkip`). */
export const tetragonDecoder = new TetragonDecoder();
