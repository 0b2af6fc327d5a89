import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GeneratedTelemetry } from './generate.js';

/** Files written for one generated period, by source format. */
export interface ScenarioFiles {
  k8s_audit: string;
  aws_cloudtrail: string;
  aws_vpc_flow: string;
  falco: string;
  tetragon: string;
  inventory: string;
  labels: string;
  config: string;
}

/**
 * Write generated telemetry as the sources would deliver it: audit events as
 * JSON lines, CloudTrail as one delivery file (`{"Records": [...]}`) per hour,
 * VPC flow logs as text with a header line, Falco and Tetragon as JSON lines;
 * plus the pod inventory, the step labels and a preset configuration.
 */
export function writeScenario(dir: string, t: GeneratedTelemetry): ScenarioFiles {
  const path = (...p: string[]) => join(dir, ...p);
  for (const sub of ['k8s-audit', 'cloudtrail', 'vpc-flow', 'falco', 'tetragon']) mkdirSync(path(sub), { recursive: true });
  const lines = (records: unknown[]) => records.map((r) => JSON.stringify(r)).join('\n') + (records.length ? '\n' : '');
  writeFileSync(path('k8s-audit', 'audit.jsonl'), lines(t.audit));
  const byHour = new Map<string, Record<string, unknown>[]>();
  for (const r of t.cloudtrail) {
    const hour = String(r.eventTime).slice(0, 13).replace(/[-T:]/g, '');
    let list = byHour.get(hour);
    if (!list) byHour.set(hour, (list = []));
    list.push(r);
  }
  for (const [hour, records] of byHour) {
    writeFileSync(path('cloudtrail', `${t.meta.world.account}_CloudTrail_${t.meta.world.region}_${hour}00Z.json`), `${JSON.stringify({ Records: records })}\n`);
  }
  writeFileSync(path('vpc-flow', 'flows.log'), `${t.vpcFlow.join('\n')}\n`);
  writeFileSync(path('falco', 'falco.jsonl'), lines(t.falco));
  writeFileSync(path('tetragon', 'tetragon.jsonl'), lines(t.tetragon));
  writeFileSync(path('inventory.json'), `${JSON.stringify({ pods: t.inventory }, null, 2)}\n`);
  writeFileSync(path('labels.json'), `${JSON.stringify({ meta: t.meta, steps: t.labels }, null, 2)}\n`);
  writeFileSync(path('outflow.config.json'), `${JSON.stringify(t.presetConfig, null, 2)}\n`);
  return {
    k8s_audit: path('k8s-audit'),
    aws_cloudtrail: path('cloudtrail'),
    aws_vpc_flow: path('vpc-flow'),
    falco: path('falco'),
    tetragon: path('tetragon'),
    inventory: path('inventory.json'),
    labels: path('labels.json'),
    config: path('outflow.config.json'),
  };
}
