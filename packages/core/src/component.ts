import type { SchedulerLike } from 'rxjs';
import { z } from 'zod';
import type { DeadLetterInput } from './dead-letter.js';
import { ConfigError, type ConfigIssue, formatPath } from './errors.js';
import type { Logger } from './logger.js';
import type { ComponentMetrics } from './telemetry.js';

export type ComponentKind = 'receiver' | 'processor' | 'detection' | 'exporter' | 'baseline' | 'scorer';
export type Stability = 'development' | 'alpha' | 'beta' | 'stable';

/** Processing-time clock. Tests inject a fake one. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** What the pipeline gives every component it creates. */
export interface ComponentContext {
  /** Instance name, unique in the pipeline (defaults to the type, suffixed `/2`, `/3` for repeats). */
  readonly name: string;
  readonly type: string;
  readonly kind: ComponentKind;
  readonly metrics: ComponentMetrics;
  readonly logger: Logger;
  /** Write a failing record to the dead letter; counts it as an error with `reason`. Never throws. */
  deadLetter(entry: DeadLetterInput): void;
  /** Processing-time clock. */
  readonly clock: Clock;
  /** Scheduler for processing-time timers inside RxJS operators. */
  readonly scheduler: SchedulerLike;
  /** Aborted when shutdown's deadline passes: stop waiting and return. */
  readonly signal: AbortSignal;
}

/**
 * Builds one kind of component from a validated config. Mirrors the
 * OpenTelemetry Collector's component factories: a type name, a default
 * config, a validation that reports every problem with its path, and create().
 */
export interface ComponentFactory<Config = unknown, T = unknown> {
  /** snake_case type name, e.g. `k8s_audit`, `aws_vpc_flow`, `otlp`. */
  readonly type: string;
  readonly kind: ComponentKind;
  readonly stability: Stability;
  readonly description: string;
  /** The config schema, for validation and generated documentation. */
  readonly schema?: z.ZodType;
  createDefaultConfig(): Config;
  /** Validate and fill defaults. Throws ConfigError listing every issue, paths prefixed with `path`. */
  validate(config: unknown, path?: string): Config;
  create(ctx: ComponentContext, config: Config): T;
}

/** A factory with its (unvalidated) config: what users put into `createPipeline`. */
export interface ComponentSpec<T = unknown> {
  readonly factory: ComponentFactory<unknown, T>;
  readonly config: unknown;
  /** Instance name; defaults to the factory type. */
  readonly name?: string;
}

/** A factory that is also a function returning a spec: `k8sAudit({ http: { port: 8443 } })`. */
export type CallableFactory<Config, Input, T> = ComponentFactory<Config, T> & ((config?: Input, options?: { name?: string }) => ComponentSpec<T>);

export function isComponentSpec(value: unknown): value is ComponentSpec {
  return (
    typeof value === 'object' && value !== null && 'factory' in value && typeof (value as { factory?: { create?: unknown } }).factory?.create === 'function'
  );
}

/** Turn zod issues into ConfigIssues with a path prefix. */
export function zodIssues(error: z.ZodError, prefix = ''): ConfigIssue[] {
  return error.issues.map((issue) => {
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') message = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    return { path: formatPath(issue.path as PropertyKey[], prefix), message };
  });
}

/** Validate `value` against a zod schema; throw ConfigError with every issue. */
export function parseConfig<S extends z.ZodType>(schema: S, value: unknown, path = '', context?: string): z.output<S> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  throw new ConfigError(zodIssues(result.error, path), context);
}

export interface ComponentDefinition<S extends z.ZodType, T> {
  type: string;
  kind: ComponentKind;
  stability: Stability;
  description: string;
  schema: S;
  /** Extra checks beyond the schema (cross-field rules). Return issues with paths relative to the config. */
  check?: (config: z.output<S>) => ConfigIssue[];
  create(ctx: ComponentContext, config: z.output<S>): T;
}

/**
 * Define a component from a zod schema. The result is a ComponentFactory and a
 * function that pairs it with a config:
 *
 * ```ts
 * export const myReceiver = defineComponent({ type: 'my_source', kind: 'receiver', stability: 'alpha',
 *   description: '...', schema: z.object({ path: z.string() }), create: (ctx, config) => new MyReceiver(ctx, config) });
 * createPipeline({ receivers: [myReceiver({ path: '/var/log/x' })] });
 * ```
 */
export function defineComponent<S extends z.ZodType, T>(def: ComponentDefinition<S, T>): CallableFactory<z.output<S>, z.input<S>, T> {
  if (!/^[a-z][a-z0-9_]*$/.test(def.type)) throw new Error(`component type must be snake_case: ${def.type}`);
  const validate = (config: unknown, path = ''): z.output<S> => {
    const parsed = parseConfig(def.schema, config, path, `Invalid ${def.kind} "${def.type}" configuration`);
    const extra = def.check?.(parsed) ?? [];
    if (extra.length > 0)
      throw new ConfigError(
        extra.map((i) => ({ path: i.path ? (path ? `${path}.${i.path}` : i.path) : path, message: i.message })),
        `Invalid ${def.kind} "${def.type}" configuration`,
      );
    return parsed;
  };
  const factory = ((config?: z.input<S>, options?: { name?: string }): ComponentSpec<T> => ({
    factory: factory as unknown as ComponentFactory<unknown, T>,
    config: config ?? {},
    ...(options?.name ? { name: options.name } : {}),
  })) as CallableFactory<z.output<S>, z.input<S>, T>;
  Object.defineProperties(factory, {
    type: { value: def.type, enumerable: true },
    name: { value: def.type },
  });
  Object.assign(factory, {
    kind: def.kind,
    stability: def.stability,
    description: def.description,
    schema: def.schema,
    createDefaultConfig: () => validate({}),
    validate,
    create: def.create,
  });
  return factory;
}

/** JSON Schema (draft 2020-12) of a factory's config, for generated docs and editors. */
export function configJsonSchema(factory: ComponentFactory): Record<string, unknown> | undefined {
  if (!factory.schema) return undefined;
  return z.toJSONSchema(factory.schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}

export { z };
