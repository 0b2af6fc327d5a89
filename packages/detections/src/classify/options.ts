/**
 * Getopt-style reading of a command's arguments: short clusters (`-sSfT f`,
 * `-Tf`), long options with `=` or a separate value, `--` ending options.
 * Which options take a value is declared per program; unknown options are
 * flags.
 */

export interface OptionSpec {
  /** Short option letters that take a value (`'TdFo'` for curl). */
  short: string;
  /** Long option names (without `--`) that take a value when not written `--name=value`. */
  long: ReadonlySet<string>;
  /** Single-dash long options (`-connect` of `openssl s_client`), names without the dash, taking a value. */
  singleDashLong?: ReadonlySet<string>;
}

export interface ParsedOptions {
  /** Values by option, keyed `-T` or `--upload-file`, in order. */
  values: Map<string, string[]>;
  /** Flags seen, keyed like values (`-s`, `--insecure`). */
  flags: Set<string>;
  positionals: string[];
}

export function parseOptions(args: readonly string[], spec: OptionSpec): ParsedOptions {
  const values = new Map<string, string[]>();
  const flags = new Set<string>();
  const positionals: string[] = [];
  const put = (key: string, value: string) => {
    const list = values.get(key);
    if (list) list.push(value);
    else values.set(key, [value]);
  };
  let i = 0;
  while (i < args.length) {
    const a = args[i] as string;
    if (a === '--') {
      for (let j = i + 1; j < args.length; j++) positionals.push(args[j] as string);
      break;
    }
    if (a.startsWith('--') && a.length > 2) {
      const eq = a.indexOf('=');
      if (eq > 0) put(a.slice(0, eq), a.slice(eq + 1));
      else if (spec.long.has(a.slice(2)) && i + 1 < args.length) {
        put(a, args[i + 1] as string);
        i++;
      } else flags.add(a);
      i++;
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      if (spec.singleDashLong?.has(a.slice(1))) {
        if (i + 1 < args.length) put(a, args[i + 1] as string);
        i += 2;
        continue;
      }
      let consumedNext = false;
      for (let k = 1; k < a.length; k++) {
        const letter = a[k] as string;
        if (spec.short.includes(letter)) {
          const rest = a.slice(k + 1);
          if (rest.length > 0) put(`-${letter}`, rest);
          else if (i + 1 < args.length) {
            put(`-${letter}`, args[i + 1] as string);
            consumedNext = true;
          } else put(`-${letter}`, '');
          break;
        }
        flags.add(`-${letter}`);
      }
      i += consumedNext ? 2 : 1;
      continue;
    }
    positionals.push(a);
    i++;
  }
  return { values, flags, positionals };
}

/** Every value of any of the given option keys, in the order they were given per key. */
export function optionValues(parsed: ParsedOptions, ...keys: string[]): string[] {
  const out: string[] = [];
  for (const k of keys) {
    const v = parsed.values.get(k);
    if (v) out.push(...v);
  }
  return out;
}

export function hasFlag(parsed: ParsedOptions, ...keys: string[]): boolean {
  for (const k of keys) if (parsed.flags.has(k) || parsed.values.has(k)) return true;
  return false;
}

const set = (names: string) => new Set(names.split(/\s+/).filter(Boolean));

/** curl (8.x): options taking a value. */
export const CURL: OptionSpec = {
  short: 'AbcCdDeEFHKmoPQrTuUwxXyYzt',
  long: set(`data data-ascii data-binary data-raw data-urlencode form form-string header output upload-file user request url proxy
    cacert capath cert cert-type key key-type pass connect-timeout max-time retry retry-delay retry-max-time resolve connect-to
    referer user-agent cookie cookie-jar config json write-out interface limit-rate range max-filesize oauth2-bearer proxy-user
    ciphers dns-servers expect100-timeout local-port netrc-file noproxy pinnedpubkey socks4 socks4a socks5 socks5-hostname
    unix-socket abstract-unix-socket aws-sigv4 variable create-file-mode keepalive-time speed-limit speed-time tls-max trace
    trace-ascii stderr hostpubmd5 hostpubsha256 proto proto-redir mail-from mail-rcpt login-options sasl-authzid service-name
    telnet-option tlsuser tlspassword delegation ftp-port ftp-account quote output-dir time-cond preproxy proxy-header
    url-query dump-header etag-save etag-compare happy-eyeballs-timeout-ms max-redirs`),
};

/** wget (1.21): options taking a value. */
export const WGET: OptionSpec = {
  short: 'OoaiPUeTtwQBlDXIARY',
  long: set(`post-file body-file post-data body-data method output-document output-file append-output input-file directory-prefix
    user-agent execute tries timeout wait quota base level domains exclude-directories include-directories accept reject
    header user password http-user http-password proxy-user proxy-password load-cookies save-cookies referer ca-certificate
    certificate private-key bind-address limit-rate`),
};

/** OpenBSD / traditional netcat and ncat: options taking a value. */
export const NETCAT: OptionSpec = {
  short: 'ecgGiIOpqsTVwxXPMmo',
  long: set('exec sh-exec lua-exec source proxy proxy-type proxy-auth wait idle-timeout output hex-dump send-only recv-only allow deny max-conns'),
};

/** OpenSSH client (ssh, scp, sftp): options taking a value. */
export const SSH: OptionSpec = { short: 'bcDEeFIiJLlmOoPpQRSWwB', long: new Set() };
export const SCP: OptionSpec = { short: 'cFiJloPS', long: new Set() };

/** rsync: options taking a value. */
export const RSYNC: OptionSpec = {
  short: 'eBfT',
  long: set(
    'rsh rsync-path exclude include exclude-from include-from files-from filter password-file port bwlimit timeout contimeout temp-dir partial-dir log-file chmod chown block-size max-size min-size out-format',
  ),
};

/** tar (GNU, bsdtar): options taking a value in the dash forms. */
export const TAR: OptionSpec = {
  short: 'fCTXbgKLNV',
  long: set(
    'file directory files-from exclude-from exclude newer after-date blocking-factor listed-incremental transform use-compress-program to-command label',
  ),
};

/** zip: options taking a value. */
export const ZIP: OptionSpec = { short: 'bnPtx', long: set('password exclude include') };

/** aws CLI global options taking a value (and the common s3 ones). */
export const AWS: OptionSpec = {
  short: '',
  long: set(`profile region endpoint-url output query ca-bundle cli-read-timeout cli-connect-timeout color
    include exclude acl storage-class sse sse-kms-key-id grants content-type cache-control expires metadata
    bucket key body copy-source source-region`),
};

/** gsutil / gcloud storage: options taking a value. */
export const GSUTIL: OptionSpec = { short: 'hopxzaIJ', long: set('project billing-project configuration') };

/** azcopy / rclone: options taking a value when written without `=`. */
export const AZCOPY: OptionSpec = { short: '', long: set('include-pattern exclude-pattern log-level cap-mbps block-size-mb from-to') };
export const RCLONE: OptionSpec = { short: '', long: set('config include exclude filter transfers checkers bwlimit log-file log-level') };

/** socat has no options that take a value except `-d` counts and `-T`; addresses are positional. */
export const SOCAT: OptionSpec = { short: 'Tt', long: new Set() };

/** openssl s_client: single-dash options with a value. */
export const OPENSSL: OptionSpec = { short: '', long: new Set(), singleDashLong: set('connect host port servername cert key CAfile CApath proxy') };
