import type { Random } from './random.js';

/** The simulated organisation: one AWS account running one EKS-style cluster. */
export interface WorldConfig {
  cluster: string;
  region: string;
  /** Our AWS account. */
  account: string;
  /** A partner account we trust. */
  partnerAccount: string;
  /** The attacker's account. */
  foreignAccount: string;
  vpcId: string;
  /** Pod addresses come from here (VPC CNI: pods have VPC addresses). */
  podCidr: string;
  serviceCidr: string;
  /** Our trusted registry (ECR). */
  registry: string;
  /** Our S3 buckets. */
  backupBucket: string;
  assetsBucket: string;
}

export const DEFAULT_WORLD: WorldConfig = {
  cluster: 'prod-eu-1',
  region: 'eu-west-1',
  account: '111122223333',
  partnerAccount: '444455556666',
  foreignAccount: '999988887777',
  vpcId: 'vpc-0a1b2c3d4e5f60718',
  podCidr: '10.20.0.0/16',
  serviceCidr: '172.20.0.0/16',
  registry: '111122223333.dkr.ecr.eu-west-1.amazonaws.com',
  backupBucket: 'acme-prod-backups',
  assetsBucket: 'acme-prod-assets',
};

/** Well-known destinations. Addresses are from documentation ranges except the AWS S3 range, which is AWS's published eu-west-1 S3 prefix. */
export const DESTINATIONS = {
  /** A payment provider our API calls (external, expected). */
  paymentApi: { address: '198.51.100.10', port: 443, name: 'api.payments.example' },
  /** A metrics SaaS (external, expected). */
  metricsSaas: { address: '198.51.100.40', port: 443, name: 'ingest.metrics.example' },
  /** The attacker's server. */
  attacker: { address: '203.0.113.66', port: 443, name: 'upload.attacker.example' },
  /** A second attacker endpoint (variants). */
  attackerAlt: { address: '203.0.113.99', port: 8080, name: 'drop.attacker.example' },
  /** S3 in eu-west-1 (AWS ip-ranges.json: 52.218.0.0/17, service S3). */
  s3: { prefix: '52.218.0.0/17', addresses: ['52.218.4.10', '52.218.20.33', '52.218.96.7', '52.218.41.200'] },
  /** ECR API / registry endpoint (AWS range, service AMAZON). */
  ecr: { address: '52.95.110.15', port: 443 },
  /** A public image registry. */
  dockerHub: { address: '198.51.100.77', port: 443, name: 'registry-1.docker.example' },
  /** The cluster DNS service. */
  dns: { address: '172.20.0.10', port: 53 },
  /** The cloud load balancer's addresses (ingress to the frontend). */
  loadBalancer: ['10.20.250.10', '10.20.250.11'],
} as const;

export interface Pod {
  namespace: string;
  name: string;
  uid: string;
  workloadKind: string;
  workloadName: string;
  ip: string;
  node: string;
  nodeIp: string;
  image: string;
  imageDigest: string;
  container: string;
  containerId: string;
  serviceAccount: string;
  labels: Record<string, string>;
  start: number;
  end?: number;
  /** Network interface of the node (VPC flow logs are per ENI). */
  eni: string;
}

export interface Workload {
  namespace: string;
  kind: 'Deployment' | 'StatefulSet' | 'CronJob' | 'DaemonSet';
  name: string;
  image: string;
  replicas: number;
  /** ClusterIP of its service, when it has one. */
  serviceIp?: string;
  port?: number;
}

const NODES = ['ip-10-20-1-11.eu-west-1.compute.internal', 'ip-10-20-2-12.eu-west-1.compute.internal', 'ip-10-20-3-13.eu-west-1.compute.internal'];
const NODE_IPS = ['10.20.1.11', '10.20.2.12', '10.20.3.13'];

/** Addresses and identities handed out as pods come and go. Pod addresses are reused, as in a real cluster. */
export class Cluster {
  readonly pods: Pod[] = [];
  private nextHost = 10;
  /** Pod-template hash per Deployment (one revision each), as the ReplicaSet controller names pods. */
  private readonly templateHash = new Map<string, string>();
  /** Addresses released by ended pods, with the event time they became free. */
  private readonly freeIps: { ip: string; since: number }[] = [];

  constructor(
    readonly world: WorldConfig,
    private readonly rng: Random,
  ) {}

  /**
   * An address for a pod starting at `time`: a released one when one was free by then (addresses are reused, as in
   * a real cluster), else a new one. Scenarios run one after another in code but overlap in time, so reuse is
   * decided in event time: an address is never held by two pods at once.
   */
  private allocateIp(time: number): string {
    const i = this.freeIps.findIndex((f) => f.since <= time);
    if (i >= 0) return (this.freeIps.splice(i, 1)[0] as { ip: string }).ip;
    const n = this.nextHost++;
    return `10.20.${10 + Math.floor(n / 250)}.${(n % 250) + 1}`;
  }

  /** Start a pod of `workload` at `time`. */
  startPod(workload: Workload, time: number, suffix?: string, imageOverride?: string): Pod {
    const nodeIndex = this.rng.int(0, NODES.length - 1);
    const image = imageOverride ?? workload.image;
    let hash: string | undefined;
    if (workload.kind === 'Deployment') {
      hash = this.templateHash.get(workload.name);
      if (!hash) this.templateHash.set(workload.name, (hash = this.rng.hex(9)));
    }
    const name =
      suffix ??
      (workload.kind === 'StatefulSet'
        ? `${workload.name}-${this.pods.filter((p) => p.workloadName === workload.name).length}`
        : hash
          ? `${workload.name}-${hash}-${this.rng.hex(5)}`
          : `${workload.name}-${this.rng.hex(5)}`);
    const pod: Pod = {
      namespace: workload.namespace,
      name,
      uid: this.rng.uuid(),
      workloadKind: workload.kind === 'CronJob' ? 'CronJob' : workload.kind,
      workloadName: workload.name,
      ip: this.allocateIp(time),
      node: NODES[nodeIndex] as string,
      nodeIp: NODE_IPS[nodeIndex] as string,
      image,
      imageDigest: `sha256:${this.rng.hex(64)}`,
      container: workload.name.split('-')[0] as string,
      containerId: `containerd://${this.rng.hex(64)}`,
      serviceAccount: workload.name,
      labels: { app: workload.name, 'app.kubernetes.io/part-of': workload.namespace, ...(hash && !suffix ? { 'pod-template-hash': hash } : {}) },
      start: time,
      eni: `eni-0${this.rng.hex(16)}`,
    };
    this.pods.push(pod);
    return pod;
  }

  stopPod(pod: Pod, time: number): void {
    pod.end = time;
    this.freeIps.push({ ip: pod.ip, since: time });
  }

  /** Pods of a workload alive at `time`. */
  alive(workloadName: string, time: number): Pod[] {
    return this.pods.filter((p) => p.workloadName === workloadName && p.start <= time && (p.end === undefined || p.end > time));
  }
}

/** Background workloads of the simulated cluster. `scale` adds more web services. */
export function defaultWorkloads(world: WorldConfig, scale = 1): Workload[] {
  const ecr = (repo: string, tag: string) => `${world.registry}/${repo}:${tag}`;
  const base: Workload[] = [
    { namespace: 'shop', kind: 'Deployment', name: 'frontend', image: ecr('shop/frontend', '2.3.1'), replicas: 3, serviceIp: '172.20.10.1', port: 8080 },
    { namespace: 'shop', kind: 'Deployment', name: 'api', image: ecr('shop/api', '5.12.0'), replicas: 2, serviceIp: '172.20.10.2', port: 8080 },
    { namespace: 'shop', kind: 'Deployment', name: 'checkout', image: ecr('shop/checkout', '1.8.4'), replicas: 2, serviceIp: '172.20.10.3', port: 8080 },
    { namespace: 'data', kind: 'StatefulSet', name: 'postgres', image: ecr('data/postgres', '16.2'), replicas: 1, serviceIp: '172.20.20.1', port: 5432 },
    {
      namespace: 'kube-system',
      kind: 'Deployment',
      name: 'coredns',
      image: ecr('eks/coredns', 'v1.11.1'),
      replicas: 2,
      serviceIp: DESTINATIONS.dns.address,
      port: 53,
    },
    { namespace: 'observability', kind: 'DaemonSet', name: 'metrics-agent', image: ecr('obs/agent', '0.98.0'), replicas: 3 },
  ];
  for (let i = 1; i < scale; i++) {
    base.push({
      namespace: 'shop',
      kind: 'Deployment',
      name: `catalog-${i}`,
      image: ecr('shop/catalog', `3.${i}.0`),
      replicas: 2,
      serviceIp: `172.20.11.${i}`,
      port: 8080,
    });
  }
  return base;
}

/** The batch workloads that benign scenarios start. */
export function batchWorkloads(world: WorldConfig): Record<string, Workload> {
  const ecr = (repo: string, tag: string) => `${world.registry}/${repo}:${tag}`;
  return {
    etl: { namespace: 'data', kind: 'CronJob', name: 'etl-hourly', image: ecr('data/etl', '0.14.2'), replicas: 1 },
    backup: { namespace: 'ops', kind: 'CronJob', name: 'nightly-backup', image: ecr('ops/backup', '1.4.0'), replicas: 1 },
    ci: { namespace: 'ci', kind: 'Deployment', name: 'ci-runner', image: ecr('ci/runner', '2.316.0'), replicas: 2 },
  };
}
