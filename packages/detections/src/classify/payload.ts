import { SEVERITIES, type Severity } from '@outflow/core';
import { AWS, AZCOPY, CURL, GSUTIL, hasFlag, NETCAT, OPENSSL, optionValues, parseOptions, RCLONE, RSYNC, SCP, SOCAT, SSH, TAR, WGET, ZIP } from './options.js';
import { basename, parseScript, type SimpleCommand } from './shell.js';
import {
  type BucketRef,
  bucketOf,
  defaultTargetClass,
  isDataPath,
  isSystemPath,
  METADATA_HOSTS,
  parseLooseUrl,
  parseRemoteSpec,
  parseUrl,
  QUICK_SENSITIVE,
  type Reach,
  reachOf,
  type SensitivePath,
  sensitivePathOf,
  unbracket,
} from './targets.js';

/**
 * The exec payload classifier: what a command line does that matters for
 * data leaving a container. Pure and allocation-light on the common path
 * (a program it has no rule for, with no sensitive-looking argument, costs a
 * set lookup and a few regex tests).
 */

/** What a command does, as far as exfiltration is concerned. */
export type PayloadCategory =
  | 'reverse_shell'
  | 'upload'
  | 'cloud_copy'
  | 'network_tool'
  | 'archive'
  | 'sensitive_read'
  | 'metadata_access'
  | 'tool_transfer'
  | 'interactive_shell';

export const PAYLOAD_CATEGORIES: readonly PayloadCategory[] = [
  'reverse_shell',
  'upload',
  'cloud_copy',
  'network_tool',
  'archive',
  'sensitive_read',
  'metadata_access',
  'tool_transfer',
  'interactive_shell',
];

/** Who owns the bucket a cloud copy writes to. */
export type BucketOwnershipClass = 'ours' | 'partner' | 'foreign' | 'unknown';

export interface PayloadDestination {
  host: string;
  port?: number;
  /** Destination class (`external`, `private`, `cloud`, `allowed`, ...). */
  class: string;
}

export interface PayloadBucket extends BucketRef {
  ownership: BucketOwnershipClass;
}

/** One thing a command does. */
export interface PayloadMatch {
  category: PayloadCategory;
  severity: Severity;
  /** What matched, for an analyst: `curl -T uploads /tmp/x.tgz to 203.0.113.66 (external)`. */
  explanation: string;
  /** The simple command that matched, words joined by blanks. */
  command: string;
  destination?: PayloadDestination;
  bucket?: PayloadBucket;
  /** Files involved (uploaded, archived, read). */
  paths?: string[];
}

export interface PayloadClassification {
  /** Every match, most severe first. Empty when nothing matched. */
  matches: readonly PayloadMatch[];
  /** Distinct categories of the matches, sorted. */
  categories: readonly PayloadCategory[];
  /** Highest severity of the matches, or undefined. */
  severity: Severity | undefined;
}

export interface ClassifyOptions {
  /** The process has a terminal (audit `tty=true`, a sensor's tty). */
  tty?: boolean;
  /** Standard input is attached (audit `stdin=true`). */
  stdin?: boolean;
  /**
   * The arguments come from a sensor that split a command line on blanks
   * (Tetragon `arguments`, Falco `proc.cmdline`): `sh -c` takes the rest of
   * the words as its script.
   */
  splitArgs?: boolean;
  /** Classify a destination host (address or name). Default: address scopes and host-name suffixes, no configuration. */
  destination?: (host: string, port?: number) => string;
  /** Who owns a bucket. Default: unknown. */
  bucketOwner?: (bucket: BucketRef) => BucketOwnershipClass;
  /** Report an interactive shell (a shell with a terminal and no script). Default true. */
  interactiveShells?: boolean;
}

const NOTHING: PayloadClassification = Object.freeze({
  matches: Object.freeze([]) as readonly PayloadMatch[],
  categories: Object.freeze([]) as readonly PayloadCategory[],
  severity: undefined,
});

const SHELLS = new Set(['sh', 'bash', 'ash', 'dash', 'zsh', 'ksh', 'mksh', 'fish', 'csh', 'tcsh', 'busybox-sh', 'rbash']);
const PYTHON = /^python(?:[23](?:\.\d+)?)?$/;
const INTERPRETERS = new Set(['perl', 'ruby', 'php', 'node', 'nodejs', 'lua', 'awk', 'gawk', 'mawk', 'nawk', 'pwsh', 'powershell', 'tclsh', 'jrunscript']);
const NETCATS = new Set(['nc', 'ncat', 'netcat', 'nc.traditional', 'nc.openbsd', 'pwncat']);
const WRAPPERS = new Set([
  'env',
  'sudo',
  'doas',
  'nohup',
  'exec',
  'command',
  'builtin',
  'nice',
  'ionice',
  'timeout',
  'stdbuf',
  'setsid',
  'chroot',
  'xargs',
  'watch',
  'time',
  'unbuffer',
  'su',
  'runuser',
  'chpst',
  'busybox',
  'nsenter',
  'strace',
  'ltrace',
  'flock',
]);
const ARCHIVERS = new Set(['tar', 'bsdtar', 'gtar', 'zip', '7z', '7za', '7zr', 'rar', 'cpio', 'pax']);
const LISTERS = new Set(['ls', 'stat', 'find', 'du', 'file', 'tree']);
const NON_READERS = new Set([
  'rm',
  'rmdir',
  'chmod',
  'chown',
  'chgrp',
  'mkdir',
  'touch',
  'ln',
  'unlink',
  'mount',
  'umount',
  'test',
  '[',
  'kubectl',
  'echo',
  'printf',
  'ssh-keygen',
  'mktemp',
]);
const DOWNLOADERS = new Set(['curl', 'wget', 'fetch']);

/** Programs with a rule of their own; others are only looked at when an argument looks sensitive. */
const INTERESTING = new Set<string>([
  ...SHELLS,
  ...INTERPRETERS,
  ...NETCATS,
  ...WRAPPERS,
  ...ARCHIVERS,
  'curl',
  'wget',
  'http',
  'https',
  'aws',
  'gsutil',
  'gcloud',
  'azcopy',
  'rclone',
  's3cmd',
  'socat',
  'telnet',
  'ssh',
  'scp',
  'sftp',
  'rsync',
  'ftp',
  'tftp',
  'lftp',
  'openssl',
  'mkfifo',
]);

/** Credential paths of metadata services; anything else there is instance information. */
const METADATA_CREDENTIAL_PATH = /security-credentials|\/identity|service-accounts|\/token|oauth2|credentials|AWS_CONTAINER_CREDENTIALS/i;
const METADATA_IN_TEXT =
  /169\.254\.169\.254|fd00:ec2::254|169\.254\.170\.2|metadata\.google\.internal|metadata\.azure\.com|100\.100\.100\.200|instance-data(?:\.ec2\.internal)?\b/i;
const DEV_TCP = /\/dev\/(tcp|udp)\/([^/\s]+)\/(\d{1,5})/;

function rank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}

function bump(s: Severity, steps: number): Severity {
  return SEVERITIES[Math.max(0, Math.min(SEVERITIES.length - 1, rank(s) + steps))] as Severity;
}

/** Severity of sending data to a destination of the given reach, from a table per kind of sender. */
const EGRESS: Record<'reverse_shell' | 'upload' | 'tunnel' | 'copy' | 'connect' | 'tool_transfer', Record<Reach | 'none', Severity>> = {
  reverse_shell: { external: 'critical', cloud: 'critical', internal: 'high', local: 'medium', metadata: 'high', none: 'high' },
  upload: { external: 'high', cloud: 'medium', internal: 'low', local: 'informational', metadata: 'high', none: 'medium' },
  tunnel: { external: 'high', cloud: 'high', internal: 'medium', local: 'low', metadata: 'high', none: 'medium' },
  copy: { external: 'high', cloud: 'medium', internal: 'low', local: 'informational', metadata: 'high', none: 'medium' },
  connect: { external: 'medium', cloud: 'low', internal: 'low', local: 'informational', metadata: 'high', none: 'low' },
  tool_transfer: { external: 'high', cloud: 'medium', internal: 'medium', local: 'low', metadata: 'medium', none: 'medium' },
};

const CLOUD_COPY: Record<BucketOwnershipClass, Severity> = { ours: 'low', partner: 'low', foreign: 'high', unknown: 'medium' };

/** Severity of a cloud copy to a bucket with the given ownership. */
export function cloudCopySeverity(ownership: BucketOwnershipClass): Severity {
  return CLOUD_COPY[ownership];
}

interface Ctx {
  options: ClassifyOptions;
  matches: PayloadMatch[];
  depth: number;
}

/** A command for humans and dedup keys: the program's base name, then its words. */
function describe(argv: readonly string[]): string {
  let out = '';
  for (let i = 0; i < argv.length && out.length < 512; i++) out += i === 0 ? basename(argv[0] as string) : ` ${argv[i]}`;
  return out.length > 512 ? `${out.slice(0, 509)}...` : out;
}

function destinationOf(ctx: Ctx, host: string, port?: number): PayloadDestination {
  const h = unbracket(host);
  const cls = METADATA_HOSTS.has(h.toLowerCase()) ? 'metadata' : (ctx.options.destination?.(h, port) ?? defaultTargetClass(h));
  return port !== undefined ? { host: h, port, class: cls } : { host: h, class: cls };
}

function where(d: PayloadDestination | undefined): string {
  if (!d) return 'an unknown destination';
  return `${d.host}${d.port !== undefined ? `:${d.port}` : ''} (${d.class})`;
}

function push(ctx: Ctx, m: PayloadMatch): void {
  if (ctx.matches.length < 32) ctx.matches.push(m);
}

/**
 * Classify a command given as argv (`['sh', '-c', 'curl -T /x https://h']`):
 * unwraps shells, wrappers and interpreters, then applies the rules.
 */
export function classifyArgv(argv: readonly string[], options: ClassifyOptions = {}): PayloadClassification {
  if (argv.length === 0) return NOTHING;
  const program = basename(argv[0] as string);
  if (!INTERESTING.has(program) && !PYTHON.test(program)) {
    let suspicious = false;
    for (let i = 0; i < argv.length; i++) {
      if (QUICK_SENSITIVE.test(argv[i] as string)) {
        suspicious = true;
        break;
      }
    }
    if (!suspicious) return NOTHING;
  }
  const ctx: Ctx = { options, matches: [], depth: 0 };
  classifyCommand(ctx, { argv: [...argv], redirects: [], pipeline: 0 }, []);
  return finish(ctx, options);
}

/** Classify a command line given as one string (a script, `proc.cmdline`). */
export function classifyCommandLine(line: string, options: ClassifyOptions = {}): PayloadClassification {
  const ctx: Ctx = { options, matches: [], depth: 0 };
  classifyScript(ctx, line);
  return finish(ctx, options);
}

function finish(ctx: Ctx, options: ClassifyOptions): PayloadClassification {
  let matches = ctx.matches;
  if (matches.length === 0) return NOTHING;
  if (options.interactiveShells === false) matches = matches.filter((m) => m.category !== 'interactive_shell');
  else if (matches.length > 1) matches = matches.filter((m) => m.category !== 'interactive_shell');
  if (matches.length === 0) return NOTHING;
  // One match per (category, command): keep the most severe.
  const byKey = new Map<string, PayloadMatch>();
  for (const m of matches) {
    const key = `${m.category}\u0000${m.command}`;
    const prev = byKey.get(key);
    if (!prev || rank(m.severity) > rank(prev.severity)) byKey.set(key, m);
  }
  const unique = [...byKey.values()].sort((a, b) => rank(b.severity) - rank(a.severity));
  const categories = [...new Set(unique.map((m) => m.category))].sort();
  return { matches: unique, categories, severity: unique[0]?.severity };
}

function classifyScript(ctx: Ctx, script: string): void {
  if (ctx.depth > 4) return;
  ctx.depth++;
  const parsed = parseScript(script);
  const commands = parsed.commands;
  const before = ctx.matches.length;
  for (let i = 0; i < commands.length; i++) classifyCommand(ctx, commands[i] as SimpleCommand, commands);
  for (const sub of parsed.substitutions) classifyScript(ctx, sub);
  scriptRules(ctx, commands, before);
  ctx.depth--;
}

/** Strip wrappers (`env A=1 sudo -u x timeout 5 nohup cmd`) and return the real command's argv. */
function unwrap(argv: string[]): string[] {
  let a = argv;
  for (let guard = 0; guard < 8 && a.length > 0; guard++) {
    const p = basename(a[0] as string);
    if (!WRAPPERS.has(p)) break;
    let i = 1;
    if (p === 'busybox') {
      a = a.slice(1);
      continue;
    }
    if (p === 'su' || p === 'runuser') {
      // su [-] [user] -c 'cmd'
      const c = a.indexOf('-c');
      if (c >= 0 && c + 1 < a.length) return ['sh', '-c', a[c + 1] as string];
      return a;
    }
    if (p === 'watch') {
      while (i < a.length && (a[i] as string).startsWith('-')) i += /^-(n|d|-interval)$/.test(a[i] as string) ? 2 : 1;
      const rest = a.slice(i);
      return rest.length === 1 ? ['sh', '-c', rest[0] as string] : rest;
    }
    const valueOptions: Record<string, RegExp> = {
      env: /^-(u|C|S)$|^--(unset|chdir|split-string)$/,
      sudo: /^-(u|g|h|p|C|D|U|r|t|T)$/,
      doas: /^-(u|C)$/,
      nice: /^-n$|^--adjustment$/,
      ionice: /^-(c|n|p|P|u)$/,
      timeout: /^-(s|k)$|^--(signal|kill-after)$/,
      stdbuf: /^-(i|o|e)$/,
      xargs: /^-(I|L|n|P|s|d|E|a)$|^--(max-args|max-procs|delimiter|arg-file|replace)$/,
      nsenter: /^-(t|S|G)$|^--(target|setuid|setgid)$/,
      strace: /^-(e|o|p|s|u)$/,
      ltrace: /^-(e|o|p|s|u)$/,
      flock: /^-(w|E)$/,
      chpst: /^-(u|U|e|n|l|L)$/,
    };
    const takesValue = valueOptions[p];
    while (i < a.length) {
      const w = a[i] as string;
      if (w === '--') {
        i++;
        break;
      }
      if (p === 'env' && /^[A-Za-z_][A-Za-z0-9_]*=/.test(w)) {
        i++;
        continue;
      }
      if (!w.startsWith('-') || w === '-') break;
      i += takesValue?.test(w) ? 2 : 1;
    }
    if (p === 'timeout' && i < a.length) i++; // the duration
    if (p === 'chroot' && i < a.length) i++; // the new root
    if (p === 'flock' && i < a.length) i++; // the lock file
    a = a.slice(i);
  }
  return a;
}

function shellScriptOf(argv: readonly string[], splitArgs: boolean): string | undefined {
  for (let i = 1; i < argv.length; i++) {
    const w = argv[i] as string;
    if (w === '-c' || (/^-[a-zA-Z]*c[a-zA-Z]*$/.test(w) && !w.startsWith('--'))) {
      if (i + 1 >= argv.length) return '';
      return splitArgs ? argv.slice(i + 1).join(' ') : (argv[i + 1] as string);
    }
    if (!w.startsWith('-') && !w.startsWith('+')) return undefined;
  }
  return undefined;
}

function interpreterCode(program: string, argv: readonly string[], splitArgs: boolean): string | undefined {
  const flag = PYTHON.test(program) ? /^-c$/ : program === 'php' ? /^-r$/ : /^-(e|E|c|-eval|-command|-Command)$/;
  if (/awk$/.test(program)) {
    // awk 'program' file...: the first non-option word is the program.
    for (let i = 1; i < argv.length; i++) {
      const w = argv[i] as string;
      if (w === '-f') return undefined;
      if (w === '-v' || w === '-F') {
        i++;
        continue;
      }
      if (!w.startsWith('-')) return splitArgs ? argv.slice(i).join(' ') : w;
    }
    return undefined;
  }
  for (let i = 1; i < argv.length; i++) {
    const w = argv[i] as string;
    if (flag.test(w) || (/^-[a-zA-Z]*e$/.test(w) && program === 'perl')) {
      if (i + 1 >= argv.length) return undefined;
      return splitArgs ? argv.slice(i + 1).join(' ') : (argv[i + 1] as string);
    }
  }
  return undefined;
}

function classifyCommand(ctx: Ctx, cmd: SimpleCommand, all: readonly SimpleCommand[]): void {
  const argv = unwrap(cmd.argv);
  const splitArgs = ctx.options.splitArgs === true;
  // Redirections to /dev/tcp: a shell wired to a socket, or data written to one.
  for (const r of cmd.redirects) {
    const m = DEV_TCP.exec(r.target);
    if (!m) continue;
    const dest = destinationOf(ctx, m[2] as string, Number(m[3]));
    const program = argv.length > 0 ? basename(argv[0] as string) : 'exec';
    const shellish = argv.length === 0 || SHELLS.has(program) || program === 'exec';
    if (shellish) {
      push(ctx, {
        category: 'reverse_shell',
        severity: EGRESS.reverse_shell[reachOf(dest.class)],
        explanation: `a shell's input/output is redirected to ${m[1]?.toUpperCase()} ${where(dest)} through /dev/${m[1]}`,
        command: describe([...cmd.argv, `${r.fd ?? ''}${r.op}`, r.target]),
        destination: dest,
      });
    } else if (r.op.includes('>')) {
      push(ctx, {
        category: 'upload',
        severity: EGRESS.upload[reachOf(dest.class)],
        explanation: `${program} writes its output to ${where(dest)} through /dev/${m[1]}`,
        command: describe([...cmd.argv, `${r.op}`, r.target]),
        destination: dest,
      });
    }
  }
  if (argv.length === 0) return;
  const program = basename(argv[0] as string);
  const command = describe(argv);

  if (SHELLS.has(program)) {
    const script = shellScriptOf(argv, splitArgs);
    if (script !== undefined) {
      classifyScript(ctx, script);
      return;
    }
    const scriptFile = argv.slice(1).find((w) => !w.startsWith('-'));
    const interactive = argv.includes('-i') || (scriptFile === undefined && ctx.options.tty === true);
    if (interactive && ctx.options.interactiveShells !== false && !cmd.redirects.some((r) => DEV_TCP.test(r.target)))
      push(ctx, { category: 'interactive_shell', severity: 'low', explanation: `an interactive ${program} with a terminal`, command });
    sensitiveArgs(ctx, program, argv, command);
    return;
  }
  if (PYTHON.test(program) || INTERPRETERS.has(program)) {
    const code = interpreterCode(program, argv, splitArgs);
    if (code !== undefined) interpreterRules(ctx, program, code, command);
    else sensitiveArgs(ctx, program, argv, command);
    return;
  }
  if (program === 'curl') {
    curlRule(ctx, argv, command, cmd, all);
    return;
  }
  if (program === 'wget' || program === 'fetch') {
    wgetRule(ctx, argv, command);
    return;
  }
  if (program === 'http' || program === 'https') {
    httpieRule(ctx, program, argv, command);
    return;
  }
  if (program === 'aws') {
    awsRule(ctx, argv, command);
    return;
  }
  if (program === 'gsutil' || program === 'gcloud') {
    gsutilRule(ctx, program, argv, command);
    return;
  }
  if (program === 'azcopy') {
    azcopyRule(ctx, argv, command);
    return;
  }
  if (program === 'rclone') {
    rcloneRule(ctx, argv, command);
    return;
  }
  if (program === 's3cmd') {
    s3cmdRule(ctx, argv, command);
    return;
  }
  if (NETCATS.has(program)) {
    netcatRule(ctx, program, argv, command, cmd, all);
    return;
  }
  if (program === 'socat') {
    socatRule(ctx, argv, command);
    return;
  }
  if (program === 'telnet') {
    telnetRule(ctx, argv, command);
    return;
  }
  if (program === 'ssh') {
    sshRule(ctx, argv, command);
    return;
  }
  if (program === 'scp' || program === 'rsync' || program === 'sftp') {
    copyToolRule(ctx, program, argv, command);
    return;
  }
  if (program === 'ftp' || program === 'tftp' || program === 'lftp') {
    ftpRule(ctx, program, argv, command);
    return;
  }
  if (program === 'openssl') {
    opensslRule(ctx, argv, command);
    return;
  }
  if (ARCHIVERS.has(program)) {
    archiveRule(ctx, program, argv, command, cmd);
    return;
  }
  sensitiveArgs(ctx, program, argv, command);
  metadataInArgs(ctx, program, argv, command);
}

/** Reads of sensitive paths named in the arguments (or an input redirection). */
function sensitiveArgs(ctx: Ctx, program: string, argv: readonly string[], command: string, skip?: ReadonlySet<string>): SensitivePath[] {
  if (NON_READERS.has(program)) return [];
  const found: SensitivePath[] = [];
  for (let i = 1; i < argv.length; i++) {
    const w = argv[i] as string;
    if (skip?.has(w)) continue;
    const s = sensitivePathOf(w);
    if (s && !found.some((f) => f.path === s.path)) found.push(s);
  }
  if (found.length === 0) return found;
  const listing = LISTERS.has(program);
  const credential = found.some((f) => f.credential);
  const labels = [...new Set(found.map((f) => f.label))].join(', ');
  push(ctx, {
    category: 'sensitive_read',
    severity: listing ? 'low' : credential ? 'high' : 'medium',
    explanation: `${program} ${listing ? 'lists' : 'reads'} ${labels}: ${found.map((f) => f.path).join(', ')}`,
    command,
    paths: found.map((f) => f.path),
  });
  return found;
}

/** A metadata endpoint named in the arguments of a program without a rule of its own. */
function metadataInArgs(ctx: Ctx, program: string, argv: readonly string[], command: string): void {
  for (let i = 1; i < argv.length; i++) {
    const w = argv[i] as string;
    if (!METADATA_IN_TEXT.test(w)) continue;
    metadataMatch(ctx, program, w, command);
    return;
  }
}

function metadataMatch(ctx: Ctx, program: string, url: string, command: string): void {
  const credentials = METADATA_CREDENTIAL_PATH.test(url);
  const host = parseLooseUrl(url)?.host ?? (METADATA_IN_TEXT.exec(url)?.[0] as string);
  push(ctx, {
    category: 'metadata_access',
    severity: credentials ? 'high' : 'medium',
    explanation: credentials
      ? `${program} asks the instance metadata service for credentials (${url})`
      : `${program} queries the instance metadata service (${url})`,
    command,
    destination: { host: unbracket(host), class: 'metadata' },
  });
}

function curlRule(ctx: Ctx, argv: readonly string[], command: string, cmd: SimpleCommand, all: readonly SimpleCommand[]): void {
  const o = parseOptions(argv.slice(1), CURL);
  const urls = [...optionValues(o, '--url'), ...o.positionals];
  const targets = urls.map((u) => ({ raw: u, url: parseLooseUrl(u) })).filter((t) => t.url !== undefined);
  const files: string[] = [];
  for (const v of optionValues(o, '-T', '--upload-file')) files.push(v);
  for (const v of optionValues(o, '-F', '--form')) {
    const eq = v.indexOf('=');
    const val = eq >= 0 ? v.slice(eq + 1) : v;
    if (val.startsWith('@') || val.startsWith('<')) files.push(val.slice(1).split(';')[0] as string);
  }
  for (const v of optionValues(o, '-d', '--data', '--data-binary', '--data-ascii', '--json')) {
    if (v.startsWith('@')) files.push(v.slice(1));
  }
  for (const v of optionValues(o, '--data-urlencode')) {
    const m = /^[^=@]*@(.+)$/.exec(v);
    if (m) files.push(m[1] as string);
  }
  // `-d "$(cat /etc/shadow)"` inside a script: the output of a command is posted.
  const substituted = optionValues(o, '-d', '--data', '--data-binary', '--data-raw', '--data-urlencode', '--json', '-F', '--form').some(
    (v) => v.includes('$(') || v.includes('`'),
  );
  const skip = new Set([...optionValues(o, '--cacert', '--capath', '--cert', '-E', '--key', '--netrc-file', '-K', '--config', '-o', '--output')]);
  const firstTarget = targets[0];
  const metadataTarget = targets.find((t) => t.url && METADATA_HOSTS.has(t.url.host.toLowerCase()));
  if (metadataTarget) metadataMatch(ctx, 'curl', metadataTarget.raw, command);
  else metadataInArgs(ctx, 'curl', ['curl', ...urls], command);
  const dest = firstTarget?.url ? destinationOf(ctx, firstTarget.url.host, firstTarget.url.port) : undefined;
  const fedByPipe = pipedInput(cmd, all);
  const stdinUpload = files.includes('-') || files.includes('');
  if (files.length > 0 && dest && dest.class !== 'metadata') {
    const bucket = firstTarget ? bucketOf(firstTarget.raw) : undefined;
    const paths = files.filter((f) => f !== '-' && f !== '');
    const what = paths.length > 0 ? paths.join(', ') : 'its standard input';
    if (bucket) {
      const ownership = ctx.options.bucketOwner?.(bucket) ?? 'unknown';
      push(ctx, {
        category: 'upload',
        severity: CLOUD_COPY[ownership],
        explanation: `curl uploads ${what} to ${bucket.provider === 'aws' ? 'S3' : bucket.provider} bucket ${bucket.name} (owner ${ownership})`,
        command,
        ...(dest ? { destination: dest } : {}),
        bucket: { ...bucket, ownership },
        paths,
      });
    } else {
      const secret = paths.map((f) => sensitivePathOf(f)).find((f) => f?.credential);
      push(ctx, {
        category: 'upload',
        severity: bump(EGRESS.upload[dest ? reachOf(dest.class) : 'none'], secret ? 1 : 0),
        explanation: `curl uploads ${what} to ${where(dest)}${stdinUpload && fedByPipe ? ' (data piped in)' : ''}${secret ? ` (${secret.label})` : ''}`,
        command,
        ...(dest ? { destination: dest } : {}),
        paths,
      });
    }
  } else if (substituted && dest && dest.class !== 'metadata') {
    push(ctx, {
      category: 'upload',
      severity: EGRESS.upload[reachOf(dest.class)],
      explanation: `curl posts the output of a command to ${where(dest)}`,
      command,
      destination: dest,
    });
  } else if (
    fedByPipe &&
    hasFlag(o, '-X', '--request') &&
    /^(POST|PUT)$/i.test(optionValues(o, '-X', '--request')[0] ?? '') &&
    dest &&
    dest.class !== 'metadata'
  ) {
    push(ctx, {
      category: 'upload',
      severity: EGRESS.upload[reachOf(dest.class)],
      explanation: `curl sends piped data to ${where(dest)}`,
      command,
      destination: dest,
    });
  }
  sensitiveArgs(ctx, 'curl', argv, command, skip);
}

/** True when this command reads the output of an earlier command of its pipeline. */
function pipedInput(cmd: SimpleCommand, all: readonly SimpleCommand[]): boolean {
  const i = all.indexOf(cmd);
  return i > 0 && (all[i - 1] as SimpleCommand).pipeline === cmd.pipeline;
}

function wgetRule(ctx: Ctx, argv: readonly string[], command: string): void {
  const o = parseOptions(argv.slice(1), WGET);
  const target = o.positionals.map((u) => ({ raw: u, url: parseLooseUrl(u) })).find((t) => t.url !== undefined);
  if (target?.url && METADATA_HOSTS.has(target.url.host.toLowerCase())) metadataMatch(ctx, 'wget', target.raw, command);
  else metadataInArgs(ctx, 'wget', ['wget', ...o.positionals], command);
  const files = optionValues(o, '--post-file', '--body-file');
  const dest = target?.url ? destinationOf(ctx, target.url.host, target.url.port) : undefined;
  if (files.length > 0 && dest && dest.class !== 'metadata') {
    const bucket = target ? bucketOf(target.raw) : undefined;
    const ownership = bucket ? (ctx.options.bucketOwner?.(bucket) ?? 'unknown') : undefined;
    const secret = files.map((f) => sensitivePathOf(f)).find((f) => f?.credential);
    push(ctx, {
      category: 'upload',
      severity: bump(bucket && ownership ? CLOUD_COPY[ownership] : EGRESS.upload[dest ? reachOf(dest.class) : 'none'], secret ? 1 : 0),
      explanation: `wget posts ${files.join(', ')} to ${bucket ? `bucket ${bucket.name}` : where(dest)}${secret ? ` (${secret.label})` : ''}`,
      command,
      ...(dest ? { destination: dest } : {}),
      ...(bucket && ownership ? { bucket: { ...bucket, ownership } } : {}),
      paths: files,
    });
  }
  sensitiveArgs(ctx, 'wget', argv, command, new Set(optionValues(o, '--ca-certificate', '--certificate', '--private-key')));
}

function httpieRule(ctx: Ctx, program: string, argv: readonly string[], command: string): void {
  const words = argv.slice(1).filter((w) => !w.startsWith('-'));
  let i = 0;
  if (words[0] && /^[A-Z]+$/.test(words[0])) i = 1;
  const target = words[i];
  const url = target ? parseLooseUrl(target) : undefined;
  const files = words.slice(i + 1).flatMap((w) => {
    const m = /^(?:[^=@:]*@|@)(.+)$/.exec(w);
    return m ? [m[1] as string] : [];
  });
  if (url && files.length > 0) {
    const dest = destinationOf(ctx, url.host, url.port);
    push(ctx, {
      category: 'upload',
      severity: EGRESS.upload[reachOf(dest.class)],
      explanation: `${program} (HTTPie) uploads ${files.join(', ')} to ${where(dest)}`,
      command,
      destination: dest,
      paths: files,
    });
  }
  sensitiveArgs(ctx, program, argv, command);
}

function cloudCopy(ctx: Ctx, tool: string, verb: string, sources: readonly string[], target: string, command: string, endpoint?: string): void {
  const bucket = bucketOf(target) ?? (tool === 'rclone' ? rcloneRemote(target) : undefined);
  if (!bucket) return;
  const ownership = ctx.options.bucketOwner?.(bucket) ?? 'unknown';
  const local = sources.filter((s) => !bucketOf(s) && !(tool === 'rclone' && rcloneRemote(s)));
  const fromBucket = sources.map((s) => bucketOf(s)).find((b) => b !== undefined);
  let severity = CLOUD_COPY[ownership];
  let where = '';
  let destination: PayloadDestination | undefined;
  if (endpoint) {
    const url = parseUrl(endpoint);
    if (url) {
      destination = destinationOf(ctx, url.host, url.port);
      const reach = reachOf(destination.class);
      if (reach === 'external' && rank(severity) < rank('high')) severity = 'high';
      where = ` through the endpoint ${endpoint} (${destination.class})`;
    }
  }
  const what = local.length > 0 ? local.join(', ') : fromBucket ? `bucket ${fromBucket.name}` : sources.join(', ');
  push(ctx, {
    category: 'cloud_copy',
    severity,
    explanation: `${tool} ${verb} copies ${what} to ${bucket.provider === 'aws' ? 'S3 ' : bucket.provider === 'gcp' ? 'GCS ' : bucket.provider === 'azure' ? 'Azure ' : ''}${bucket.provider === 'rclone' ? 'remote' : 'bucket'} ${bucket.name}${where}; bucket owner: ${ownership}`,
    command,
    bucket: { ...bucket, ownership },
    ...(destination ? { destination } : {}),
    paths: local,
  });
}

function rcloneRemote(value: string): BucketRef | undefined {
  const m = /^([A-Za-z0-9_.-]+):(.*)$/.exec(value);
  if (!m || value.startsWith('/') || (m[1] as string).length === 1) return undefined;
  const first = (m[2] as string).split('/').filter(Boolean)[0];
  return { provider: 'rclone', name: first ? `${m[1]}:${first}` : `${m[1]}:`, url: value };
}

function awsRule(ctx: Ctx, argv: readonly string[], command: string): void {
  const o = parseOptions(argv.slice(1), AWS);
  const [service, verb, ...rest] = o.positionals;
  const endpoint = optionValues(o, '--endpoint-url')[0];
  if (service === 's3' && (verb === 'cp' || verb === 'sync' || verb === 'mv') && rest.length >= 2) {
    cloudCopy(ctx, 'aws s3', verb, rest.slice(0, -1), rest[rest.length - 1] as string, command, endpoint);
  } else if (service === 's3api' && (verb === 'put-object' || verb === 'copy-object' || verb === 'upload-part')) {
    const bucket = optionValues(o, '--bucket')[0];
    const body = optionValues(o, '--body', '--copy-source');
    if (bucket) cloudCopy(ctx, 'aws s3api', verb, body, `s3://${bucket}/${optionValues(o, '--key')[0] ?? ''}`, command, endpoint);
  }
  sensitiveArgs(ctx, 'aws', argv, command, new Set(optionValues(o, '--ca-bundle')));
}

function gsutilRule(ctx: Ctx, program: string, argv: readonly string[], command: string): void {
  const o = parseOptions(argv.slice(1), GSUTIL);
  let words = o.positionals;
  if (program === 'gcloud') {
    if (words[0] !== 'storage') {
      sensitiveArgs(ctx, program, argv, command);
      return;
    }
    words = words.slice(1);
  }
  const [verb, ...rest] = words;
  if ((verb === 'cp' || verb === 'rsync' || verb === 'mv') && rest.length >= 2)
    cloudCopy(ctx, program === 'gcloud' ? 'gcloud storage' : 'gsutil', verb, rest.slice(0, -1), rest[rest.length - 1] as string, command);
  sensitiveArgs(ctx, program, argv, command);
}

function azcopyRule(ctx: Ctx, argv: readonly string[], command: string): void {
  const o = parseOptions(argv.slice(1), AZCOPY);
  const [verb, ...rest] = o.positionals;
  if ((verb === 'copy' || verb === 'cp' || verb === 'sync') && rest.length >= 2)
    cloudCopy(ctx, 'azcopy', verb, rest.slice(0, -1), rest[rest.length - 1] as string, command);
  sensitiveArgs(ctx, 'azcopy', argv, command);
}

function rcloneRule(ctx: Ctx, argv: readonly string[], command: string): void {
  const o = parseOptions(argv.slice(1), RCLONE);
  const [verb, ...rest] = o.positionals;
  if (verb && /^(copy|sync|move|copyto|moveto|bisync)$/.test(verb) && rest.length >= 2)
    cloudCopy(ctx, 'rclone', verb, rest.slice(0, -1), rest[rest.length - 1] as string, command);
  sensitiveArgs(ctx, 'rclone', argv, command);
}

function s3cmdRule(ctx: Ctx, argv: readonly string[], command: string): void {
  const words = argv.slice(1).filter((w) => !w.startsWith('-'));
  const [verb, ...rest] = words;
  if (verb && /^(put|sync|cp|mv)$/.test(verb) && rest.length >= 2) cloudCopy(ctx, 's3cmd', verb, rest.slice(0, -1), rest[rest.length - 1] as string, command);
  sensitiveArgs(ctx, 's3cmd', argv, command);
}

function netcatRule(ctx: Ctx, program: string, argv: readonly string[], command: string, cmd: SimpleCommand, all: readonly SimpleCommand[]): void {
  const o = parseOptions(argv.slice(1), NETCAT);
  const listen = hasFlag(o, '-l', '--listen');
  const exec = optionValues(o, '-e', '-c', '--exec', '--sh-exec', '--lua-exec')[0];
  const host = o.positionals[0];
  const port =
    o.positionals[1] !== undefined
      ? Number.parseInt(o.positionals[1], 10)
      : optionValues(o, '-p')[0] !== undefined
        ? Number(optionValues(o, '-p')[0])
        : undefined;
  const dest = !listen && host ? destinationOf(ctx, host, Number.isFinite(port) ? port : undefined) : undefined;
  if (exec && (listen || dest)) {
    push(ctx, {
      category: 'reverse_shell',
      severity: listen ? 'high' : EGRESS.reverse_shell[dest ? reachOf(dest.class) : 'none'],
      explanation: listen ? `${program} -l serves ${exec} to anyone who connects (bind shell)` : `${program} runs ${exec} wired to ${where(dest)}`,
      command,
      ...(dest ? { destination: dest } : {}),
    });
    return;
  }
  if (listen) {
    push(ctx, {
      category: 'network_tool',
      severity: 'low',
      explanation: `${program} listens for connections${port !== undefined ? ` on port ${port}` : ''}`,
      command,
    });
    return;
  }
  if (!dest) return;
  if (dest.class === 'metadata') {
    metadataMatch(ctx, program, `${host}${port !== undefined ? `:${port}` : ''}`, command);
    return;
  }
  if (hasFlag(o, '-z')) {
    // A port check: nothing is sent. Worth a note only towards the outside.
    if (reachOf(dest.class) === 'external')
      push(ctx, { category: 'network_tool', severity: 'low', explanation: `${program} -z probes ${where(dest)}`, command, destination: dest });
    return;
  }
  const inputFile = cmd.redirects.find((r) => r.op === '<')?.target;
  const piped = pipedInput(cmd, all);
  if (inputFile || piped) {
    push(ctx, {
      category: 'upload',
      severity: EGRESS.upload[reachOf(dest.class)],
      explanation: `${program} sends ${inputFile ?? 'piped data'} to ${where(dest)} over raw ${hasFlag(o, '-u') ? 'UDP' : 'TCP'}`,
      command,
      destination: dest,
      ...(inputFile ? { paths: [inputFile] } : {}),
    });
    return;
  }
  push(ctx, {
    category: 'network_tool',
    severity: EGRESS.connect[reachOf(dest.class)],
    explanation: `${program} connects to ${where(dest)}`,
    command,
    destination: dest,
  });
}

function socatRule(ctx: Ctx, argv: readonly string[], command: string): void {
  const o = parseOptions(argv.slice(1), SOCAT);
  const addrs = o.positionals;
  let dest: PayloadDestination | undefined;
  let listenPort: string | undefined;
  let execs: string | undefined;
  let file: string | undefined;
  for (const a of addrs) {
    const m = /^(?:tcp[46]?|tcp[46]?-connect|udp[46]?|udp[46]?-connect|openssl|openssl-connect|sctp-connect|socks4a?|proxy):([^,]+)/i.exec(a);
    if (m) {
      const spec = m[1] as string;
      const colon = spec.lastIndexOf(':');
      const host = colon > 0 ? spec.slice(0, colon) : spec;
      const port = colon > 0 ? Number(spec.slice(colon + 1)) : undefined;
      dest = destinationOf(ctx, host, Number.isFinite(port) ? port : undefined);
      continue;
    }
    const l = /^(?:tcp[46]?-listen|tcp-l|udp[46]?-listen|openssl-listen|ssl-l):(\d+)/i.exec(a);
    if (l) {
      listenPort = l[1];
      continue;
    }
    const e = /^(?:exec|system):(.+)$/i.exec(a);
    if (e) {
      execs = (e[1] as string).split(',')[0];
      continue;
    }
    const f = /^(?:open|create|gopen|file)?:?(\/[^,]+)/i.exec(a);
    if (f && a !== '-' && !a.startsWith('stdio')) file = f[1];
  }
  if (execs !== undefined && (dest || listenPort)) {
    push(ctx, {
      category: 'reverse_shell',
      severity: dest ? EGRESS.reverse_shell[reachOf(dest.class)] : 'high',
      explanation: dest ? `socat runs ${execs} wired to ${where(dest)}` : `socat serves ${execs} on port ${listenPort} (bind shell)`,
      command,
      ...(dest ? { destination: dest } : {}),
    });
    return;
  }
  if (dest?.class === 'metadata') {
    metadataMatch(ctx, 'socat', dest.host, command);
    return;
  }
  if (dest && file) {
    push(ctx, {
      category: 'upload',
      severity: EGRESS.upload[reachOf(dest.class)],
      explanation: `socat sends ${file} to ${where(dest)}`,
      command,
      destination: dest,
      paths: [file],
    });
    return;
  }
  if (dest)
    push(ctx, {
      category: 'network_tool',
      severity: EGRESS.connect[reachOf(dest.class)],
      explanation: `socat relays to ${where(dest)}`,
      command,
      destination: dest,
    });
  else if (listenPort) push(ctx, { category: 'network_tool', severity: 'low', explanation: `socat listens on port ${listenPort}`, command });
}

function telnetRule(ctx: Ctx, argv: readonly string[], command: string): void {
  const words = argv.slice(1).filter((w) => !w.startsWith('-'));
  if (!words[0]) return;
  const dest = destinationOf(ctx, words[0], words[1] !== undefined ? Number(words[1]) : undefined);
  push(ctx, {
    category: 'network_tool',
    severity: EGRESS.connect[reachOf(dest.class)],
    explanation: `telnet connects to ${where(dest)}`,
    command,
    destination: dest,
  });
}

function opensslRule(ctx: Ctx, argv: readonly string[], command: string): void {
  if (argv[1] !== 's_client') {
    sensitiveArgs(ctx, 'openssl', argv, command);
    return;
  }
  const o = parseOptions(argv.slice(2), OPENSSL);
  const connect = optionValues(o, '-connect')[0];
  if (!connect) return;
  const colon = connect.lastIndexOf(':');
  const dest = destinationOf(ctx, colon > 0 ? connect.slice(0, colon) : connect, colon > 0 ? Number(connect.slice(colon + 1)) : 443);
  push(ctx, {
    category: 'network_tool',
    severity: EGRESS.connect[reachOf(dest.class)],
    explanation: `openssl s_client opens TLS to ${where(dest)}`,
    command,
    destination: dest,
  });
}

function hostOfSsh(target: string): string {
  const at = target.lastIndexOf('@');
  return at >= 0 ? target.slice(at + 1) : target;
}

function sshRule(ctx: Ctx, argv: readonly string[], command: string): void {
  const o = parseOptions(argv.slice(1), SSH);
  const target = o.positionals[0];
  if (!target) return;
  const port = optionValues(o, '-p')[0];
  const dest = destinationOf(ctx, hostOfSsh(target.replace(/^ssh:\/\//, '').split(':')[0] as string), port !== undefined ? Number(port) : 22);
  const tunnels = [
    ...optionValues(o, '-R').map((v) => `-R ${v}`),
    ...optionValues(o, '-L').map((v) => `-L ${v}`),
    ...optionValues(o, '-D').map((v) => `-D ${v}`),
  ];
  if (tunnels.length > 0) {
    push(ctx, {
      category: 'network_tool',
      severity: EGRESS.tunnel[reachOf(dest.class)],
      explanation: `ssh opens tunnels (${tunnels.join(', ')}) through ${where(dest)}`,
      command,
      destination: dest,
    });
    return;
  }
  push(ctx, {
    category: 'network_tool',
    severity: EGRESS.connect[reachOf(dest.class)],
    explanation: `ssh connects to ${where(dest)}`,
    command,
    destination: dest,
  });
}

function copyToolRule(ctx: Ctx, program: string, argv: readonly string[], command: string): void {
  const o = parseOptions(argv.slice(1), program === 'rsync' ? RSYNC : program === 'scp' ? SCP : SSH);
  const words = o.positionals;
  if (program === 'sftp') {
    const target = words[0];
    if (!target) return;
    const dest = destinationOf(ctx, hostOfSsh(target.replace(/^sftp:\/\//, '').split(':')[0] as string), 22);
    push(ctx, {
      category: 'network_tool',
      severity: EGRESS.copy[reachOf(dest.class)],
      explanation: `sftp opens a file transfer session with ${where(dest)}`,
      command,
      destination: dest,
    });
    return;
  }
  if (words.length < 2) return;
  const last = words[words.length - 1] as string;
  const remote = parseRemoteSpec(last);
  if (!remote) return; // a download or a local copy
  const port = optionValues(o, program === 'scp' ? '-P' : '--port')[0];
  const dest = destinationOf(ctx, remote.host, remote.port ?? (port !== undefined ? Number(port) : program === 'rsync' && last.includes('::') ? 873 : 22));
  const sources = words.slice(0, -1);
  push(ctx, {
    category: 'network_tool',
    severity: EGRESS.copy[reachOf(dest.class)],
    explanation: `${program} copies ${sources.join(', ')} to ${where(dest)}`,
    command,
    destination: dest,
    paths: sources,
  });
  sensitiveArgs(ctx, program, [program, ...sources], command);
}

function ftpRule(ctx: Ctx, program: string, argv: readonly string[], command: string): void {
  const words = argv.slice(1).filter((w) => !w.startsWith('-'));
  const target = words[0];
  if (!target) return;
  const url = parseUrl(target);
  const dest = destinationOf(ctx, url ? url.host : hostOfSsh(target), url?.port);
  push(ctx, {
    category: 'network_tool',
    severity: EGRESS.copy[reachOf(dest.class)],
    explanation: `${program} opens a file transfer session with ${where(dest)}`,
    command,
    destination: dest,
  });
}

interface ArchiveRead {
  create: boolean;
  output?: string;
  inputs: string[];
}

function readTar(argv: readonly string[]): ArchiveRead {
  const args = argv.slice(1);
  let create = false;
  let output: string | undefined;
  let outputGiven = false;
  const inputs: string[] = [];
  let directory: string | undefined;
  let rest = args;
  // Old style: `tar czf out dir` (the first word is a bundle of letters, values follow in order).
  if (args[0] && !args[0].startsWith('-') && /^[A-Za-z]+$/.test(args[0])) {
    const bundle = args[0];
    let next = 1;
    for (const letter of bundle) {
      if (letter === 'c') create = true;
      if ('fbTXCgKLNV'.includes(letter)) {
        const value = args[next++];
        if (letter === 'f') {
          output = value;
          outputGiven = true;
        } else if (letter === 'C') directory = value;
      }
    }
    rest = args.slice(next);
  }
  const o = parseOptions(rest, TAR);
  if (o.flags.has('-c') || o.flags.has('--create')) create = true;
  const files = optionValues(o, '-f', '--file');
  if (files.length > 0) {
    output = files[0];
    outputGiven = true;
  }
  directory = optionValues(o, '-C', '--directory')[0] ?? directory;
  for (const p of o.positionals) inputs.push(directory && !p.startsWith('/') ? `${directory.replace(/\/$/, '')}/${p}` : p);
  for (const p of optionValues(o, '-T', '--files-from')) inputs.push(`@${p}`);
  if (!outputGiven) output = '-';
  return output !== undefined ? { create, output, inputs } : { create, inputs };
}

function readArchive(program: string, argv: readonly string[]): ArchiveRead {
  if (program === 'tar' || program === 'bsdtar' || program === 'gtar') return readTar(argv);
  if (program === 'zip') {
    const o = parseOptions(argv.slice(1), ZIP);
    const [out, ...inputs] = o.positionals;
    return out !== undefined ? { create: true, output: out, inputs } : { create: true, inputs };
  }
  if (program === '7z' || program === '7za' || program === '7zr' || program === 'rar') {
    const words = argv.slice(1).filter((w) => !w.startsWith('-'));
    const [verb, out, ...inputs] = words;
    if (verb !== 'a' && verb !== 'u') return { create: false, inputs: [] };
    return out !== undefined ? { create: true, output: out, inputs } : { create: true, inputs };
  }
  if (program === 'cpio') return { create: argv.some((w) => /^-[a-zA-Z]*o/.test(w) || w === '--create'), output: '-', inputs: [] };
  if (program === 'pax') return { create: argv.some((w) => /^-[a-zA-Z]*w/.test(w)), output: '-', inputs: argv.slice(1).filter((w) => !w.startsWith('-')) };
  return { create: false, inputs: [] };
}

function archiveRule(ctx: Ctx, program: string, argv: readonly string[], command: string, cmd: SimpleCommand): void {
  const a = readArchive(program, argv);
  if (!a.create) {
    sensitiveArgs(ctx, program, argv, command);
    return;
  }
  const inputs = a.inputs.filter((p) => !isSystemPath(p));
  if (a.inputs.length > 0 && inputs.length === 0) return;
  // tar and zip refuse to create an empty archive; cpio and pax read their list from stdin.
  if (a.inputs.length === 0 && program !== 'cpio' && program !== 'pax') return;
  const sensitive = sensitiveArgs(ctx, program, [program, ...inputs], command);
  const data = inputs.filter((p) => isDataPath(p));
  const toStdout = a.output === '-' && !cmd.redirects.some((r) => r.op === '>' || r.op === '>>');
  const staged = a.output !== undefined && /^\/(?:tmp|dev\/shm|var\/tmp)\//.test(a.output);
  const severity: Severity = sensitive.length > 0 || data.length > 0 ? 'medium' : 'low';
  const reasons: string[] = [];
  if (data.length > 0) reasons.push(`application data ${data.join(', ')}`);
  if (sensitive.length > 0) reasons.push('sensitive files');
  push(ctx, {
    category: 'archive',
    severity,
    explanation: `${program} packs ${inputs.length > 0 ? inputs.join(', ') : 'files'}${reasons.length > 0 ? ` (${reasons.join('; ')})` : ''} ${toStdout ? 'to standard output' : staged ? `into ${a.output} (a temporary directory: staged for transfer)` : `into ${a.output ?? 'an archive'}`}`,
    command,
    paths: inputs,
  });
}

const REVERSE_SHELL_CODE: readonly [RegExp, RegExp][] = [
  // python: a socket connected, then a shell or the descriptors duplicated onto it.
  [/socket\.socket|socket\.create_connection|\bsocket\b.*\bconnect\(/s, /subprocess|os\.dup2|pty\.spawn|os\.system|\/bin\/(?:ba)?sh|os\.exec|popen/is],
  // perl, ruby, php, node, lua
  [/use\s+Socket|IO::Socket|socket\s*\(/s, /exec\s*\(|open\s*\(\s*STD(?:IN|OUT)|system\s*\(|\/bin\/(?:ba)?sh/is],
  [/TCPSocket\.(?:new|open)|Socket\.tcp/s, /exec|spawn|system|IO\.popen|\/bin\/(?:ba)?sh|`/s],
  [/fsockopen|stream_socket_client|socket_create/s, /exec|shell_exec|system|passthru|proc_open|popen|\/bin\/(?:ba)?sh/s],
  [/net\.Socket|net\.connect|require\(['"]net['"]\)/s, /child_process|spawn|exec/s],
  [/socket\.tcp|socket\.connect/s, /io\.popen|os\.execute/s],
  [/\/inet\/tcp\//, /./s],
  [/Net\.Sockets\.TCPClient/s, /Invoke-Expression|iex|GetStream/s],
];
const UPLOAD_CODE =
  /requests\.(?:post|put)|urlopen\([^)]*data|http\.client|urllib\.request\.Request\([^)]*data|HTTP::Request::Common|LWP::UserAgent.*->(?:post|put)|Net::HTTP::(?:Post|Put)|curl_setopt.*CURLOPT_(?:POSTFIELDS|UPLOAD)|https?\.request\(.*method:\s*['"](?:POST|PUT)|boto3.*upload_file|put_object/s;
const CODE_HOSTS =
  /\/inet\/(?:tcp|udp)\/\d+\/([^/\s]+)\/(\d{1,5})|[a-z]+:\/\/(\[[0-9a-f:]+\]|[^/:"'\s]+)(?::(\d{1,5}))?|\b((?:\d{1,3}\.){3}\d{1,3})\b["']?\s*[,:]?\s*(\d{1,5})?|["']((?:[a-z0-9-]+\.)+[a-z]{2,})["']\s*[,:]?\s*(\d{1,5})?/gi;

/** Hosts (and ports) named in interpreter code: `/inet/tcp/0/h/p`, URLs, address literals, quoted host names. */
function codeHosts(ctx: Ctx, code: string): PayloadDestination[] {
  const out: PayloadDestination[] = [];
  for (const m of code.matchAll(CODE_HOSTS)) {
    const host = (m[1] ?? m[3] ?? m[5] ?? m[7]) as string | undefined;
    const port = m[2] ?? m[4] ?? m[6] ?? m[8];
    if (!host) continue;
    out.push(destinationOf(ctx, host, port !== undefined ? Number(port) : undefined));
    if (out.length >= 4) break;
  }
  return out;
}

function interpreterRules(ctx: Ctx, program: string, code: string, command: string): void {
  const hosts = codeHosts(ctx, code);
  const dest = hosts.find((h) => h.class !== 'metadata') ?? hosts[0];
  const reverse = REVERSE_SHELL_CODE.some(([a, b]) => a.test(code) && b.test(code));
  if (reverse) {
    push(ctx, {
      category: 'reverse_shell',
      severity: EGRESS.reverse_shell[dest ? reachOf(dest.class) : 'none'],
      explanation: `a ${program} one-liner connects a socket${dest ? ` to ${where(dest)}` : ''} and hands it a shell`,
      command,
      ...(dest ? { destination: dest } : {}),
    });
  } else if (UPLOAD_CODE.test(code)) {
    push(ctx, {
      category: 'upload',
      severity: EGRESS.upload[dest ? reachOf(dest.class) : 'none'],
      explanation: `a ${program} one-liner sends data${dest ? ` to ${where(dest)}` : ''}`,
      command,
      ...(dest ? { destination: dest } : {}),
    });
  }
  if (METADATA_IN_TEXT.test(code))
    metadataMatch(
      ctx,
      program,
      METADATA_CREDENTIAL_PATH.test(code) ? `${METADATA_IN_TEXT.exec(code)?.[0]} (credentials path)` : (METADATA_IN_TEXT.exec(code)?.[0] as string),
      command,
    );
  const paths = code.match(/(?:~|\/)[\w./-]+/g) ?? [];
  const sensitive = paths.map((p) => sensitivePathOf(p)).filter((s): s is SensitivePath => s !== undefined);
  if (sensitive.length > 0)
    push(ctx, {
      category: 'sensitive_read',
      severity: sensitive.some((s) => s.credential) ? 'high' : 'medium',
      explanation: `a ${program} one-liner reads ${[...new Set(sensitive.map((s) => s.label))].join(', ')}: ${sensitive.map((s) => s.path).join(', ')}`,
      command,
      paths: sensitive.map((s) => s.path),
    });
}

/** Rules over a whole script: pipelines feeding shells or network tools, staged archives uploaded later. */
function scriptRules(ctx: Ctx, commands: readonly SimpleCommand[], firstMatch: number): void {
  if (commands.length < 2) return;
  const byPipeline = new Map<number, SimpleCommand[]>();
  for (const c of commands) {
    const list = byPipeline.get(c.pipeline);
    if (list) list.push(c);
    else byPipeline.set(c.pipeline, [c]);
  }
  const programOf = (c: SimpleCommand) => (c.argv.length > 0 ? basename(unwrap(c.argv)[0] ?? '') : '');
  for (const pipe of byPipeline.values()) {
    if (pipe.length < 2) continue;
    const programs = pipe.map(programOf);
    const shellAt = programs.findIndex((p) => SHELLS.has(p) || PYTHON.test(p) || p === 'perl' || p === 'ruby');
    const netAt = programs.findIndex((p) => NETCATS.has(p) || p === 'telnet' || p === 'openssl');
    // `cat f | sh -i 2>&1 | nc h p > f`, `telnet h p | sh | telnet h p2`: a shell fed by and feeding a socket.
    if (shellAt >= 0 && netAt >= 0 && SHELLS.has(programs[shellAt] as string)) {
      const netCmd = pipe[netAt] as SimpleCommand;
      const argv = unwrap(netCmd.argv);
      const words = argv.slice(1).filter((w) => !w.startsWith('-'));
      const hostWord = programs[netAt] === 'openssl' ? (argv[argv.indexOf('-connect') + 1] ?? '').split(':')[0] : words[0];
      const dest = hostWord ? destinationOf(ctx, hostWord, words[1] !== undefined ? Number(words[1]) : undefined) : undefined;
      const netCommand = describe(argv);
      for (let i = ctx.matches.length - 1; i >= firstMatch; i--) {
        const m = ctx.matches[i] as PayloadMatch;
        if (m.command === netCommand && (m.category === 'upload' || m.category === 'network_tool')) ctx.matches.splice(i, 1);
      }
      push(ctx, {
        category: 'reverse_shell',
        severity: EGRESS.reverse_shell[dest ? reachOf(dest.class) : 'none'],
        explanation: `a pipeline wires ${programs[shellAt]} to ${programs[netAt]}${dest ? ` (${where(dest)})` : ''}: a reverse shell`,
        command: describe(pipe.flatMap((c, i) => (i === 0 ? c.argv : ['|', ...c.argv]))),
        ...(dest ? { destination: dest } : {}),
      });
      continue;
    }
    // `curl -fsSL https://h/x.sh | sh`: downloaded code executed.
    const dlAt = programs.findIndex((p) => DOWNLOADERS.has(p));
    if (dlAt >= 0 && shellAt > dlAt) {
      const argv = unwrap((pipe[dlAt] as SimpleCommand).argv);
      const url = argv
        .slice(1)
        .map((w) => parseLooseUrl(w))
        .find((u) => u !== undefined);
      const dest = url ? destinationOf(ctx, url.host, url.port) : undefined;
      push(ctx, {
        category: 'tool_transfer',
        severity: EGRESS.tool_transfer[dest ? reachOf(dest.class) : 'none'],
        explanation: `${programs[dlAt]} output from ${where(dest)} is executed by ${programs[shellAt]}`,
        command: describe(pipe.flatMap((c, i) => (i === 0 ? c.argv : ['|', ...c.argv]))),
        ...(dest ? { destination: dest } : {}),
      });
    }
  }
  // Data staged and then sent: an archive or a sensitive read feeding (by pipe or file) an upload.
  const matches = ctx.matches;
  const sources = matches.slice(firstMatch).filter((m) => m.category === 'archive' || m.category === 'sensitive_read');
  if (sources.length === 0) return;
  for (let i = firstMatch; i < matches.length; i++) {
    const m = matches[i] as PayloadMatch;
    if (m.category !== 'upload' && m.category !== 'network_tool' && m.category !== 'cloud_copy') continue;
    const egressCmd = commands.find((c) => describe(unwrap(c.argv)) === m.command);
    const fed = sources.some((s) => {
      const srcCmd = commands.find((c) => describe(unwrap(c.argv)) === s.command);
      if (srcCmd && egressCmd && srcCmd.pipeline === egressCmd.pipeline && commands.indexOf(srcCmd) < commands.indexOf(egressCmd)) return true;
      return (m.paths ?? []).some((p) => s.command.includes(p));
    });
    if (fed) {
      matches[i] = { ...m, severity: bump(m.severity, 1), explanation: `${m.explanation}, after packing or reading the data it sends` };
    }
  }
}
