import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  type ComponentKind,
  type ComponentSpec,
  ConfigError,
  type ConfigIssue,
  createPipeline,
  FileCheckpointStore,
  type Pipeline,
  type PipelineOptions,
  z,
  zodIssues,
} from '@outflow/core';
import { UsageError } from './cli-io.js';
import { readConfigFile } from './config-file.js';
import { INNER_FORMATS } from './formats.js';
import { findComponent, typesOf } from './registry.js';

const componentEntry = z
  .object({
    /** The component's type, e.g. `k8s_audit`, `t1537`, `webhook`. */
    type: z.string().min(1),
    /** Instance name (default: the type). */
    name: z.string().min(1).optional(),
    /** The component's own configuration (see the configuration reference). */
    config: z.unknown().optional(),
  })
  .strict();

/** The top level of a YAML/JSON pipeline file. */
export const pipelineFileSchema = z
  .object({
    name: z.string().min(1).optional(),
    receivers: z.array(componentEntry).min(1),
    detections: z.array(componentEntry).default([]),
    exporters: z.array(componentEntry).default([]),
    queue: z
      .object({ capacity: z.number().int().positive().optional(), policy: z.enum(['block', 'drop_newest', 'drop_oldest', 'refuse']).optional() })
      .strict()
      .optional(),
    watermark: z.object({ maxOutOfOrdernessMs: z.number().nonnegative().optional(), idleTimeoutMs: z.number().positive().optional() }).strict().optional(),
    dedup: z
      .union([
        z.literal(false),
        z
          .object({
            windowMs: z.number().positive().optional(),
            maxKeys: z.number().int().positive().optional(),
            maxEvidence: z.number().int().positive().optional(),
          })
          .strict(),
      ])
      .optional(),
    labels: z.record(z.string(), z.string()).optional(),
    deadLetter: z.union([z.object({ path: z.string().min(1) }).strict(), z.object({ memory: z.number().int().positive() }).strict()]).optional(),
    checkpoint: z
      .object({ path: z.string().min(1), intervalMs: z.number().int().positive().default(60_000) })
      .strict()
      .optional(),
    export: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

export type PipelineFile = z.output<typeof pipelineFileSchema>;

const KIND_OF: Record<'receivers' | 'detections' | 'exporters', ComponentKind> = { receivers: 'receiver', detections: 'detection', exporters: 'exporter' };

/**
 * Build pipeline options from a parsed YAML/JSON pipeline file. Every problem
 * (unknown keys, unknown component types, each component's own config errors)
 * is reported at once, each with its path.
 */
export function pipelineFromFile(raw: unknown, baseDir: string, extraExporters: readonly ComponentSpec[] = []): Pipeline {
  const issues: ConfigIssue[] = [];
  const parsed = pipelineFileSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(zodIssues(parsed.error), 'Invalid pipeline file');
  const file = parsed.data;
  const specs = (section: 'receivers' | 'detections' | 'exporters'): ComponentSpec[] => {
    const out: ComponentSpec[] = [];
    file[section].forEach((e, i) => {
      const found = findComponent(KIND_OF[section], e.type);
      if (!found) {
        issues.push({
          path: `${section}[${i}].type`,
          message: `unknown ${KIND_OF[section]} type "${e.type}" (known: ${typesOf(KIND_OF[section]).join(', ')})`,
        });
        return;
      }
      let config = e.config ?? {};
      // An OTLP receiver in a pipeline file decodes the bodies of every format Outflow knows (formats are code, not data).
      if (section === 'receivers' && e.type === 'otlp' && typeof config === 'object' && config !== null && !('formats' in config))
        config = { ...config, formats: [...INNER_FORMATS] };
      out.push({ factory: found.factory, config, ...(e.name ? { name: e.name } : {}) });
    });
    return out;
  };
  const receivers = specs('receivers');
  const detections = specs('detections');
  const exporters = [...specs('exporters'), ...extraExporters];
  const options: PipelineOptions = {
    ...(file.name ? { name: file.name } : {}),
    receivers: receivers as PipelineOptions['receivers'],
    detections: detections as PipelineOptions['detections'] & unknown[],
    exporters: exporters as PipelineOptions['exporters'],
    ...(file.queue ? { queue: file.queue } : {}),
    ...(file.watermark ? { watermark: file.watermark } : {}),
    ...(file.dedup !== undefined ? { dedup: file.dedup } : {}),
    ...(file.labels ? { labels: file.labels } : {}),
    ...(file.deadLetter ? { deadLetter: 'path' in file.deadLetter ? { path: resolve(baseDir, file.deadLetter.path) } : file.deadLetter } : {}),
    ...(file.checkpoint
      ? { checkpoint: { store: new FileCheckpointStore(resolve(baseDir, file.checkpoint.path)), intervalMs: file.checkpoint.intervalMs } }
      : {}),
    ...(file.export ? { export: file.export as PipelineOptions['export'] } : {}),
  };
  try {
    const pipeline = createPipeline(options);
    if (issues.length > 0) throw new ConfigError(issues, 'Invalid pipeline file');
    return pipeline;
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError([...issues, ...err.issues], 'Invalid pipeline file');
    throw err;
  }
}

/** Import a JavaScript or TypeScript module (TypeScript is transpiled next to the file so its imports resolve as written). */
async function importModule(path: string): Promise<Record<string, unknown>> {
  const ext = extname(path);
  if (ext === '.ts' || ext === '.mts' || ext === '.cts') {
    const ts = (await import('typescript')).default;
    const out = ts.transpileModule(readFileSync(path, 'utf8'), {
      fileName: path,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, sourceMap: false, inlineSourceMap: true },
    });
    const tmpDir = mkdtempSync(join(dirname(path), '.outflow-config-'));
    const js = join(tmpDir, 'config.mjs');
    // Keep relative imports working from the temporary subdirectory.
    writeFileSync(
      js,
      out.outputText.replace(/(from\s+|import\s*\(\s*)(['"])(\.\.?\/)/g, (_m, a: string, q: string, rel: string) => `${a}${q}../${rel === './' ? '' : rel}`),
    );
    try {
      return (await import(pathToFileURL(js).href)) as Record<string, unknown>;
    } finally {
      rmSync(tmpDir, { recursive: true, force: true });
    }
  }
  return (await import(pathToFileURL(path).href)) as Record<string, unknown>;
}

function isPipeline(value: unknown): value is Pipeline {
  return typeof value === 'object' && value !== null && typeof (value as Pipeline).start === 'function' && typeof (value as Pipeline).shutdown === 'function';
}

/**
 * Load a pipeline from a config file: a YAML or JSON pipeline file naming
 * components by type, or a JavaScript/TypeScript module whose default export
 * (or `pipeline` export) is a Pipeline, PipelineOptions, or a function
 * returning either.
 */
export async function loadPipeline(path: string, extraExporters: readonly ComponentSpec[] = []): Promise<Pipeline> {
  const abs = resolve(path);
  if (!existsSync(abs)) throw new Error(`cannot open ${path}`);
  const ext = extname(abs);
  if (['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts'].includes(ext)) {
    const mod = await importModule(abs);
    let value = mod.default ?? mod.pipeline;
    if (typeof value === 'function') value = await (value as () => unknown)();
    if (isPipeline(value)) {
      if (extraExporters.length > 0) {
        await value.shutdown();
        throw new UsageError(`${path} builds its own pipeline: add exporters there instead of --export (or export pipeline options)`);
      }
      return value;
    }
    if (typeof value === 'object' && value !== null && 'receivers' in value) {
      const options = value as PipelineOptions;
      return createPipeline({ ...options, exporters: [...(options.exporters ?? []), ...(extraExporters as PipelineOptions['exporters'] & unknown[])] });
    }
    throw new Error(`${path} must export (default or \`pipeline\`) a Pipeline, pipeline options, or a function returning one`);
  }
  return pipelineFromFile(readConfigFile(abs), dirname(abs), extraExporters);
}
