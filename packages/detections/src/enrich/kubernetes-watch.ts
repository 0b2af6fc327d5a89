import type { Clock, ComponentMetrics, Logger } from '@outflow/core';
import { isObject, str } from '../util/json.js';
import { podFromObject } from './pods.js';
import type { PodRecord } from './workload-index.js';

export interface PodWatcherOptions {
  /** Kubeconfig file; default: `KUBECONFIG`, `~/.kube/config`, or the in-cluster service account. */
  kubeconfig?: string | undefined;
  /** Kubeconfig context; default: the current context. */
  context?: string | undefined;
  /** Cluster name put on identities. */
  cluster?: string | undefined;
  /** Re-list every pod this often (processing time), refreshing every live entry. Default 1 h. */
  resyncMs?: number;
  /** Most live pods tracked; pods beyond it are counted `dropped{reason=pod_cap}`. Default 100 000. */
  maxPods?: number;
  /** Page size of list calls. Default 500. */
  pageSize?: number;
  /** Retry delays after a failure: doubling from `min` to `max` ms. Default 1 s .. 60 s. */
  retry?: { minMs: number; maxMs: number };
  onUpsert(pod: PodRecord): void;
  onDelete(pod: PodRecord, at: number): void;
  logger: Logger;
  metrics: ComponentMetrics;
  clock: Clock;
}

/** The slice of @kubernetes/client-node the watcher uses (loaded on demand: the library is large). */
interface KubeModule {
  KubeConfig: new () => {
    loadFromFile(file: string): void;
    loadFromDefault(): void;
    setCurrentContext(context: string): void;
    makeApiClient<T>(api: new (...args: never[]) => T): T;
  };
  CoreV1Api: new (
    ...args: never[]
  ) => {
    listPodForAllNamespaces(params: {
      limit?: number;
      _continue?: string;
    }): Promise<{ items?: unknown[]; metadata?: { resourceVersion?: string; _continue?: string } }>;
  };
  Watch: new (
    config: unknown,
  ) => {
    watch(
      path: string,
      query: Record<string, string | number | boolean | undefined>,
      callback: (phase: string, obj: unknown) => void,
      done: (err: unknown) => void,
    ): Promise<AbortController>;
  };
}

/**
 * Keeps the workload index in step with the cluster's pods: one paginated
 * list, then a watch from the list's resource version (ADDED, MODIFIED,
 * DELETED, BOOKMARK; a 410 Gone or a due resync starts over with a list).
 * Failures are logged, counted as `errors{reason=kubernetes_watch}`, and
 * retried with exponential backoff; they never reach the pipeline.
 */
export class PodWatcher {
  private readonly live = new Map<string, PodRecord>();
  private resourceVersion = '';
  private lastList = Number.NEGATIVE_INFINITY;
  private stopped = false;
  private abort: AbortController | undefined;
  private sleepTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private firstList!: Promise<void>;
  private firstListDone!: () => void;
  /** Completed list calls (for tests and diagnostics). */
  lists = 0;
  /** Watch events applied. */
  events = 0;

  constructor(private readonly options: PodWatcherOptions) {
    this.firstList = new Promise((resolve) => {
      this.firstListDone = resolve;
    });
  }

  /** Pods currently known to be live. */
  get size(): number {
    return this.live.size;
  }

  /**
   * Start watching. Resolves once the first list has been applied, or after
   * `startTimeoutMs` (the watcher then keeps retrying in the background).
   */
  async start(startTimeoutMs = 10_000): Promise<void> {
    const k8s = (await import('@kubernetes/client-node')) as unknown as KubeModule;
    const kc = new k8s.KubeConfig();
    if (this.options.kubeconfig) kc.loadFromFile(this.options.kubeconfig);
    else kc.loadFromDefault();
    if (this.options.context) kc.setCurrentContext(this.options.context);
    const api = kc.makeApiClient(k8s.CoreV1Api);
    const watch = new k8s.Watch(kc);
    this.loop = this.run(api, watch);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), startTimeoutMs);
      timer.unref();
    });
    const result = await Promise.race([this.firstList.then(() => 'listed' as const), timeout]);
    clearTimeout(timer);
    if (result === 'timeout')
      this.options.logger.warn('kubernetes pod list not complete at start; continuing to retry in the background', { timeoutMs: startTimeoutMs });
  }

  /**
   * Stop watching. Idempotent. Waits at most `timeoutMs` for the loop to end:
   * a watch request still waiting for its response headers cannot be
   * cancelled yet, and is aborted as soon as they arrive.
   */
  async stop(timeoutMs = 2_000): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    if (this.sleepTimer) clearTimeout(this.sleepTimer);
    this.wake?.();
    if (!this.loop) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.loop,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.sleepTimer = setTimeout(resolve, ms);
      this.sleepTimer.unref();
    });
  }

  private async run(api: InstanceType<KubeModule['CoreV1Api']>, watch: InstanceType<KubeModule['Watch']>): Promise<void> {
    const retry = this.options.retry ?? { minMs: 1_000, maxMs: 60_000 };
    const resync = this.options.resyncMs ?? 3_600_000;
    let delay = retry.minMs;
    while (!this.stopped) {
      try {
        if (!this.resourceVersion || this.options.clock.now() - this.lastList >= resync) await this.list(api);
        if (this.stopped) break;
        const timeoutSeconds = Math.max(1, Math.min(300, Math.floor(resync / 1000)));
        await this.watchOnce(watch, timeoutSeconds);
        delay = retry.minMs;
      } catch (err) {
        if (this.stopped) break;
        const status = isObject(err) ? (err.statusCode ?? err.code) : undefined;
        if (status === 410) {
          this.resourceVersion = '';
          continue;
        }
        this.options.metrics.add('errors', 1, 'kubernetes_watch');
        this.options.logger.warn('kubernetes pod watch failed; retrying', { error: err instanceof Error ? err.message : String(err), retryInMs: delay });
        await this.sleep(delay);
        delay = Math.min(retry.maxMs, delay * 2);
      }
    }
  }

  private async list(api: InstanceType<KubeModule['CoreV1Api']>): Promise<void> {
    const now = this.options.clock.now();
    const seen = new Set<string>();
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await api.listPodForAllNamespaces({ limit: this.options.pageSize ?? 500, ...(cont ? { _continue: cont } : {}) });
      for (const item of page.items ?? []) {
        const pod = this.apply(item, now);
        if (pod) seen.add(pod.uid ?? pod.key);
      }
      rv = page.metadata?.resourceVersion ?? rv;
      cont = page.metadata?._continue || undefined;
    } while (cont && !this.stopped);
    // Pods that vanished while we were not watching.
    for (const [holder, pod] of this.live) {
      if (seen.has(holder)) continue;
      this.live.delete(holder);
      this.options.onDelete(pod, now);
    }
    this.resourceVersion = rv;
    this.lastList = now;
    this.lists++;
    this.firstListDone();
  }

  private apply(obj: unknown, now: number): PodRecord | undefined {
    const pod = podFromObject(obj, this.options.cluster, now);
    if (!pod) {
      this.options.metrics.add('dropped', 1, 'invalid_pod');
      return undefined;
    }
    const holder = pod.uid ?? pod.key;
    if (!this.live.has(holder) && this.live.size >= (this.options.maxPods ?? 100_000)) {
      this.options.metrics.add('dropped', 1, 'pod_cap');
      return undefined;
    }
    this.live.set(holder, pod);
    this.options.onUpsert(pod);
    return pod;
  }

  private watchOnce(watch: InstanceType<KubeModule['Watch']>, timeoutSeconds: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let gone = false;
      const onEvent = (phase: string, obj: unknown) => {
        try {
          const rv = isObject(obj) && isObject(obj.metadata) ? str(obj.metadata.resourceVersion) : undefined;
          if (phase === 'ERROR') {
            if (isObject(obj) && obj.code === 410) gone = true;
            return;
          }
          const now = this.options.clock.now();
          if (phase === 'ADDED' || phase === 'MODIFIED') this.apply(obj, now);
          else if (phase === 'DELETED') {
            const pod = podFromObject(obj, this.options.cluster, now);
            if (pod) {
              this.live.delete(pod.uid ?? pod.key);
              this.options.onDelete(pod, now);
            }
          }
          this.events++;
          if (rv) this.resourceVersion = rv;
        } catch (err) {
          this.options.metrics.add('errors', 1, 'kubernetes_watch_event');
          this.options.logger.warn('kubernetes watch event failed', { error: err instanceof Error ? err.message : String(err) });
        }
      };
      const done = (err: unknown) => {
        this.abort = undefined;
        if (gone) this.resourceVersion = '';
        if (err && !this.stopped) reject(err);
        else resolve();
      };
      watch.watch('/api/v1/pods', { resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds }, onEvent, done).then((controller) => {
        if (this.stopped) controller.abort();
        else this.abort = controller;
      }, reject);
    });
  }
}
