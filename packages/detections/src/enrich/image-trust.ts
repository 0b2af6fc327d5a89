import type { OutflowEvent, Processor, WorkloadIdentity } from '@outflow/core';
import { GlobSet } from '../util/glob.js';

/** An image reference split into its parts, with Docker Hub defaults applied. */
export interface ImageReference {
  /** Registry host, lower case: `docker.io`, `ghcr.io`, `123456789012.dkr.ecr.us-east-1.amazonaws.com`. */
  registry: string;
  /** Repository path: `library/nginx`, `myorg/api`. */
  repository: string;
  tag?: string;
  /** `sha256:<hex>` when the reference pins a digest. */
  digest?: string;
  /** `registry/repository`: what trusted-registry prefixes are matched against. */
  name: string;
}

const DIGEST_RE = /sha256:[0-9a-f]{64}/;

/** The `sha256:<64 hex>` inside a digest-bearing string (`repo@sha256:...`, `docker-pullable://...@sha256:...`), if any. */
export function digestOf(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const m = DIGEST_RE.exec(value);
  return m ? m[0] : undefined;
}

/**
 * Normalize an image reference the way the container runtimes resolve it:
 * `nginx` is `docker.io/library/nginx`, `myorg/api:1` is `docker.io/myorg/api`,
 * a first path component with a dot, a colon or `localhost` is a registry.
 */
export function parseImageReference(input: string): ImageReference | undefined {
  let s = input.trim();
  const scheme = s.indexOf('://');
  if (scheme >= 0) s = s.slice(scheme + 3);
  if (s.length === 0) return undefined;
  let digest: string | undefined;
  const at = s.indexOf('@');
  if (at >= 0) {
    digest = digestOf(s.slice(at + 1));
    s = s.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = s.lastIndexOf('/');
  const colon = s.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = s.slice(colon + 1);
    s = s.slice(0, colon);
  }
  if (s.length === 0) return undefined;
  const slash = s.indexOf('/');
  let registry = 'docker.io';
  let repository = s;
  if (slash >= 0) {
    const first = s.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost') {
      registry = first.toLowerCase();
      repository = s.slice(slash + 1);
    }
  }
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = 'docker.io';
  if (registry === 'docker.io' && !repository.includes('/')) repository = `library/${repository}`;
  if (repository.length === 0) return undefined;
  const ref: ImageReference = { registry, repository, name: `${registry}/${repository}` };
  if (tag) ref.tag = tag;
  if (digest) ref.digest = digest;
  return ref;
}

export interface ImageTrustOptions {
  /** Registry or repository prefixes (`ghcr.io/myorg`, `123456789012.dkr.ecr.eu-west-1.amazonaws.com`); globs allowed. */
  trustedRegistries?: readonly string[];
  /** Image digests (`sha256:...`) trusted wherever they are pulled from. */
  trustedDigests?: readonly string[];
  /** Most image strings whose verdict is cached. Default 10 000. */
  cacheSize?: number;
}

/**
 * Image trust: an image is trusted when its normalized name lies under a
 * trusted registry prefix (at a path boundary: `ghcr.io/myorg` trusts
 * `ghcr.io/myorg/api` but not `ghcr.io/myorgx/api`) or when its digest is a
 * trusted digest. With nothing configured, trust is unknown (`undefined`).
 */
export class ImageTrust {
  private readonly prefixes: string[] = [];
  private readonly globs: GlobSet;
  private readonly digests: ReadonlySet<string>;
  private readonly cache = new Map<string, boolean>();
  private readonly cacheSize: number;

  constructor(options: ImageTrustOptions = {}) {
    const globs: string[] = [];
    for (const raw of options.trustedRegistries ?? []) {
      const entry = raw.trim().replace(/\/+$/, '');
      if (entry.includes('*') || entry.includes('?')) {
        globs.push(entry);
        continue;
      }
      // A bare host (`ghcr.io`, `registry.local:5000`) is a whole registry; anything else is normalized like an image name.
      if (!entry.includes('/') && (entry.includes('.') || entry.includes(':') || entry === 'localhost')) this.prefixes.push(entry.toLowerCase());
      else {
        const ref = parseImageReference(entry);
        if (ref) this.prefixes.push(ref.name);
      }
    }
    this.globs = new GlobSet(globs);
    this.digests = new Set(options.trustedDigests ?? []);
    this.cacheSize = options.cacheSize ?? 10_000;
  }

  /** True when registries or digests were configured. */
  get configured(): boolean {
    return this.prefixes.length > 0 || !this.globs.empty || this.digests.size > 0;
  }

  /** Trusted (true), untrusted (false), or unknown (undefined: nothing configured, or no image). */
  isTrusted(image: string | undefined, imageDigest?: string): boolean | undefined {
    if (!this.configured || (!image && !imageDigest)) return undefined;
    const key = imageDigest ? `${image ?? ''}\u0000${imageDigest}` : (image as string);
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached;
    const verdict = this.evaluate(image, imageDigest);
    if (this.cache.size >= this.cacheSize) this.cache.clear();
    this.cache.set(key, verdict);
    return verdict;
  }

  private evaluate(image: string | undefined, imageDigest: string | undefined): boolean {
    const digest = digestOf(imageDigest) ?? digestOf(image);
    if (digest && this.digests.has(digest)) return true;
    if (!image) return false;
    const ref = parseImageReference(image);
    if (!ref) return false;
    for (const p of this.prefixes) {
      if (ref.name === p || ref.name.startsWith(`${p}/`)) return true;
    }
    return !this.globs.empty && this.globs.test(ref.name);
  }
}

/** Sets `attributes['container.image.trusted']` on events whose workload names an image (when trust is configured). */
export class ImageTrustProcessor implements Processor {
  /** Stateless (the trust list is configuration): nothing to checkpoint. */
  readonly name = 'image_trust';

  /**
   * Verdicts per identity object: the enrichers hand out shared frozen
   * identities, so the image of a pod is judged once rather than per event
   * (the string-keyed cache below costs a concatenation and a hash of
   * ~140 characters per lookup).
   */
  private readonly byIdentity = new WeakMap<WorkloadIdentity, boolean | undefined>();

  constructor(private readonly trust: ImageTrust) {}

  process(event: OutflowEvent): OutflowEvent {
    const w = event.workload;
    if (!w || (!w.image && !w.imageDigest)) return event;
    let trusted = this.byIdentity.get(w);
    if (trusted === undefined && !this.byIdentity.has(w)) {
      trusted = this.trust.isTrusted(w.image, w.imageDigest);
      // only identities that cannot change afterwards are remembered
      if (Object.isFrozen(w)) this.byIdentity.set(w, trusted);
    }
    if (trusted === undefined) return event;
    (event.attributes ??= {})['container.image.trusted'] = trusted;
    return event;
  }
}
