import type { Suite } from '../harness.js';

/** Every suite, loaded on demand. Add one line per suite file. */
export const SUITES: Record<string, () => Promise<Suite>> = {
  io: () => import('./io.js').then((m) => m.suite),
  'decode-runtime': () => import('./decode-runtime.js').then((m) => m.suite),
  'decode-audit-cloudtrail': () => import('./decode-audit-cloudtrail.js').then((m) => m.suite),
  'decode-flow-logs': () => import('./decode-flow-logs.js').then((m) => m.suite),
  'decode-netflow': () => import('./decode-netflow.js').then((m) => m.suite),
  exporters: () => import('./exporters.js').then((m) => m.suite),
  'detections-enrich': () => import('./detections-enrich.js').then((m) => m.suite),
  detections: () => import('./detections.js').then((m) => m.suite),
  'detections-k8s': () => import('./detections-k8s.js').then((m) => m.suite),
  detect: () => import('./detect.js').then((m) => m.suite),
  emulate: () => import('./emulate.js').then((m) => m.suite),
  'transport-nats': () => import('./transport-nats.js').then((m) => m.suite),
  'checkpoint-detections': () => import('./checkpoint-detections.js').then((m) => m.suite),
  e2e: () => import('./e2e.js').then((m) => m.suite),
  memory: () => import('./memory.js').then((m) => m.suite),
  export: () => import('./export.js').then((m) => m.suite),
  latency: () => import('./latency.js').then((m) => m.suite),
  cores: () => import('./cores.js').then((m) => m.suite),
};
