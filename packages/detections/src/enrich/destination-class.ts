import { lookup as dnsLookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import type { Logger, NetworkFlowEvent, OutflowEvent, Processor } from '@outflow/core';
import { GlobSet } from '../util/glob.js';
import { isIpAddress, PRIVATE_CIDRS, parseAddress, parseCidr, parseIPv4 } from '../util/ip.js';
import { isObject, str } from '../util/json.js';
import { PrefixMap } from '../util/prefix-map.js';

/**
 * Where a destination lies, from most to least trusted. The processor writes
 * it to `attributes['destination.class']` (and `source.class` for the other end).
 */
export type DestinationClass =
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

export const DESTINATION_CLASSES: readonly DestinationClass[] = [
  'self',
  'loopback',
  'metadata',
  'link_local',
  'pod',
  'service',
  'allowed',
  'own',
  'private',
  'reserved',
  'cloud',
  'external',
  'unknown',
];

/** A classification. Instances are shared: never mutate one. */
export interface Destination {
  readonly class: DestinationClass;
  /** Cloud provider and service for `cloud` (`aws`, `S3`), when known. */
  readonly provider?: string;
  readonly service?: string;
  readonly region?: string;
}

/** One cloud provider prefix, as in AWS `ip-ranges.json`. */
export interface CloudPrefix {
  prefix: string;
  service: string;
  region?: string;
  provider?: string;
}

export interface DestinationClassifierOptions {
  podCidrs?: readonly string[];
  serviceCidrs?: readonly string[];
  /** The organisation's own address ranges (VPC CIDRs, elastic IPs). */
  ownCidrs?: readonly string[];
  /** Allow-listed destinations: CIDRs or addresses, and host names or globs (`*.example.com`) matched against flow `names`. */
  allow?: readonly string[];
  /** Cloud provider prefixes (AWS ip-ranges.json entries). */
  cloudPrefixes?: readonly CloudPrefix[];
  /** The pipeline's own exporter endpoints: URLs, `host:port`, or addresses. Host names are matched against flow names and resolved by `resolveSelf()`. */
  selfEndpoints?: readonly string[];
}

const PRIORITY: Record<Exclude<DestinationClass, 'external' | 'unknown'>, number> = {
  self: 0,
  loopback: 1,
  metadata: 2,
  link_local: 3,
  pod: 4,
  service: 5,
  allowed: 6,
  own: 7,
  private: 8,
  reserved: 9,
  cloud: 10,
};

const EXTERNAL: Destination = Object.freeze({ class: 'external' as const });
const UNKNOWN: Destination = Object.freeze({ class: 'unknown' as const });
const SELF: Destination = Object.freeze({ class: 'self' as const });
const ALLOWED: Destination = Object.freeze({ class: 'allowed' as const });

const BUILTIN: readonly [DestinationClass, readonly string[]][] = [
  ['loopback', ['127.0.0.0/8', '::1/128']],
  // EC2/EKS instance metadata (IPv4 and the Nitro IPv6 endpoint), ECS task metadata and credentials.
  ['metadata', ['169.254.169.254/32', 'fd00:ec2::254/128', '169.254.170.2/32']],
  ['link_local', ['169.254.0.0/16', 'fe80::/10']],
  ['private', PRIVATE_CIDRS],
  ['reserved', ['0.0.0.0/8', '224.0.0.0/4', '240.0.0.0/4', 'ff00::/8', '::/128']],
];

interface SelfEndpoint {
  host: string;
  port: number | undefined;
}

/** Parse an endpoint given as a URL (`http://collector:4318/v1/logs`), `host:port`, `[v6]:port` or a bare host/address. */
export function parseEndpoint(value: string): SelfEndpoint | undefined {
  const s = value.trim();
  if (s.length === 0) return undefined;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) {
    try {
      const url = new URL(s);
      let host = url.hostname;
      if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
      const defaultPort = url.protocol === 'https:' ? 443 : url.protocol === 'http:' ? 80 : undefined;
      return { host, port: url.port ? Number(url.port) : defaultPort };
    } catch {
      return undefined;
    }
  }
  if (isIpAddress(s)) return { host: s, port: undefined };
  const v6 = /^\[([^\]]+)\]:(\d{1,5})$/.exec(s);
  if (v6) return { host: v6[1] as string, port: Number(v6[2]) };
  const hp = /^([^:/\s]+):(\d{1,5})$/.exec(s);
  if (hp) return { host: hp[1] as string, port: Number(hp[2]) };
  if (/^[a-z0-9.-]+$/i.test(s)) return { host: s, port: undefined };
  return undefined;
}

/** Canonical text of an address (so that `::ffff:10.0.0.1`, `10.0.0.1` and padded IPv6 forms compare equal). */
function canonical(address: string): string {
  const a = parseAddress(address);
  if (!a) return address.toLowerCase();
  if (a.family === 4) return `${a.value}`;
  return Array.from(a.words, (w) => w.toString(16)).join(':');
}

/**
 * Classifies destination addresses: one flattened prefix map (built once)
 * answers every class in a single binary search, so classification costs a
 * parse and O(log n) per address on the hot path.
 */
export class DestinationClassifier {
  private readonly map = new PrefixMap<Destination>();
  private readonly allowNames: GlobSet;
  private readonly selfByAddress = new Map<string, Set<number> | 'any'>();
  private readonly selfNames = new Map<string, Set<number> | 'any'>();
  private readonly selfHosts: SelfEndpoint[] = [];
  /** Configured self endpoints that did not parse (reported by config validation). */
  readonly invalidSelf: string[] = [];

  constructor(options: DestinationClassifierOptions = {}) {
    for (const [cls, cidrs] of BUILTIN) this.addAll(cidrs, { class: cls }, PRIORITY[cls as keyof typeof PRIORITY]);
    this.addAll(options.podCidrs ?? [], { class: 'pod' }, PRIORITY.pod);
    this.addAll(options.serviceCidrs ?? [], { class: 'service' }, PRIORITY.service);
    this.addAll(options.ownCidrs ?? [], { class: 'own' }, PRIORITY.own);
    const names: string[] = [];
    for (const entry of options.allow ?? []) {
      if (parseCidr(entry)) this.map.add(entry, ALLOWED, PRIORITY.allowed);
      else names.push(entry);
    }
    this.allowNames = new GlobSet(names, true);
    this.addCloudPrefixes(options.cloudPrefixes ?? []);
    for (const raw of options.selfEndpoints ?? []) {
      const ep = parseEndpoint(raw);
      if (!ep) {
        this.invalidSelf.push(raw);
        continue;
      }
      if (isIpAddress(ep.host)) addPort(this.selfByAddress, canonical(ep.host), ep.port);
      else {
        addPort(this.selfNames, ep.host.toLowerCase(), ep.port);
        this.selfHosts.push(ep);
      }
    }
  }

  private addAll(cidrs: readonly string[], label: Destination, priority: number): void {
    const frozen = Object.freeze(label);
    for (const c of cidrs) this.map.add(c, frozen, priority);
  }

  /** Add cloud provider prefixes (the prefix map is rebuilt on the next lookup). Specific services win over the catch-all `AMAZON` entries. */
  addCloudPrefixes(prefixes: readonly CloudPrefix[]): void {
    const labels = new Map<string, Destination>();
    for (const p of prefixes) {
      const provider = p.provider ?? 'aws';
      const key = `${provider}\u0000${p.service}\u0000${p.region ?? ''}`;
      let label = labels.get(key);
      if (!label) {
        label = Object.freeze({ class: 'cloud' as const, provider, service: p.service, ...(p.region ? { region: p.region } : {}) });
        labels.set(key, label);
      }
      this.map.add(p.prefix, label, PRIORITY.cloud + (p.service === 'AMAZON' ? 0.5 : 0));
    }
  }

  /** Flatten the prefixes now rather than on the first lookup. */
  prepare(): void {
    this.map.build();
  }

  /**
   * Resolve self endpoints given as host names (once, at start), so that flows
   * to their addresses classify as `self` even when the flow carries no name.
   */
  async resolveSelf(logger?: Logger, timeoutMs = 2_000): Promise<void> {
    await Promise.all(
      this.selfHosts.map(async (ep) => {
        try {
          const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs).unref());
          const addrs = await Promise.race([dnsLookup(ep.host, { all: true }), timeout]);
          for (const a of addrs) addPort(this.selfByAddress, canonical(a.address), ep.port);
        } catch (err) {
          logger?.warn('could not resolve a self endpoint; flows to it are recognised by name only', {
            endpoint: ep.host,
            error: err instanceof Error ? err.message : String(err),
          });
        }
      }),
    );
  }

  private isSelf(address: string, port: number | undefined, names: readonly string[] | undefined): boolean {
    if (this.selfByAddress.size > 0) {
      const ports = this.selfByAddress.get(canonical(address));
      if (ports && (ports === 'any' || (port !== undefined && ports.has(port)))) return true;
    }
    if (names && this.selfNames.size > 0) {
      for (const n of names) {
        const ports = this.selfNames.get(n.toLowerCase());
        if (ports && (ports === 'any' || (port !== undefined && ports.has(port)))) return true;
      }
    }
    return false;
  }

  /** Classify one destination. The result is shared; do not mutate it. */
  classify(address: string, port?: number, names?: readonly string[]): Destination {
    if ((this.selfByAddress.size > 0 || this.selfNames.size > 0) && this.isSelf(address, port, names)) return SELF;
    // Dotted IPv4 parsed once, for the lookup and for telling an external address from an unparseable one.
    const v4 = parseIPv4(address);
    const hit = v4 >= 0 ? this.map.lookupV4(v4) : this.map.lookup(address);
    if (hit && PRIORITY[hit.class as keyof typeof PRIORITY] <= PRIORITY.allowed) return hit;
    if (names && names.length > 0 && !this.allowNames.empty) {
      for (const n of names) if (this.allowNames.test(n)) return ALLOWED;
    }
    if (hit) return hit;
    return v4 >= 0 || parseAddress(address) ? EXTERNAL : UNKNOWN;
  }
}

function addPort(map: Map<string, Set<number> | 'any'>, key: string, port: number | undefined): void {
  const existing = map.get(key);
  if (port === undefined || existing === 'any') {
    map.set(key, 'any');
    return;
  }
  if (existing) existing.add(port);
  else map.set(key, new Set([port]));
}

/**
 * Read AWS `ip-ranges.json` (as published at https://ip-ranges.amazonaws.com/ip-ranges.json):
 * `prefixes[]` with `ip_prefix`, `ipv6_prefixes[]` with `ipv6_prefix`, each with `region` and `service`.
 * Entries that do not parse are counted in `invalid`.
 */
export function parseAwsIpRanges(doc: unknown): { prefixes: CloudPrefix[]; invalid: number } {
  const prefixes: CloudPrefix[] = [];
  let invalid = 0;
  if (!isObject(doc)) return { prefixes, invalid: 1 };
  for (const [list, field] of [
    ['prefixes', 'ip_prefix'],
    ['ipv6_prefixes', 'ipv6_prefix'],
  ] as const) {
    const entries = doc[list];
    if (!Array.isArray(entries)) continue;
    for (const e of entries) {
      const prefix = isObject(e) ? str(e[field]) : undefined;
      const service = isObject(e) ? (str(e.service) ?? 'AMAZON') : 'AMAZON';
      if (!prefix || !parseCidr(prefix)) {
        invalid++;
        continue;
      }
      const region = isObject(e) ? str(e.region) : undefined;
      prefixes.push({ prefix, service, provider: 'aws', ...(region ? { region } : {}) });
    }
  }
  return { prefixes, invalid };
}

/** Load an AWS ip-ranges.json file. Throws when the file cannot be read or is not JSON (a configuration error at start). */
export async function loadAwsIpRanges(path: string): Promise<{ prefixes: CloudPrefix[]; invalid: number }> {
  const text = await readFile(path, 'utf8');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!isObject(doc) || (!Array.isArray(doc.prefixes) && !Array.isArray(doc.ipv6_prefixes)))
    throw new Error(`${path}: not an AWS ip-ranges.json document (no prefixes or ipv6_prefixes)`);
  return parseAwsIpRanges(doc);
}

/**
 * Processor: classifies both ends of every network flow and writes
 * `destination.class` and `source.class` (plus `destination.cloud.provider`,
 * `destination.cloud.service` and `destination.cloud.region` for cloud ranges).
 * Flows to the pipeline's own exporters get class `self`: analytics must never
 * score them.
 */
export class DestinationClassProcessor implements Processor {
  /** Stateless (ranges, allow-list and self endpoints are configuration, read again at start): nothing to checkpoint. */
  readonly name = 'destination_class';

  constructor(
    readonly classifier: DestinationClassifier,
    private readonly setup?: () => Promise<void>,
  ) {}

  async start(): Promise<void> {
    await this.setup?.();
    this.classifier.prepare();
  }

  process(event: OutflowEvent): OutflowEvent {
    if (event.kind !== 'network_flow') return event;
    classifyFlow(this.classifier, event);
    return event;
  }
}

/** Classify both ends of one flow in place. */
export function classifyFlow(classifier: DestinationClassifier, event: NetworkFlowEvent): void {
  const d = classifier.classify(event.dst.address, event.dst.port, event.dst.names);
  const s = classifier.classify(event.src.address, event.src.port, event.src.names);
  const attrs = (event.attributes ??= {});
  attrs['destination.class'] = d.class;
  attrs['source.class'] = s.class;
  if (d.class === 'cloud') {
    if (d.provider) attrs['destination.cloud.provider'] = d.provider;
    if (d.service) attrs['destination.cloud.service'] = d.service;
    if (d.region) attrs['destination.cloud.region'] = d.region;
  }
}

/** True for flows the analytics must not score: traffic to or from the pipeline's own exporters. */
export function isSelfTraffic(event: OutflowEvent): boolean {
  if (event.kind !== 'network_flow') return false;
  const a = event.attributes;
  return a?.['destination.class'] === 'self' || a?.['source.class'] === 'self';
}
