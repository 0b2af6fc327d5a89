import type { DecodeMeta, Decoder, DecodeSink, OutflowEvent } from '@outflow/core';
import { cloudTrailDecoder } from '@outflow/receiver-aws-cloudtrail';
import { k8sAuditDecoder } from '@outflow/receiver-k8s-audit';
import type { Figure, Suite } from '../harness.js';

const T0 = Date.UTC(2024, 5, 12, 9, 0, 0);

function iso(ms: number, micros: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}.${String(micros % 1_000_000).padStart(6, '0')}Z`;
}

function uuid(i: number, salt: number): string {
  const h = ((i * 2654435761) ^ salt) >>> 0;
  const x = h.toString(16).padStart(8, '0');
  return `${x}-${x.slice(0, 4)}-4${x.slice(1, 4)}-8${x.slice(4, 7)}-${x}${(i & 0xffff).toString(16).padStart(4, '0')}`;
}

/**
 * Kubernetes audit events as the API server writes them to its log (about
 * 1 kB each): controller watches and lists, service-account secret reads
 * with bound-token extras, kubectl exec with a command, and pod creates at
 * RequestResponse level.
 */
function auditLines(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const ns = `team-${i % 40}`;
    const pod = `api-7d9f8b6c5-${(i % 500).toString(36).padStart(5, 'x')}`;
    const t = T0 + i * 7;
    const base = {
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      auditID: uuid(i, 0x5a5a),
      requestReceivedTimestamp: iso(t, i * 13),
      stageTimestamp: iso(t + 3, i * 17),
      sourceIPs: [`10.0.${i % 64}.${i % 251}`],
    };
    const kind = i % 4;
    let event: Record<string, unknown>;
    if (kind === 0) {
      event = {
        ...base,
        level: 'Metadata',
        stage: 'ResponseComplete',
        requestURI: `/apis/apps/v1/namespaces/${ns}/replicasets?allowWatchBookmarks=true&resourceVersion=${2528212 + i}&timeout=5m56s&watch=true`,
        verb: 'watch',
        user: { username: 'system:kube-controller-manager', groups: ['system:authenticated'] },
        userAgent: 'kube-controller-manager/v1.29.2 (linux/amd64) kubernetes/4b8e819/shared-informers',
        objectRef: { resource: 'replicasets', namespace: ns, apiGroup: 'apps', apiVersion: 'v1' },
        responseStatus: { metadata: {}, code: 200 },
        annotations: {
          'authorization.k8s.io/decision': 'allow',
          'authorization.k8s.io/reason': 'RBAC: allowed by ClusterRoleBinding "system:kube-controller-manager"',
        },
      };
    } else if (kind === 1) {
      event = {
        ...base,
        level: 'Metadata',
        stage: 'ResponseComplete',
        requestURI: `/api/v1/namespaces/${ns}/secrets/db-credentials`,
        verb: 'get',
        user: {
          username: `system:serviceaccount:${ns}:api`,
          uid: uuid(i % 40, 0x1111),
          groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
          extra: {
            'authentication.kubernetes.io/credential-id': [`JTI=${uuid(i, 0x2222)}`],
            'authentication.kubernetes.io/node-name': [`ip-10-0-${i % 8}-17.eu-west-1.compute.internal`],
            'authentication.kubernetes.io/pod-name': [pod],
            'authentication.kubernetes.io/pod-uid': [uuid(i % 500, 0x3333)],
          },
        },
        userAgent: 'python-requests/2.31.0',
        objectRef: { resource: 'secrets', namespace: ns, name: 'db-credentials', apiVersion: 'v1' },
        responseStatus: { metadata: {}, code: 200 },
        annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': `RBAC: allowed by RoleBinding "api-secrets/${ns}"` },
      };
    } else if (kind === 2) {
      event = {
        ...base,
        level: 'Request',
        stage: i % 8 === 2 ? 'ResponseStarted' : 'ResponseComplete',
        requestURI: `/api/v1/namespaces/${ns}/pods/${pod}/exec?command=tar&command=czf&command=-&command=%2Fvar%2Flib%2Fdata%2Fpart-${i % 100}&container=api&stderr=true&stdout=true`,
        verb: 'create',
        user: { username: `dev${i % 30}@example.com`, groups: ['devs', 'system:authenticated'] },
        userAgent: 'kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819',
        objectRef: { resource: 'pods', subresource: 'exec', namespace: ns, name: pod, apiVersion: 'v1' },
        responseStatus: { metadata: {}, code: 101 },
        annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': `RBAC: allowed by RoleBinding "devs-exec/${ns}"` },
      };
    } else {
      event = {
        ...base,
        level: 'RequestResponse',
        stage: 'ResponseComplete',
        requestURI: `/api/v1/namespaces/${ns}/pods`,
        verb: 'create',
        user: { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts', 'system:authenticated'] },
        userAgent: 'kube-controller-manager/v1.29.2 (linux/amd64) kubernetes/4b8e819/system:serviceaccount:kube-system:replicaset-controller',
        objectRef: { resource: 'pods', namespace: ns, name: pod, apiVersion: 'v1' },
        responseStatus: { metadata: {}, code: 201 },
        requestObject: {
          kind: 'Pod',
          apiVersion: 'v1',
          metadata: { generateName: 'api-7d9f8b6c5-', namespace: ns, labels: { app: 'api', 'pod-template-hash': '7d9f8b6c5' } },
          spec: {
            containers: [{ name: 'api', image: `registry.example.com/${ns}/api:1.${i % 20}.0`, ports: [{ containerPort: 8080 }] }],
            serviceAccountName: 'api',
          },
        },
        annotations: {
          'authorization.k8s.io/decision': 'allow',
          'authorization.k8s.io/reason': 'RBAC: allowed by ClusterRoleBinding "system:controller:replicaset-controller"',
        },
      };
    }
    out.push(JSON.stringify(event));
  }
  return out;
}

/** EKS CloudWatch Logs subscription payloads of 100 audit events each (messages are JSON strings), one payload per line. */
function eksPayloads(lines: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < lines.length; i += 100) {
    out.push(
      JSON.stringify({
        messageType: 'DATA_MESSAGE',
        owner: '111122223333',
        logGroup: '/aws/eks/prod-eu/cluster',
        logStream: 'kube-apiserver-audit-2c3f4e5d6a7b8c9d0e1f2a3b4c5d6e7f',
        subscriptionFilters: ['outflow'],
        logEvents: lines.slice(i, i + 100).map((message, j) => ({ id: String(37629388492736480000 + i + j), timestamp: T0 + (i + j) * 7, message })),
      }),
    );
  }
  return out;
}

/**
 * CloudTrail records (about 1.3 kB each): IRSA sessions reading S3 and
 * describing EC2, snapshot sharing, and failed calls. Grouped 100 per delivery
 * document, one document per line.
 */
function cloudTrailDocuments(n: number): string[] {
  const docs: string[] = [];
  let records: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const role = `team-${i % 40}-irsa`;
    const session = `botocore-session-${1718182800 + (i % 5000)}`;
    const kind = i % 4;
    const [source, name, request, response] =
      kind === 0
        ? ([
            's3.amazonaws.com',
            'GetObject',
            { bucketName: `exports-${i % 12}`, key: `2024/06/12/part-${i}.parquet`, Host: `exports-${i % 12}.s3.eu-west-1.amazonaws.com` },
            null,
          ] as const)
        : kind === 1
          ? ([
              'ec2.amazonaws.com',
              'DescribeInstances',
              { instancesSet: {}, filterSet: { items: [{ name: 'tag:team', valueSet: { items: [{ value: `team-${i % 40}` }] } }] } },
              null,
            ] as const)
          : kind === 2
            ? ([
                'ec2.amazonaws.com',
                'ModifySnapshotAttribute',
                {
                  snapshotId: `snap-0${(i * 7919).toString(16).padStart(16, '0')}`,
                  attributeType: 'CREATE_VOLUME_PERMISSION',
                  createVolumePermission: { add: { items: [{ userId: '999988887777' }] } },
                },
                { requestId: uuid(i, 0x77), _return: true },
              ] as const)
            : (['sts.amazonaws.com', 'AssumeRole', { roleArn: 'arn:aws:iam::111122223333:role/admin', roleSessionName: session }, null] as const);
    records.push({
      eventVersion: '1.09',
      userIdentity: {
        type: 'AssumedRole',
        principalId: `AROAEXAMPLE${i % 40}:${session}`,
        arn: `arn:aws:sts::111122223333:assumed-role/${role}/${session}`,
        accountId: '111122223333',
        accessKeyId: `ASIAEXAMPLE${(i % 100000).toString().padStart(8, '0')}`,
        sessionContext: {
          sessionIssuer: {
            type: 'Role',
            principalId: `AROAEXAMPLE${i % 40}`,
            arn: `arn:aws:iam::111122223333:role/${role}`,
            accountId: '111122223333',
            userName: role,
          },
          webIdFederationData: { federatedProvider: 'arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE', attributes: {} },
          attributes: { creationDate: new Date(T0 + i * 50 - 60_000).toISOString().slice(0, 19) + 'Z', mfaAuthenticated: 'false' },
        },
      },
      eventTime: `${new Date(T0 + i * 50).toISOString().slice(0, 19)}Z`,
      eventSource: source,
      eventName: name,
      awsRegion: 'eu-west-1',
      sourceIPAddress: `10.0.${i % 64}.${i % 251}`,
      userAgent: 'Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#5.10.219 md/arch#x86_64 lang/python#3.12.3 cfg/retry-mode#legacy Botocore/1.34.0',
      requestParameters: request,
      responseElements: response,
      ...(kind === 3 && i % 8 === 3 ? { errorCode: 'AccessDenied', errorMessage: `User is not authorized to perform: sts:AssumeRole on resource: admin` } : {}),
      requestID: uuid(i, 0x77),
      eventID: uuid(i, 0x99),
      readOnly: kind < 2,
      ...(kind === 0
        ? {
            resources: [
              { type: 'AWS::S3::Object', ARN: `arn:aws:s3:::exports-${i % 12}/2024/06/12/part-${i}.parquet` },
              { accountId: '111122223333', type: 'AWS::S3::Bucket', ARN: `arn:aws:s3:::exports-${i % 12}` },
            ],
          }
        : {}),
      eventType: 'AwsApiCall',
      managementEvent: kind !== 0,
      recipientAccountId: '111122223333',
      eventCategory: kind === 0 ? 'Data' : 'Management',
      tlsDetails: { tlsVersion: 'TLSv1.3', cipherSuite: 'TLS_AES_128_GCM_SHA256', clientProvidedHostHeader: `${source.split('.')[0]}.eu-west-1.amazonaws.com` },
    });
    if (records.length === 100) {
      docs.push(JSON.stringify({ Records: records }));
      records = [];
    }
  }
  if (records.length > 0) docs.push(JSON.stringify({ Records: records }));
  return docs;
}

/** Decode each line of `text` as the file transport does: one reused meta, line numbers updated. */
function decodeLines(decoder: Decoder<string>, text: string): number {
  let events = 0;
  let errors = 0;
  const sink: DecodeSink = {
    event: (_e: OutflowEvent) => {
      events++;
    },
    error: () => {
      errors++;
    },
  };
  const meta: DecodeMeta = { observedTime: T0, location: '/var/log/bench.json', line: 0, receiver: 'bench' };
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.length === 0) continue;
    meta.line = i + 1;
    decoder.decode(line, sink, meta);
  }
  if (errors > 0) throw new Error(`${errors} decode errors`);
  return events;
}

/** The baseline: bare split('\n') + JSON.parse of the same bytes. Returns the lines parsed. */
function bareParse(text: string): number {
  let n = 0;
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    JSON.parse(line);
    n++;
  }
  return n;
}

/** Bare parse of CloudWatch payloads and of the JSON message each log event carries: the least any reader of them does. */
function bareParseNested(text: string): number {
  let n = 0;
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    const payload = JSON.parse(line) as { logEvents: { message: string }[] };
    for (const e of payload.logEvents) JSON.parse(e.message);
    n++;
  }
  return n;
}

function figure(
  id: string,
  title: string,
  runs: Record<string, { perSecond: number }>,
  perLine: number,
  notes: string,
  to = 'bare split + JSON.parse',
): Figure {
  const decoded = runs.decoder?.perSecond ?? 0;
  const bare = (runs.bare?.perSecond ?? 0) * perLine;
  const ratio = bare > 0 ? decoded / bare : 0;
  return {
    id,
    title,
    value: decoded,
    unit: 'events/s',
    ratio: { value: ratio, to },
    target: '>= 0.5 of bare parse',
    met: ratio >= 0.5,
    notes,
  };
}

export const suite: Suite = {
  name: 'decode-audit-cloudtrail',
  description:
    'Kubernetes audit (native lines, EKS CloudWatch payloads) and CloudTrail delivery-file decoders: events/s against bare split + JSON.parse of the same bytes',
  async run(h) {
    const n = h.quick ? 6_000 : 40_000;
    const audit = auditLines(n);
    const auditText = `${audit.join('\n')}\n`;
    const eksText = `${eksPayloads(audit).join('\n')}\n`;
    const trailDocs = cloudTrailDocuments(n);
    const trailText = `${trailDocs.join('\n')}\n`;
    const expect = (got: number) => {
      if (got !== n) throw new Error(`decoded ${got} events, expected ${n}`);
      return got;
    };
    const mb = (s: string) => `${(Buffer.byteLength(s) / 2 ** 20).toFixed(0)} MB`;
    const figures: Figure[] = [];

    const auditRuns = await h.compare({ decoder: () => expect(decodeLines(k8sAuditDecoder, auditText)), bare: () => bareParse(auditText) });
    figures.push(
      figure('decode.k8s_audit', 'Kubernetes audit JSON lines decode', auditRuns, 1, `${n} events (watch, secret get, exec, pod create), ${mb(auditText)}`),
    );

    const eksRuns = await h.compare({ decoder: () => expect(decodeLines(k8sAuditDecoder, eksText)), bare: () => bareParseNested(eksText) });
    figures.push(
      figure(
        'decode.k8s_audit_eks_cloudwatch',
        'EKS CloudWatch Logs audit payloads decode',
        eksRuns,
        100,
        `${n} events in ${Math.ceil(n / 100)} subscription payloads, ${mb(eksText)}; the baseline parses the envelope and each message string, as any reader must`,
        'bare split + JSON.parse of envelope and messages',
      ),
    );

    const trailRuns = await h.compare({ decoder: () => expect(decodeLines(cloudTrailDecoder, trailText)), bare: () => bareParse(trailText) });
    figures.push(
      figure(
        'decode.aws_cloudtrail',
        'CloudTrail delivery documents decode',
        trailRuns,
        100,
        `${n} records in ${trailDocs.length} {"Records":[...]} documents, ${mb(trailText)}`,
      ),
    );
    return figures;
  },
};
