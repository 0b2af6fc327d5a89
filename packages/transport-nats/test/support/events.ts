import type { NetworkFlowEvent } from '@outflow/core';

const T0 = Date.UTC(2024, 2, 4);

/** `count` flows spread over `workloads` deployments, one a second, with stable ids: the same call gives the same events. */
export function flows(count: number, workloads: number, startIndex = 0): NetworkFlowEvent[] {
  const out: NetworkFlowEvent[] = [];
  for (let i = startIndex; i < startIndex + count; i++) {
    const w = i % workloads;
    out.push({
      kind: 'network_flow',
      time: T0 + i * 1_000,
      observedTime: T0 + i * 1_000,
      source: 'test',
      sourceId: `flow-${i}`,
      src: { address: `10.0.${w}.5`, port: 40_000 + (i % 1000) },
      dst: { address: '203.0.113.10', port: 443 },
      direction: 'egress',
      bytes: 1000 + i,
      workload: { cluster: 'test', namespace: 'shop', workloadKind: 'Deployment', workloadName: `svc-${w}` },
    });
  }
  return out;
}
