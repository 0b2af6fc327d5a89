import { addressScope, isIp } from '@outflow/core';

/**
 * Reading destinations, buckets and sensitive paths out of command-line
 * arguments, and the default (configuration-free) destination classes.
 */

/** Where a destination named in a command lies, in the classes of the destination classifier. */
export type TargetClass =
  | 'self'
  | 'loopback'
  | 'metadata'
  | 'link_local'
  | 'pod'
  | 'service'
  | 'allowed'
  | 'own'
  | 'private'
  | 'reserved'
  | 'cloud'
  | 'external'
  | 'unknown';

/** How far a destination class is from home, for severities. */
export type Reach = 'external' | 'cloud' | 'internal' | 'local' | 'metadata';

export function reachOf(cls: string): Reach {
  switch (cls) {
    case 'external':
    case 'unknown':
      return 'external';
    case 'cloud':
      return 'cloud';
    case 'metadata':
      return 'metadata';
    case 'pod':
    case 'service':
    case 'own':
    case 'private':
    case 'reserved':
      return 'internal';
    default:
      return 'local';
  }
}

/** Host names of instance metadata services (AWS IMDS v4/v6, ECS task credentials, GCP, Azure, Alibaba, OpenStack). */
export const METADATA_HOSTS: ReadonlySet<string> = new Set([
  '169.254.169.254',
  'fd00:ec2::254',
  '169.254.170.2',
  'metadata.google.internal',
  'metadata',
  'metadata.azure.com',
  '100.100.100.200',
  'instance-data',
  'instance-data.ec2.internal',
]);

/** Classes of host names that are not addresses: cluster-local, metadata, cloud endpoints, or external. */
export function hostNameClass(host: string): TargetClass {
  const h = host.toLowerCase().replace(/\.$/, '');
  if (METADATA_HOSTS.has(h)) return 'metadata';
  if (h === 'localhost' || h.endsWith('.localhost')) return 'loopback';
  if (!h.includes('.')) return 'service';
  if (h.endsWith('.svc') || h.includes('.svc.') || h.endsWith('.cluster.local') || h.endsWith('.local') || h.endsWith('.internal')) return 'service';
  if (h.endsWith('.amazonaws.com') || h.endsWith('.googleapis.com') || h.endsWith('.core.windows.net') || h.endsWith('.azure.com')) return 'cloud';
  return 'external';
}

/** Default class of a host (address or name) without any configuration. */
export function defaultTargetClass(host: string): TargetClass {
  const h = unbracket(host).toLowerCase();
  if (METADATA_HOSTS.has(h)) return 'metadata';
  if (!isIp(h)) return hostNameClass(h);
  switch (addressScope(h)) {
    case 'loopback':
      return 'loopback';
    case 'link_local':
      return 'link_local';
    case 'private':
    case 'shared':
      return 'private';
    case 'multicast':
    case 'unspecified':
    case 'invalid':
      return 'reserved';
    default:
      return 'external';
  }
}

export function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

export interface UrlParts {
  scheme: string;
  host: string;
  port?: number;
  path: string;
}

const URL_RE = /^([a-z][a-z0-9+.-]*):\/\/(?:[^@/?#]*@)?(\[[^\]]+\]|[^/:?#]+)(?::(\d{1,5}))?([^?#]*)/i;
const DEFAULT_PORTS: Record<string, number> = {
  http: 80,
  https: 443,
  ftp: 21,
  ftps: 990,
  sftp: 22,
  scp: 22,
  ssh: 22,
  rsync: 873,
  ws: 80,
  wss: 443,
  tftp: 69,
  smtp: 25,
  telnet: 23,
};

/** Scheme, host, port and path of a URL (`https://h:8443/x`); undefined when it is not one. */
export function parseUrl(value: string): UrlParts | undefined {
  const m = URL_RE.exec(value);
  if (!m) return undefined;
  const scheme = (m[1] as string).toLowerCase();
  const port = m[3] !== undefined ? Number(m[3]) : DEFAULT_PORTS[scheme];
  const parts: UrlParts = { scheme, host: unbracket(m[2] as string), path: m[4] ?? '' };
  if (port !== undefined) parts.port = port;
  return parts;
}

/** A URL, or a bare `host[:port][/path]` as curl and wget accept it. */
export function parseLooseUrl(value: string): UrlParts | undefined {
  const url = parseUrl(value);
  if (url) return url;
  const m = /^(\[[^\]]+\]|[A-Za-z0-9.-]+\.[A-Za-z0-9-]+|\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?(\/[^?#]*)?$/.exec(value);
  if (!m) return undefined;
  const parts: UrlParts = { scheme: 'http', host: unbracket(m[1] as string), path: m[3] ?? '' };
  parts.port = m[2] !== undefined ? Number(m[2]) : 80;
  return parts;
}

/** `[user@]host:path` remote specs of scp/rsync; `host::module` and `rsync://` of rsync. */
export function parseRemoteSpec(value: string): { host: string; port?: number } | undefined {
  if (value.startsWith('/') || value.startsWith('./') || value.startsWith('../') || value.startsWith('~')) return undefined;
  const url = parseUrl(value);
  if (url) return url.port !== undefined ? { host: url.host, port: url.port } : { host: url.host };
  const m = /^(?:[^@/:\s]+@)?(\[[^\]]+\]|[A-Za-z0-9._-]+):/.exec(value);
  if (!m) return undefined;
  return { host: unbracket(m[1] as string) };
}

/** A bucket or container a cloud copy writes to. */
export interface BucketRef {
  provider: 'aws' | 'gcp' | 'azure' | 'rclone';
  /** Bucket name (S3, GCS), `account/container` (Azure), `remote:path` (rclone). */
  name: string;
  url: string;
}

/** The bucket of `s3://b/k`, `gs://b/k`, an S3 HTTPS URL (virtual-hosted or path style) or an Azure blob URL. */
export function bucketOf(value: string): BucketRef | undefined {
  const v = value.trim();
  let m = /^s3a?:\/\/([^/]+)/i.exec(v);
  if (m) return { provider: 'aws', name: m[1] as string, url: v };
  m = /^gs:\/\/([^/]+)/i.exec(v);
  if (m) return { provider: 'gcp', name: m[1] as string, url: v };
  const url = parseUrl(v);
  if (!url || (url.scheme !== 'https' && url.scheme !== 'http')) return undefined;
  const host = url.host.toLowerCase();
  m = /^([a-z0-9][a-z0-9.-]*?)\.s3(?:[.-](?:dualstack\.)?[a-z0-9-]+)?\.amazonaws\.com$/.exec(host);
  if (m) return { provider: 'aws', name: m[1] as string, url: v };
  if (/^s3(?:[.-](?:dualstack\.)?[a-z0-9-]+)?\.amazonaws\.com$/.test(host)) {
    const seg = url.path.split('/')[1];
    if (seg) return { provider: 'aws', name: seg, url: v };
  }
  m = /^([a-z0-9]+)\.(?:blob|dfs)\.core\.windows\.net$/.exec(host);
  if (m) {
    const container = url.path.split('/')[1];
    return { provider: 'azure', name: container ? `${m[1]}/${container}` : (m[1] as string), url: v };
  }
  if (host === 'storage.googleapis.com') {
    const seg = url.path.split('/')[1];
    if (seg) return { provider: 'gcp', name: seg, url: v };
  }
  return undefined;
}

/** What a sensitive path holds. */
export type SensitiveKind =
  | 'kubernetes_secret'
  | 'cloud_credentials'
  | 'kubeconfig'
  | 'password_database'
  | 'ssh_private_key'
  | 'private_key'
  | 'application_secret'
  | 'process_environment';

interface SensitiveRule {
  re: RegExp;
  kind: SensitiveKind;
  /** Credentials that give access elsewhere (tokens, cloud keys, kubeconfigs, private keys). */
  credential: boolean;
  label: string;
}

const SENSITIVE_RULES: readonly SensitiveRule[] = [
  { re: /^\/(?:var\/)?run\/secrets(?:\/|$)/, kind: 'kubernetes_secret', credential: true, label: 'a mounted Kubernetes secret or service-account token' },
  { re: /(?:^|\/)\.aws(?:\/(?:credentials|config|sso\/cache.*|cli\/cache.*))?\/?$/, kind: 'cloud_credentials', credential: true, label: 'AWS credentials' },
  {
    re: /(?:^|\/)\.config\/gcloud(?:\/|$)|application_default_credentials\.json$/,
    kind: 'cloud_credentials',
    credential: true,
    label: 'Google Cloud credentials',
  },
  { re: /(?:^|\/)\.azure(?:\/|$)/, kind: 'cloud_credentials', credential: true, label: 'Azure credentials' },
  {
    re: /(?:^|\/)\.kube(?:\/config)?\/?$|^\/etc\/kubernetes\/(?:admin|super-admin|kubelet|controller-manager|scheduler)\.conf$|^\/etc\/kubernetes\/pki(?:\/|$)|^\/var\/lib\/kubelet\/pki(?:\/|$)/,
    kind: 'kubeconfig',
    credential: true,
    label: 'a kubeconfig or cluster PKI',
  },
  { re: /^\/etc\/(?:g?shadow|master\.passwd)-?$/, kind: 'password_database', credential: true, label: 'the password database' },
  {
    re: /(?:^|\/)\.ssh\/(?:id_[a-z0-9_]+|identity)$|^\/etc\/ssh\/ssh_host_[a-z0-9]+_key$|(?:^|\/)\.ssh\/?$/,
    kind: 'ssh_private_key',
    credential: true,
    label: 'SSH private keys',
  },
  { re: /\.(?:pem|key|p12|pfx|jks|keystore|kdbx|ppk)$/i, kind: 'private_key', credential: true, label: 'a private key or keystore' },
  {
    re: /(?:^|\/)(?:\.netrc|\.pgpass|\.git-credentials|\.my\.cnf|\.env|\.vault-token|\.npmrc|\.pypirc)$|(?:^|\/)\.docker\/config\.json$/,
    kind: 'application_secret',
    credential: true,
    label: 'stored application credentials',
  },
  { re: /^\/proc\/(?:\d+|self|\*)\/environ$/, kind: 'process_environment', credential: false, label: "a process's environment variables" },
];

/** Certificates and CA bundles are public: `.pem` under these is not a key. */
const PUBLIC_CERTS =
  /(?:^|\/)(?:certs?|ca-certificates|ca-trust|pki\/tls\/certs)\/|(?:^|[/._-])ca(?:cert|-bundle|-certificates)?\.(?:pem|crt)$|\.crt$|\.pub$|(?:^|\/)known_hosts$|(?:^|\/)authorized_keys$/i;

export interface SensitivePath {
  path: string;
  kind: SensitiveKind;
  credential: boolean;
  label: string;
}

/** Cheap pre-check: could this word name a sensitive path, a metadata endpoint or a `/dev/tcp` socket? */
export const QUICK_SENSITIVE =
  /secrets|\.aws|gcloud|\.azure|\.kube|kubernetes|kubelet|shadow|master\.passwd|\.ssh|ssh_host|\.pem|\.key|\.p12|\.pfx|\.jks|keystore|\.kdbx|\.ppk|netrc|pgpass|credentials|\.my\.cnf|\.env|vault-token|\.npmrc|\.pypirc|\.docker|environ|169\.254\.|fd00:ec2|metadata|100\.100\.100\.200|instance-data|\/dev\/(?:tcp|udp)\//i;

/** The sensitive path a word names (`/etc/shadow`, `--file=/root/.aws/credentials`, `@/var/run/secrets/...`), if any. */
export function sensitivePathOf(word: string): SensitivePath | undefined {
  if (word.length < 4 || !QUICK_SENSITIVE.test(word)) return undefined;
  // A remote URL names somebody else's file, not one of ours.
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(word) && !word.startsWith('file://')) return undefined;
  let path = word;
  const eq = path.indexOf('=');
  if (eq >= 0 && path.startsWith('-')) path = path.slice(eq + 1);
  else if (eq > 0 && /^[A-Za-z_][\w.-]*=/.test(path)) path = path.slice(eq + 1);
  if (path.startsWith('@') || path.startsWith('<')) path = path.slice(1);
  if (path.startsWith('file://')) path = path.slice('file://'.length);
  // Expand the home directory forms without knowing the home.
  if (path.startsWith('~/')) path = `/root/${path.slice(2)}`;
  else if (path.startsWith('$HOME/')) path = `/root/${path.slice(6)}`;
  if (PUBLIC_CERTS.test(path)) return undefined;
  for (const rule of SENSITIVE_RULES) {
    if (rule.re.test(path)) return { path, kind: rule.kind, credential: rule.credential, label: rule.label };
  }
  return undefined;
}

/** Paths that hold application data (databases, uploads, volumes), as opposed to the image's own files. */
const DATA_DIRS =
  /^\/(?:var\/lib|data|app|srv|home|root|opt|var\/www|backups?|mnt|var\/opt|var\/backups|var\/spool|var\/log|export|volumes?|persistent)(?:\/|$)/;

/** True when `path` lies under a typical application-data directory (or is relative: the working directory's data). */
export function isDataPath(path: string): boolean {
  if (!path.startsWith('/')) return !path.startsWith('-') && path.length > 0 && path !== '.';
  return DATA_DIRS.test(path);
}

/** Paths an archiver reads that are not application data. */
export function isSystemPath(path: string): boolean {
  return /^\/(?:proc|sys|dev|usr|bin|sbin|lib|lib64|etc\/(?:ssl|alternatives)|run\/containerd)(?:\/|$)/.test(path);
}
