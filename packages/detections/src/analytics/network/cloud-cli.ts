/**
 * Cloud storage uploads named on a command line: `aws s3 cp|sync|mv`,
 * `aws s3api put-object|upload-part|create-multipart-upload --bucket`,
 * `gsutil cp|rsync|mv`, `gcloud storage cp|rsync|mv`, `azcopy copy|sync`,
 * `rclone copy|sync|move|copyto|moveto`, `s5cmd cp|mv|sync`. Shell wrappers
 * (`sh -c '…'`, pipelines, `&&` lists) are unwrapped. Only the destination of
 * a transfer counts: a download from a bucket is not an upload to it.
 */

export interface StorageUpload {
  tool: 'aws' | 'gsutil' | 'gcloud' | 'azcopy' | 'rclone' | 's5cmd';
  /** `aws` (S3), `gcp` (GCS), `azure` (Blob), or `rclone:<remote>` when the remote's backend is not in the command. */
  provider: string;
  /** Bucket (S3, GCS), `account/container` (Azure), or the bucket part of an rclone remote path. */
  bucket: string;
  /** The destination as written. */
  destination: string;
}

const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ash', 'ksh', 'busybox']);
const OPERATORS = new Set([';', '&&', '||', '|', '&', '\n']);

/** Split a command line into words and control operators, honouring single and double quotes and backslashes. */
export function shellWords(line: string): string[] {
  const out: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  const push = () => {
    if (inWord) out.push(word);
    word = '';
    inWord = false;
  };
  for (let i = 0; i < line.length; i++) {
    const ch = line[i] as string;
    if (quote === "'") {
      if (ch === "'") quote = undefined;
      else word += ch;
      continue;
    }
    if (quote === '"') {
      if (ch === '"') quote = undefined;
      else if (ch === '\\' && i + 1 < line.length && '"\\$`'.includes(line[i + 1] as string)) word += line[++i];
      else word += ch;
      continue;
    }
    if (ch === "'" || ch === '"') {
      quote = ch;
      inWord = true;
      continue;
    }
    if (ch === '\\' && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
      continue;
    }
    if (ch === ' ' || ch === '\t' || ch === '\r') {
      push();
      continue;
    }
    if (ch === '\n' || ch === ';' || ch === '|' || ch === '&') {
      push();
      const two = line.slice(i, i + 2);
      if (two === '&&' || two === '||') {
        out.push(two);
        i++;
      } else out.push(ch);
      continue;
    }
    word += ch;
    inWord = true;
  }
  push();
  return out;
}

function basename(program: string): string {
  const slash = program.lastIndexOf('/');
  return slash >= 0 ? program.slice(slash + 1) : program;
}

/** Simple commands of a word list, split at control operators; `env`, `sudo`, `exec`, `nohup`, `time` prefixes and `VAR=x` assignments dropped. */
function simpleCommands(words: readonly string[]): string[][] {
  const out: string[][] = [];
  let current: string[] = [];
  for (const w of words) {
    if (OPERATORS.has(w)) {
      if (current.length > 0) out.push(current);
      current = [];
    } else current.push(w);
  }
  if (current.length > 0) out.push(current);
  return out.map((c) => {
    let i = 0;
    while (i < c.length) {
      const w = c[i] as string;
      if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(w) || ['env', 'sudo', 'exec', 'nohup', 'time', 'command'].includes(basename(w))) i++;
      else if (i > 0 && w.startsWith('-') && ['env', 'sudo'].includes(basename(c[i - 1] as string))) i++;
      else break;
    }
    return c.slice(i);
  });
}

/** Options of `aws s3` transfer commands that take no value (every other `--option` takes one). */
const AWS_FLAGS = new Set([
  'recursive',
  'dryrun',
  'quiet',
  'delete',
  'no-progress',
  'only-show-errors',
  'follow-symlinks',
  'no-follow-symlinks',
  'exact-timestamps',
  'size-only',
  'no-guess-mime-type',
  'force-glacier-transfer',
  'ignore-glacier-warnings',
  'no-sign-request',
  'debug',
  'no-verify-ssl',
  'no-paginate',
  'no-cli-pager',
  'copy-props',
]);

/** Positional arguments of a command, skipping options (`--x value`, `--x=value`, `-x`, flags from `flags`). */
function positionals(args: readonly string[], takesValue: (name: string) => boolean): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--') {
      out.push(...args.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      if (!a.includes('=') && takesValue(a.slice(2))) i++;
      continue;
    }
    if (a.startsWith('-') && a.length > 1) continue;
    out.push(a);
  }
  return out;
}

function optionValue(args: readonly string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === `--${name}`) return args[i + 1];
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return undefined;
}

function hostOf(url: string, scheme: string): string | undefined {
  if (!url.toLowerCase().startsWith(scheme)) return undefined;
  const rest = url.slice(scheme.length);
  const bucket = rest.split('/')[0];
  return bucket ? bucket : undefined;
}

function s3Target(dst: string | undefined): string | undefined {
  return dst ? hostOf(dst, 's3://') : undefined;
}

function fromCommand(words: readonly string[]): StorageUpload[] {
  const prog = basename(words[0] ?? '');
  const args = words.slice(1);
  if (prog === 'aws') {
    const at = args.findIndex((a) => a === 's3' || a === 's3api');
    if (at < 0) return [];
    const service = args[at];
    const sub = args[at + 1];
    const rest = args.slice(at + 2);
    if (service === 's3' && (sub === 'cp' || sub === 'sync' || sub === 'mv')) {
      const pos = positionals(rest, (n) => !AWS_FLAGS.has(n));
      const dst = pos[1];
      const bucket = s3Target(dst);
      return bucket && dst ? [{ tool: 'aws', provider: 'aws', bucket, destination: dst }] : [];
    }
    if (service === 's3api' && (sub === 'put-object' || sub === 'upload-part' || sub === 'create-multipart-upload' || sub === 'complete-multipart-upload')) {
      const bucket = optionValue(rest, 'bucket');
      return bucket ? [{ tool: 'aws', provider: 'aws', bucket, destination: `s3://${bucket}/${optionValue(rest, 'key') ?? ''}` }] : [];
    }
    return [];
  }
  if (prog === 'gsutil' || prog === 'gcloud') {
    let rest = args;
    if (prog === 'gcloud') {
      if (rest[0] !== 'storage') return [];
      rest = rest.slice(1);
    } else {
      // gsutil top-level options (-m, -o key=value, -h header:value) come before the command.
      while (rest.length > 0 && (rest[0] as string).startsWith('-')) rest = rest.slice(['-o', '-h', '-u'].includes(rest[0] as string) ? 2 : 1);
    }
    const sub = rest[0];
    if (sub !== 'cp' && sub !== 'rsync' && sub !== 'mv') return [];
    const pos = positionals(rest.slice(1), () => false).filter((a) => a !== sub);
    const dst = pos[pos.length - 1];
    const bucket = dst && pos.length >= 2 ? hostOf(dst, 'gs://') : undefined;
    return bucket && dst ? [{ tool: prog, provider: 'gcp', bucket, destination: dst }] : [];
  }
  if (prog === 'azcopy') {
    const sub = args[0];
    if (sub !== 'copy' && sub !== 'cp' && sub !== 'sync') return [];
    const pos = positionals(args.slice(1), () => false);
    const dst = pos[1];
    if (!dst) return [];
    const m = /^https?:\/\/([^./]+)\.blob\.core\.windows\.net\/([^/?]+)/i.exec(dst);
    return m ? [{ tool: 'azcopy', provider: 'azure', bucket: `${m[1]}/${m[2]}`, destination: dst.split('?')[0] as string }] : [];
  }
  if (prog === 'rclone') {
    const sub = args[0];
    if (!['copy', 'sync', 'move', 'copyto', 'moveto'].includes(sub ?? '')) return [];
    const pos = positionals(
      args.slice(1),
      (n) => !['dry-run', 'progress', 'P', 'verbose', 'checksum', 'no-traverse', 'ignore-existing', 'update', 'immutable'].includes(n),
    );
    const dst = pos[1];
    if (!dst) return [];
    const m = /^(:?[A-Za-z0-9_.+-]+):([^/]+)/.exec(dst);
    if (!m) return [];
    const remote = m[1] as string;
    const provider =
      remote === ':s3' ? 'aws' : remote === ':gcs' || remote === ':google cloud storage' ? 'gcp' : remote === ':azureblob' ? 'azure' : `rclone:${remote}`;
    return [{ tool: 'rclone', provider, bucket: m[2] as string, destination: dst }];
  }
  if (prog === 's5cmd') {
    let rest = args;
    while (rest.length > 0 && (rest[0] as string).startsWith('-'))
      rest = rest.slice(
        (rest[0] as string).includes('=') || ['--numworkers', '--endpoint-url', '--profile', '--credentials-file', '--log'].includes(rest[0] as string) ? 2 : 1,
      );
    const sub = rest[0];
    if (sub !== 'cp' && sub !== 'mv' && sub !== 'sync') return [];
    const pos = positionals(rest.slice(1), () => false);
    const dst = pos[pos.length - 1];
    const bucket = pos.length >= 2 ? s3Target(dst) : undefined;
    return bucket && dst ? [{ tool: 's5cmd', provider: 'aws', bucket, destination: dst }] : [];
  }
  if (SHELLS.has(prog)) {
    const rest = prog === 'busybox' ? args.slice(1) : args;
    const c = rest.findIndex((a) => /^-[a-z]*c[a-z]*$/.test(a));
    const script = c >= 0 ? rest[c + 1] : undefined;
    return script ? storageUploadsInLine(script) : [];
  }
  return [];
}

/** Uploads named by a command given as argv (argv[0] included). */
export function storageUploads(argv: readonly string[]): StorageUpload[] {
  if (argv.length === 0) return [];
  // A single element holding a whole command line (some sensors send it so).
  if (argv.length === 1 && /\s/.test(argv[0] as string)) return storageUploadsInLine(argv[0] as string);
  return simpleCommands(argv).flatMap(fromCommand);
}

/** Uploads named by a command line or shell script. */
export function storageUploadsInLine(line: string): StorageUpload[] {
  return simpleCommands(shellWords(line)).flatMap(fromCommand);
}
