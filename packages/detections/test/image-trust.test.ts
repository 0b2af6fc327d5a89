import { processExec } from '@outflow/testkit';
import { describe, expect, it } from 'vitest';
import { ImageTrust, ImageTrustProcessor, parseImageReference } from '../src/index.js';

const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;

describe('image references', () => {
  it('normalizes the way runtimes resolve them', () => {
    expect(parseImageReference('nginx')).toEqual({ registry: 'docker.io', repository: 'library/nginx', name: 'docker.io/library/nginx' });
    expect(parseImageReference('myorg/api:1.2')).toMatchObject({ name: 'docker.io/myorg/api', tag: '1.2' });
    expect(parseImageReference('index.docker.io/library/redis:7')).toMatchObject({ name: 'docker.io/library/redis' });
    expect(parseImageReference('localhost:5000/tool:dev')).toMatchObject({ registry: 'localhost:5000', repository: 'tool', tag: 'dev' });
    expect(parseImageReference('GHCR.io/acme/api@' + DIGEST)).toMatchObject({ registry: 'ghcr.io', name: 'ghcr.io/acme/api', digest: DIGEST });
    expect(parseImageReference('docker-pullable://registry.example.com/shop/web@' + DIGEST)).toMatchObject({ name: 'registry.example.com/shop/web' });
    expect(parseImageReference('')).toBeUndefined();
  });
});

describe('image trust', () => {
  const trust = new ImageTrust({
    trustedRegistries: ['123456789012.dkr.ecr.eu-west-1.amazonaws.com', 'ghcr.io/acme/', 'nginx', 'quay.io/prometheus/*'],
    trustedDigests: [DIGEST],
  });

  it('trusts registry and repository prefixes at path boundaries, globs, and digests', () => {
    expect(trust.isTrusted('123456789012.dkr.ecr.eu-west-1.amazonaws.com/payments/api:7')).toBe(true);
    expect(trust.isTrusted('ghcr.io/acme/api:3.1')).toBe(true);
    expect(trust.isTrusted('ghcr.io/acmex/api:3.1')).toBe(false);
    expect(trust.isTrusted('nginx:1.27')).toBe(true);
    expect(trust.isTrusted('docker.io/library/nginx')).toBe(true);
    expect(trust.isTrusted('docker.io/evil/nginx')).toBe(false);
    expect(trust.isTrusted('quay.io/prometheus/node-exporter:v1.7.0')).toBe(true);
    expect(trust.isTrusted('docker.io/attacker/tools:latest')).toBe(false);
    expect(trust.isTrusted('docker.io/attacker/tools:latest', `docker-pullable://x@${DIGEST}`)).toBe(true);
    expect(trust.isTrusted(`anything/else@${DIGEST}`)).toBe(true);
  });

  it('is unknown when nothing is configured', () => {
    expect(new ImageTrust().isTrusted('nginx')).toBeUndefined();
  });

  it('processor sets container.image.trusted only on events with an image, and only when trust is configured', () => {
    const p = new ImageTrustProcessor(trust);
    const bad = p.process(processExec({ workload: { namespace: 'x', pod: 'p', image: 'docker.io/attacker/tools:latest' } }));
    expect(bad.attributes?.['container.image.trusted']).toBe(false);
    const good = p.process(processExec({ workload: { namespace: 'x', pod: 'p', image: 'ghcr.io/acme/api:3.1' } }));
    expect(good.attributes?.['container.image.trusted']).toBe(true);
    const none = p.process(processExec({ workload: { namespace: 'x', pod: 'p' } }));
    expect(none.attributes).toBeUndefined();
    const unknown = new ImageTrustProcessor(new ImageTrust()).process(processExec());
    expect(unknown.attributes).toBeUndefined();
  });
});
