import type { FormatDefinition } from '@outflow/core';
import { azureFlowFormat } from './azure.js';
import { gcpFlowFormat } from './gcp.js';
import { hubbleFormat } from './hubble.js';
import { vpcFlowFormat } from './vpc.js';

export { AZURE_FORMAT, AzureFlowDecoder, type AzureFlowDecoderOptions, azureFlowFormat, createAzureFlowDecoder, sniffAzure } from './azure.js';
export type { FlowDecoderOptions } from './common.js';
export { createGcpFlowDecoder, GCP_FORMAT, GcpFlowDecoder, gcpFlowFormat, sniffGcp } from './gcp.js';
export { StreamHash } from './hash.js';
export { createHubbleDecoder, HUBBLE_FORMAT, HubbleDecoder, type HubbleDecoderOptions, hubbleFormat, sniffHubble } from './hubble.js';
export { type AddressClass, AddressClassifier, cidrProblem, DEFAULT_INTERNAL_CIDRS, isIpAddress } from './ip.js';
export {
  azureFlowLogs,
  azureFlowLogsSchema,
  gcpFlowLogs,
  gcpFlowLogsSchema,
  hubbleFlows,
  hubbleFlowsSchema,
  vpcFlowLogs,
  vpcFlowLogsSchema,
} from './receivers.js';
export {
  createVpcFlowDecoder,
  sniffVpc,
  VPC_DEFAULT_FIELDS,
  VPC_FORMAT,
  VPC_KNOWN_FIELDS,
  VpcFlowDecoder,
  type VpcFlowDecoderOptions,
  type VpcLayout,
  vpcFlowFormat,
  vpcLayout,
} from './vpc.js';

/** The formats of this package, for `outflow decode --format <name>` and format auto-detection. */
export const formats: FormatDefinition[] = [vpcFlowFormat, gcpFlowFormat, azureFlowFormat, hubbleFormat];
