import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemoryLogRecordExporter, LoggerProvider, type ReadableLogRecord, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';

/** The SDK's AnyValue type for log bodies, without depending on @opentelemetry/api-logs. */
type LogBody = Parameters<ReturnType<LoggerProvider['getLogger']>['emit']>[0]['body'];

/** Log records made by the real OpenTelemetry JS SDK, with the given bodies, under a Kubernetes resource. */
export async function sdkLogRecords(bodies: LogBody[], resource: Record<string, string> = {}): Promise<ReadableLogRecord[]> {
  const exporter = new InMemoryLogRecordExporter();
  const provider = new LoggerProvider({ resource: resourceFromAttributes(resource), processors: [new SimpleLogRecordProcessor({ exporter })] });
  const logger = provider.getLogger('outflow-test');
  for (const [i, body] of bodies.entries()) logger.emit({ body, timestamp: Date.UTC(2024, 5, 12, 9, 0, i), severityNumber: 9 });
  await provider.forceFlush();
  const records = [...exporter.getFinishedLogRecords()];
  await provider.shutdown();
  return records;
}
