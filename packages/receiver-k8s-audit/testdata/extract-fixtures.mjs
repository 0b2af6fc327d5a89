// How the Panther-derived fixtures of this folder were cut (run once, by hand, from a checkout that has
// ../shared/data beside it): `node testdata/extract-fixtures.mjs /path/to/shared/data`. Tests never run it.
// Panther's own enrichment fields (p_*) are removed; every other change is listed in NOTICE.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const data = process.argv[2];
if (!data) throw new Error('usage: node extract-fixtures.mjs <shared/data>');
const here = new URL('.', import.meta.url).pathname;
const dir = join(data, 'panther-analysis', 'extracted_rule_tests');
const read = (f) =>
  readFileSync(join(dir, f), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
const strip = (v) => {
  if (Array.isArray(v)) return v.map(strip);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([k]) => !k.startsWith('p_')).map(([k, x]) => [k, strip(x)]));
  return v;
};
const jsonl = (rows) => `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`;

const eks = read('aws_eks_rules.jsonl');
const k8s = read('kubernetes_rules.jsonl');
const gke = read('gcp_k8s_rules.jsonl');

// 1. EKS audit events as Panther stores them, unchanged but for p_* fields.
writeFileSync(join(here, 'eks-native.jsonl'), jsonl(eks.map((t) => strip(t.log))));

// 2. Exec/attach events (EKS shape). The test events lack auditID, stage and timestamps; those are added.
const execTests = k8s.filter((t) => t.log.objectRef?.subresource === 'exec' && t.log.kind === 'Event');
writeFileSync(
  join(here, 'exec.jsonl'),
  jsonl(
    execTests.map((t, i) => ({
      auditID: t.log.auditID ?? `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      stage: 'ResponseStarted',
      requestReceivedTimestamp: `2024-03-20T10:${String(i).padStart(2, '0')}:00.000000Z`,
      ...strip(t.log),
    })),
  ),
);

// 3. GKE Cloud Audit Logs entries: every gcp_k8s test event, plus the GKE shapes of kubernetes_rules exec tests
//    (those get a LogEntry timestamp and insertId, which the tests lack).
const gkeExec = k8s.filter((t) => t.log.protoPayload?.methodName === 'io.k8s.core.v1.pods.exec.create');
writeFileSync(
  join(here, 'gke.jsonl'),
  jsonl([
    ...gke.map((t) => strip(t.log)),
    ...gkeExec.map((t, i) => ({ insertId: `gke-exec-${i}`, timestamp: `2024-03-21T08:00:0${i % 10}.5Z`, ...strip(t.log) })),
  ]),
);

// 4. AKS diagnostic records ({"records": [...]}, as Event Hubs and storage accounts get them). The test records lack
//    `time` and most lack `resourceId`; those are added.
const aks = k8s.filter((t) => t.log.category === 'kube-audit').slice(0, 12);
const rid = '/SUBSCRIPTIONS/00000000-1111-2222-3333-444444444444/RESOURCEGROUPS/RG-PROD/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AKS-PROD';
const aksRecords = aks.map((t, i) => ({ time: `2024-03-20T11:00:${String(i).padStart(2, '0')}.000Z`, resourceId: t.log.resourceId ?? rid, ...strip(t.log) }));
aksRecords.push({
  time: '2024-03-20T11:01:00.000Z',
  resourceId: rid,
  category: 'kube-apiserver',
  operationName: 'Microsoft.ContainerService/managedClusters/diagnosticLogs/Read',
  properties: { log: 'I0320 11:01:00.000000       1 controller.go:611] quota admission added evaluator for: leases.coordination.k8s.io', stream: 'stderr', pod: 'kube-apiserver-6d8f9c7b5-abcde' },
});
writeFileSync(join(here, 'aks-diagnostics.json'), `${JSON.stringify({ records: aksRecords }, null, 2)}\n`);

// 5. EKS CloudWatch Logs subscription payloads around real EKS events: a control message, a data message
//    (three events and one message that is not JSON), and a payload from the authenticator stream.
const withTime = eks.map((t) => strip(t.log)).filter((l) => l.requestReceivedTimestamp && l.verb);
const ts = (s) => Date.parse(`${s.replace(' ', 'T')}Z`);
const payloads = [
  { messageType: 'CONTROL_MESSAGE', owner: 'CloudwatchLogs', logGroup: '', logStream: '', subscriptionFilters: [], logEvents: [{ id: '', timestamp: 1711000000000, message: 'CWL CONTROL MESSAGE: Checking health of destination Kinesis stream.' }] },
  {
    messageType: 'DATA_MESSAGE',
    owner: '123412341234',
    logGroup: '/aws/eks/example-cluster/cluster',
    logStream: 'kube-apiserver-audit-2c3f4e5d6a7b8c9d0e1f2a3b4c5d6e7f',
    subscriptionFilters: ['outflow-audit'],
    logEvents: [
      ...withTime.slice(0, 3).map((l, i) => ({ id: `3762938849273648${i}`, timestamp: ts(l.requestReceivedTimestamp), message: JSON.stringify(l) })),
      { id: '37629388492736489', timestamp: 1711000000000, message: '{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"trunc' },
    ],
  },
  {
    messageType: 'DATA_MESSAGE',
    owner: '123412341234',
    logGroup: '/aws/eks/example-cluster/cluster',
    logStream: 'authenticator-2c3f4e5d6a7b8c9d0e1f2a3b4c5d6e7f',
    subscriptionFilters: ['outflow-audit'],
    logEvents: [{ id: '1', timestamp: 1711000000000, message: 'time="2024-03-21T05:46:40Z" level=info msg="access granted"' }],
  },
];
writeFileSync(join(here, 'eks-cloudwatch.jsonl'), jsonl(payloads));

// 6. The same events as CloudWatch Logs writes them on export to S3: `<timestamp> <message>` per line.
writeFileSync(
  join(here, 'eks-export.log'),
  withTime
    .slice(3, 7)
    .map((l) => `${new Date(ts(l.requestReceivedTimestamp)).toISOString()} ${JSON.stringify(l)}`)
    .join('\n') + '\n',
);

// 7. A Kinesis Firehose HTTP endpoint delivery whose record is the gzipped data message above (gzip mtime 0).
const gz = gzipSync(Buffer.from(JSON.stringify(payloads[1])));
gz.writeUInt32LE(0, 4);
writeFileSync(
  join(here, 'firehose.json'),
  `${JSON.stringify({ requestId: 'ed4acda5-034f-9f42-bba1-f29aea6d7d8f', timestamp: 1711000001000, records: [{ data: gz.toString('base64') }, { data: '!!not base64 json!!' }] }, null, 2)}\n`,
);
