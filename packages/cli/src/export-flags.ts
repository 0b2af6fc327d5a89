import { type ComponentFactory, type ComponentSpec, ConfigError, type Exporter } from '@outflow/core';
import { consoleExporter } from '@outflow/exporter-console';
import { fileExporter } from '@outflow/exporter-file';
import { otlpLogs } from '@outflow/exporter-otlp';
import { webhookExporter } from '@outflow/exporter-webhook';
import { UsageError } from './cli-io.js';

/** The `--export` types, in the order the help lists them. */
export const EXPORT_TYPES = ['console', 'file', 'otlp', 'webhook'] as const;
export type ExportType = (typeof EXPORT_TYPES)[number];

/** Default OTLP/HTTP logs endpoint for a bare `--export otlp`. */
export const DEFAULT_OTLP_URL = 'http://localhost:4318/v1/logs';

/** Help text for the repeatable `--export` option. */
export const EXPORT_FLAG_HELP = [
  '  --export <type>[=<target>]  where alerts go (repeatable); without it, alerts go to stdout as JSON lines',
  '      console               readable lines with explanations on stdout (colour on a TTY)',
  '      file=<path>           JSON lines appended to <path> (rotated at 100 MiB, 5 files kept)',
  `      otlp[=<url>]          OpenTelemetry log records over OTLP/HTTP (default ${DEFAULT_OTLP_URL})`,
  '      webhook=<url>         JSON POST per alert, with an Idempotency-Key header',
].join('\n');

function isHttpUrl(value: string): boolean {
  try {
    const u = new URL(value);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.host !== '';
  } catch {
    return false;
  }
}

function spec(factory: ComponentFactory<unknown, Exporter>, config: unknown, flag: string): ComponentSpec<Exporter> {
  try {
    factory.validate(config);
  } catch (err) {
    if (err instanceof ConfigError)
      throw new UsageError(`--export ${flag}: ${err.issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')}`);
    throw err;
  }
  return { factory, config };
}

/**
 * Parse repeatable `--export <type>[=<target>]` values into exporter specs
 * for `createPipeline`: `console`, `file=<path>`, `otlp[=<url>]`,
 * `webhook=<url>`. Throws UsageError for an unknown type, a missing or
 * unexpected target, or an invalid URL. Repeating a type gives several
 * exporters (the pipeline names them `webhook`, `webhook/2`, ...).
 */
export function exportersFromFlags(values: string[]): ComponentSpec<Exporter>[] {
  return values.map((raw) => {
    const flag = raw.trim();
    const eq = flag.indexOf('=');
    const type = (eq < 0 ? flag : flag.slice(0, eq)).trim().toLowerCase();
    const target = eq < 0 ? undefined : flag.slice(eq + 1).trim();
    const need = (what: string): string => {
      if (!target) throw new UsageError(`--export ${type} needs a target: --export ${type}=<${what}>`);
      return target;
    };
    switch (type) {
      case 'console':
        if (target !== undefined) throw new UsageError(`--export console takes no target (got "${flag}")`);
        return spec(consoleExporter as ComponentFactory<unknown, Exporter>, {}, flag);
      case 'file':
        return spec(fileExporter as ComponentFactory<unknown, Exporter>, { path: need('path') }, flag);
      case 'otlp': {
        if (target === '') throw new UsageError('--export otlp= needs a URL, or use --export otlp for the default');
        const url = target ?? DEFAULT_OTLP_URL;
        if (!isHttpUrl(url)) throw new UsageError(`--export otlp: "${url}" is not an http:// or https:// URL`);
        return spec(otlpLogs as ComponentFactory<unknown, Exporter>, { url }, flag);
      }
      case 'webhook': {
        const url = need('url');
        if (!isHttpUrl(url)) throw new UsageError(`--export webhook: "${url}" is not an http:// or https:// URL`);
        return spec(webhookExporter as ComponentFactory<unknown, Exporter>, { url }, flag);
      }
      default:
        throw new UsageError(
          `--export: unknown type "${type || flag}"; expected ${EXPORT_TYPES.join(', ')} (e.g. --export webhook=https://hooks.example/alerts)`,
        );
    }
  });
}
