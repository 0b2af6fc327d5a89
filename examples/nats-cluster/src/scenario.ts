import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DecodeError, FormatDefinition, OutflowEvent } from '@outflow/core';
import { formats as cloudTrailFormats } from '@outflow/receiver-aws-cloudtrail';
import { formats as falcoFormats } from '@outflow/receiver-falco';
import { formats as flowLogFormats } from '@outflow/receiver-flow-logs';
import { formats as auditFormats } from '@outflow/receiver-k8s-audit';
import { formats as tetragonFormats } from '@outflow/receiver-tetragon';
import { DEFAULT_SCENARIOS, type GeneratedTelemetry, generateScenario, type ScenarioFiles, writeScenario } from '@outflow/testkit';

const FORMATS: readonly FormatDefinition[] = [...auditFormats, ...cloudTrailFormats, ...flowLogFormats, ...falcoFormats, ...tetragonFormats];

function format(name: string): FormatDefinition {
  const f = FORMATS.find((x) => x.name === name);
  if (!f) throw new Error(`no receiver format named ${name}`);
  return f;
}

/** The scenario's source directories and the format each is written in (as `outflow replay` would detect them). */
export function inputs(files: ScenarioFiles): { dir: string; format: FormatDefinition }[] {
  return [
    { dir: files.k8s_audit, format: format('k8s_audit') },
    { dir: files.aws_cloudtrail, format: format('aws_cloudtrail') },
    { dir: files.aws_vpc_flow, format: format('aws_vpc_flow') },
    { dir: files.falco, format: format('falco') },
    { dir: files.tetragon, format: format('tetragon') },
  ];
}

export interface Decoded {
  events: OutflowEvent[];
  errors: DecodeError[];
}

/**
 * Decode every file of the scenario with its receiver's format and merge the
 * sources in event time (a stable sort: records with equal times keep their
 * source order), as `outflow replay` hands them to a pipeline.
 */
export function decodeScenario(files: ScenarioFiles, observedTime = Date.now()): Decoded {
  const events: OutflowEvent[] = [];
  const errors: DecodeError[] = [];
  const sink = { event: (e: OutflowEvent) => events.push(e), error: (e: DecodeError) => errors.push(e) };
  for (const { dir, format: f } of inputs(files)) {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const text = readFileSync(path, 'utf8');
      if (f.framing === 'document') {
        f.decoder.decode(text, sink, { observedTime, location: path, line: 1 });
        continue;
      }
      const lines = text.split('\n');
      const firstLine = lines[0];
      lines.forEach((line, i) => {
        if (line.length === 0) return;
        f.decoder.decode(line, sink, { observedTime, location: path, line: i + 1, ...(firstLine !== undefined ? { firstLine } : {}) });
      });
    }
  }
  const order = new Map(events.map((e, i) => [e, i]));
  events.sort((a, b) => a.time - b.time || (order.get(a) as number) - (order.get(b) as number));
  return { events, errors };
}

/** Generate the demo scenario (the one `outflow demo` replays) and write it as the sources would deliver it. */
export function writeDemoScenario(
  dir: string,
  options: { seed?: number; hours?: number; workloads?: number } = {},
): { telemetry: GeneratedTelemetry; files: ScenarioFiles } {
  const telemetry = generateScenario({
    seed: options.seed ?? 1537,
    hours: options.hours ?? 8,
    scenarios: DEFAULT_SCENARIOS,
    ...(options.workloads ? { workloads: options.workloads } : {}),
  });
  return { telemetry, files: writeScenario(dir, telemetry) };
}
