import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateScenario, SCENARIOS, VPC_FLOW_FIELDS, writeScenario } from '../src/index.js';

describe('scenario generator', () => {
  it('is deterministic for a seed and differs across seeds', () => {
    const a = generateScenario({ seed: 7, hours: 2 });
    const b = generateScenario({ seed: 7, hours: 2 });
    const c = generateScenario({ seed: 8, hours: 2 });
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(JSON.stringify(a.audit)).not.toBe(JSON.stringify(c.audit));
  });

  it('produces every source, ordered by time, with labelled attack steps carrying source ids', () => {
    const t = generateScenario({ seed: 1, hours: 4 });
    expect(t.meta.counts.k8s_audit).toBeGreaterThan(100);
    expect(t.meta.counts.aws_vpc_flow).toBeGreaterThan(5_000);
    expect(t.meta.counts.aws_cloudtrail).toBeGreaterThan(20);
    expect(t.meta.counts.falco).toBeGreaterThan(0);
    expect(t.meta.counts.tetragon).toBeGreaterThan(0);
    const times = t.audit.map((r) => Date.parse(String(r.requestReceivedTimestamp)));
    expect([...times].sort((x, y) => x - y)).toEqual(times);
    expect(t.vpcFlow[0]).toBe(VPC_FLOW_FIELDS.join(' '));
    expect(t.vpcFlow[1]?.split(' ')).toHaveLength(VPC_FLOW_FIELDS.length);
    const steps = t.labels.filter((l) => l.kind === 'attack').map((l) => l.step);
    expect(steps).toEqual(['untrusted_image', 'exec', 'secret_read', 'archive', 'upload', 'snapshot_share', 'snapshot_consumed']);
    const share = t.labels.find((l) => l.step === 'snapshot_share');
    const ids = new Set(t.cloudtrail.map((r) => r.eventID));
    expect(share?.evidence.length).toBe(2);
    for (const e of share?.evidence ?? []) expect(ids.has(e.id)).toBe(true);
    const modify = t.cloudtrail.find((r) => r.eventName === 'ModifySnapshotAttribute') as {
      requestParameters: { createVolumePermission: { add: { items: { userId: string }[] } } };
    };
    expect(modify.requestParameters.createVolumePermission.add.items[0]?.userId).toBe('999988887777');
    // the attack happens after the learning period
    expect(Math.min(...t.labels.filter((l) => l.kind === 'attack').map((l) => l.start))).toBeGreaterThanOrEqual(t.meta.start + 3 * 3_600_000);
  });

  it('reuses pod addresses over time, and the inventory says who held each one when', () => {
    const t = generateScenario({ seed: 3, hours: 6, scenarios: ['batch_jobs'] });
    const byIp = new Map<string, number>();
    for (const p of t.inventory) byIp.set(p.ip, (byIp.get(p.ip) ?? 0) + 1);
    expect([...byIp.values()].some((n) => n > 1)).toBe(true);
    for (const p of t.inventory) if (p.validTo) expect(Date.parse(p.validTo)).toBeGreaterThan(Date.parse(p.validFrom));
  });

  it('runs every scenario and writes the files as the sources deliver them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scenario-'));
    const t = generateScenario({ seed: 2, hours: 3, scenarios: Object.keys(SCENARIOS) });
    const files = writeScenario(dir, t);
    const ct = readdirSync(files.aws_cloudtrail);
    expect(ct.length).toBeGreaterThanOrEqual(3);
    const delivery = JSON.parse(readFileSync(join(files.aws_cloudtrail, ct[0] as string), 'utf8')) as { Records: unknown[] };
    expect(Array.isArray(delivery.Records)).toBe(true);
    const audit = readFileSync(join(files.k8s_audit, 'audit.jsonl'), 'utf8').trim().split('\n');
    expect(JSON.parse(audit[0] as string).apiVersion).toBe('audit.k8s.io/v1');
    const kinds = new Set(t.labels.map((l) => l.scenario));
    expect([...kinds].sort()).toEqual(Object.keys(SCENARIOS).sort());
  });

  it('rejects an unknown scenario', () => {
    expect(() => generateScenario({ scenarios: ['nope'] })).toThrow(/unknown scenario "nope"/);
  });
});

describe('scenario addresses', () => {
  it('never gives one address to two pods at the same time', () => {
    const t = generateScenario({ seed: 9, hours: 8, scenarios: Object.keys(SCENARIOS) });
    const byIp = new Map<string, { from: number; to: number }[]>();
    for (const p of t.inventory) {
      const list = byIp.get(p.ip) ?? [];
      list.push({ from: Date.parse(p.validFrom), to: p.validTo ? Date.parse(p.validTo) : Number.POSITIVE_INFINITY });
      byIp.set(p.ip, list);
    }
    for (const [ip, spans] of byIp) {
      spans.sort((a, b) => a.from - b.from);
      for (let i = 1; i < spans.length; i++) expect((spans[i] as { from: number }).from, ip).toBeGreaterThanOrEqual((spans[i - 1] as { to: number }).to);
    }
  });
});
