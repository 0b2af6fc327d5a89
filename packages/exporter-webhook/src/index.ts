import { readFileSync } from 'node:fs';
import type { Agent as HttpAgent } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import {
  type Alert,
  type ComponentContext,
  type ConfigIssue,
  createAgent,
  DeliveredKeys,
  defineComponent,
  deliverEach,
  deliveryFromConfig,
  type Exporter,
  type ExporterDelivery,
  exporterDeliveryShape,
  httpRequest,
  httpStatusError,
  httpUrlSchema,
  PermanentError,
  usableAlerts,
  z,
} from '@outflow/core';
import { batchBody, jsonBody, ocsfBody, signBody, slackBody } from './payload.js';

export { batchBody, jsonBody, ocsfBody, signBody, slackBody, slackEscape, type WebhookBatch, type WebhookDelivery } from './payload.js';

export const webhookConfigSchema = z
  .object({
    /** Where to POST. */
    url: httpUrlSchema,
    /** `json`: the generic envelope `{ idempotencyKey, alert }`; `slack`: a Slack incoming-webhook text message; `ocsf`: an OCSF Detection Finding. */
    format: z.enum(['json', 'slack', 'ocsf']).default('json'),
    /** One POST per batch (`{ idempotencyKey, deliveries: [...] }`) instead of one per alert. JSON format only. */
    batch: z.boolean().default(false),
    /** Extra request headers. */
    headers: z.record(z.string(), z.string()).default({}),
    /** Bearer token sent as `Authorization: Bearer ...`. */
    bearerToken: z.string().min(1).optional(),
    /** Name of an environment variable holding the bearer token (keeps secrets out of config files). */
    bearerTokenEnv: z.string().min(1).optional(),
    /** HMAC-SHA256 signature of the body: `<header>: sha256=<hex>`. */
    hmac: z
      .object({
        secret: z.string().min(1).optional(),
        secretEnv: z.string().min(1).optional(),
        header: z.string().min(1).default('X-Outflow-Signature'),
      })
      .strict()
      .optional(),
    /** Header carrying the delivery's idempotency key. */
    idempotencyHeader: z.string().min(1).default('Idempotency-Key'),
    /** Per-request timeout, ms. */
    timeoutMs: z.number().int().positive().default(10_000),
    /** Requests in flight at once (per-alert mode). */
    concurrency: z.number().int().positive().max(256).default(4),
    /** PEM file of extra CA certificates for https URLs. */
    caFile: z.string().min(1).optional(),
    ...exporterDeliveryShape,
  })
  .strict();

export type WebhookExporterConfig = z.output<typeof webhookConfigSchema>;

function checkConfig(config: WebhookExporterConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (config.bearerToken && config.bearerTokenEnv) issues.push({ path: 'bearerTokenEnv', message: 'give bearerToken or bearerTokenEnv, not both' });
  if (config.bearerTokenEnv && !process.env[config.bearerTokenEnv])
    issues.push({ path: 'bearerTokenEnv', message: `environment variable ${config.bearerTokenEnv} is not set` });
  if (config.hmac) {
    if (!!config.hmac.secret === !!config.hmac.secretEnv) issues.push({ path: 'hmac', message: 'give exactly one of hmac.secret and hmac.secretEnv' });
    else if (config.hmac.secretEnv && !process.env[config.hmac.secretEnv])
      issues.push({ path: 'hmac.secretEnv', message: `environment variable ${config.hmac.secretEnv} is not set` });
  }
  if (config.batch && config.format !== 'json')
    issues.push({ path: 'batch', message: `the ${config.format} format sends one request per alert; batch must be false` });
  return issues;
}

/**
 * POSTs alerts to an HTTP endpoint: generic JSON or Slack text, custom
 * headers, bearer auth, an HMAC-SHA256 body signature and a stable
 * idempotency key per delivery (header and body). Retryable failures (5xx,
 * 429 with its Retry-After, network errors, timeouts) are thrown as
 * RetryableError for the export runner to retry with backoff and jitter;
 * alerts already delivered by an earlier attempt are not sent again. Other
 * 4xx are permanent: that alert is dead-lettered.
 */
export class WebhookExporter implements Exporter {
  readonly delivery: ExporterDelivery;
  private readonly url: URL;
  private readonly agent: HttpAgent | HttpsAgent;
  private readonly baseHeaders: Record<string, string>;
  private readonly secret: string | undefined;
  private readonly done = new DeliveredKeys({ maxKeys: 100_000, ttlMs: 3_600_000 });
  private closed = false;
  /** Requests sent (including retries). */
  requests = 0;

  constructor(
    private readonly ctx: Pick<ComponentContext, 'deadLetter'>,
    private readonly config: WebhookExporterConfig,
  ) {
    this.delivery = deliveryFromConfig(config);
    this.url = new URL(config.url);
    this.agent = createAgent(this.url, {
      maxSockets: config.concurrency,
      ...(config.caFile ? { ca: readFileSync(config.caFile) } : {}),
    });
    const token = config.bearerToken ?? (config.bearerTokenEnv ? process.env[config.bearerTokenEnv] : undefined);
    this.secret = config.hmac?.secret ?? (config.hmac?.secretEnv ? process.env[config.hmac.secretEnv] : undefined);
    this.baseHeaders = {
      ...config.headers,
      'content-type': 'application/json',
      'user-agent': 'outflow-exporter-webhook/0.1',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    };
  }

  private async post(key: string, body: string, signal: AbortSignal): Promise<void> {
    const headers: Record<string, string> = { ...this.baseHeaders, [this.config.idempotencyHeader]: key };
    if (this.secret && this.config.hmac) headers[this.config.hmac.header] = signBody(this.secret, body);
    this.requests++;
    const res = await httpRequest(this.url, {
      method: 'POST',
      headers,
      body,
      signal,
      timeoutMs: this.config.timeoutMs,
      agent: this.agent,
      maxResponseBytes: 4096,
    });
    if (res.status >= 200 && res.status < 300) return;
    throw httpStatusError(`webhook ${this.url.origin}${this.url.pathname}`, res.status, res.headers, res.body);
  }

  async export(batch: readonly Alert[], signal: AbortSignal): Promise<void> {
    if (this.closed) throw new PermanentError('webhook exporter is shut down');
    const alerts = usableAlerts(batch, this.ctx);
    if (alerts.length === 0) return;
    if (this.config.batch) {
      const { key, body } = batchBody(alerts);
      if (this.done.has(key)) return;
      await this.post(key, body, signal);
      this.done.add(key);
      return;
    }
    const render = this.config.format === 'slack' ? slackBody : this.config.format === 'ocsf' ? ocsfBody : jsonBody;
    await deliverEach(
      alerts,
      async (alert, s) => {
        const { key, body } = render(alert);
        await this.post(key, body, s);
      },
      { done: this.done, ctx: this.ctx, signal, concurrency: this.config.concurrency, what: `webhook ${this.url.origin}` },
    );
  }

  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.agent.destroy();
  }
}

/** `webhook` exporter: JSON or Slack POSTs with idempotency keys, HMAC signatures and retries. */
export const webhookExporter = defineComponent({
  type: 'webhook',
  kind: 'exporter',
  stability: 'beta',
  description:
    'POSTs alerts as JSON (or Slack text) with an idempotency key per delivery, bearer auth, an HMAC-SHA256 body signature, and retry on 5xx, 429, network errors and timeouts.',
  schema: webhookConfigSchema,
  check: checkConfig,
  create: (ctx, config) => new WebhookExporter(ctx, config),
});
