import {
  countMinBaseline,
  distinctBaseline,
  ewmaBaseline,
  firstSeenBaseline,
  seasonalBaseline,
  sketchBaseline,
  transitionBaseline,
  welfordBaseline,
} from '@outflow/baselines';
import { type ComponentFactory, type ComponentKind, configJsonSchema } from '@outflow/core';
import { t1537 } from '@outflow/detections';
import { consoleExporter } from '@outflow/exporter-console';
import { fileExporter } from '@outflow/exporter-file';
import { k8sQuarantine } from '@outflow/exporter-k8s-quarantine';
import { otlpLogs as otlpExporter } from '@outflow/exporter-otlp';
import { webhookExporter } from '@outflow/exporter-webhook';
import { cloudTrail } from '@outflow/receiver-aws-cloudtrail';
import { falco } from '@outflow/receiver-falco';
import { azureFlowLogs, gcpFlowLogs, hubbleFlows, vpcFlowLogs } from '@outflow/receiver-flow-logs';
import { k8sAudit } from '@outflow/receiver-k8s-audit';
import { netflow } from '@outflow/receiver-netflow';
import { otlpLogs as otlpReceiver } from '@outflow/receiver-otlp';
import { tetragon } from '@outflow/receiver-tetragon';
import {
  distinctZScorer,
  noveltyScorer,
  outOfRangeScorer,
  quantileExceedanceScorer,
  rarityScorer,
  robustZScorer,
  thresholdScorer,
  transitionSurpriseScorer,
  zScoreScorer,
} from '@outflow/scorers';

/** Where each component comes from, for docs and error messages. */
export interface RegisteredComponent {
  factory: ComponentFactory;
  package: string;
  /** The exported name of the factory in its package. */
  exportName: string;
}

const entry = (factory: unknown, pkg: string, exportName: string): RegisteredComponent => ({ factory: factory as ComponentFactory, package: pkg, exportName });

/** Every component shipped with Outflow, by kind, in documentation order. */
export const REGISTRY: readonly RegisteredComponent[] = [
  entry(k8sAudit, '@outflow/receiver-k8s-audit', 'k8sAudit'),
  entry(cloudTrail, '@outflow/receiver-aws-cloudtrail', 'cloudTrail'),
  entry(vpcFlowLogs, '@outflow/receiver-flow-logs', 'vpcFlowLogs'),
  entry(gcpFlowLogs, '@outflow/receiver-flow-logs', 'gcpFlowLogs'),
  entry(azureFlowLogs, '@outflow/receiver-flow-logs', 'azureFlowLogs'),
  entry(hubbleFlows, '@outflow/receiver-flow-logs', 'hubbleFlows'),
  entry(falco, '@outflow/receiver-falco', 'falco'),
  entry(tetragon, '@outflow/receiver-tetragon', 'tetragon'),
  entry(otlpReceiver, '@outflow/receiver-otlp', 'otlpLogs'),
  entry(netflow, '@outflow/receiver-netflow', 'netflow'),
  entry(t1537, '@outflow/detections', 't1537'),
  entry(consoleExporter, '@outflow/exporter-console', 'consoleExporter'),
  entry(fileExporter, '@outflow/exporter-file', 'fileExporter'),
  entry(webhookExporter, '@outflow/exporter-webhook', 'webhookExporter'),
  entry(otlpExporter, '@outflow/exporter-otlp', 'otlpLogs'),
  entry(k8sQuarantine, '@outflow/exporter-k8s-quarantine', 'k8sQuarantine'),
  entry(ewmaBaseline, '@outflow/baselines', 'ewmaBaseline'),
  entry(welfordBaseline, '@outflow/baselines', 'welfordBaseline'),
  entry(seasonalBaseline, '@outflow/baselines', 'seasonalBaseline'),
  entry(sketchBaseline, '@outflow/baselines', 'sketchBaseline'),
  entry(firstSeenBaseline, '@outflow/baselines', 'firstSeenBaseline'),
  entry(distinctBaseline, '@outflow/baselines', 'distinctBaseline'),
  entry(countMinBaseline, '@outflow/baselines', 'countMinBaseline'),
  entry(transitionBaseline, '@outflow/baselines', 'transitionBaseline'),
  entry(zScoreScorer, '@outflow/scorers', 'zScoreScorer'),
  entry(robustZScorer, '@outflow/scorers', 'robustZScorer'),
  entry(quantileExceedanceScorer, '@outflow/scorers', 'quantileExceedanceScorer'),
  entry(outOfRangeScorer, '@outflow/scorers', 'outOfRangeScorer'),
  entry(noveltyScorer, '@outflow/scorers', 'noveltyScorer'),
  entry(rarityScorer, '@outflow/scorers', 'rarityScorer'),
  entry(transitionSurpriseScorer, '@outflow/scorers', 'transitionSurpriseScorer'),
  entry(distinctZScorer, '@outflow/scorers', 'distinctZScorer'),
  entry(thresholdScorer, '@outflow/scorers', 'thresholdScorer'),
];

/** The factory of `kind` named `type`, or undefined. */
export function findComponent(kind: ComponentKind, type: string): RegisteredComponent | undefined {
  return REGISTRY.find((c) => c.factory.kind === kind && c.factory.type === type);
}

export function typesOf(kind: ComponentKind): string[] {
  return REGISTRY.filter((c) => c.factory.kind === kind).map((c) => c.factory.type);
}

export { configJsonSchema };
