import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Decoder } from '@outflow/core';
import { describe, expect, it } from 'vitest';
import { AzureFlowDecoder, GcpFlowDecoder, HubbleDecoder, VpcFlowDecoder } from '../src/index.js';
import { decodeFile, fixture, plain, skipRecorder, TESTDATA } from './helpers.js';

/**
 * Golden tests: each fixture decoded as the file receiver would feed it, compared
 * with the checked-in expected events, errors (with reasons) and skip counts in
 * testdata/golden/. Regenerate deliberately with UPDATE_GOLDEN=1 and review the diff.
 */
const CASES: { name: string; file: string; framing: 'lines' | 'document'; make(onSkip: (r: string) => void): Decoder<string> }[] = [
  { name: 'vpc-v2-default', file: 'aws_vpc/v2-default.log', framing: 'lines', make: (onSkip) => new VpcFlowDecoder({ onSkip }) },
  { name: 'vpc-v5-custom', file: 'aws_vpc/v5-custom.log', framing: 'lines', make: (onSkip) => new VpcFlowDecoder({ onSkip }) },
  { name: 'vpc-v7-ecs', file: 'aws_vpc/v7-ecs.log', framing: 'lines', make: (onSkip) => new VpcFlowDecoder({ onSkip }) },
  { name: 'vpc-v8-reject-reason', file: 'aws_vpc/v8-reject-reason.log', framing: 'lines', make: (onSkip) => new VpcFlowDecoder({ onSkip }) },
  { name: 'vpc-panther-derived', file: 'aws_vpc/panther-derived.log', framing: 'lines', make: (onSkip) => new VpcFlowDecoder({ onSkip }) },
  { name: 'vpc-cloudwatch-export', file: 'aws_vpc/cloudwatch-export.log', framing: 'lines', make: (onSkip) => new VpcFlowDecoder({ onSkip }) },
  { name: 'vpc-cloudwatch-subscription', file: 'aws_vpc/cloudwatch-subscription.jsonl', framing: 'lines', make: (onSkip) => new VpcFlowDecoder({ onSkip }) },
  { name: 'gcp-vpc-flows', file: 'gcp/vpc_flows.jsonl', framing: 'lines', make: (onSkip) => new GcpFlowDecoder({ onSkip }) },
  { name: 'gcp-gcloud-read', file: 'gcp/gcloud-read.json', framing: 'document', make: (onSkip) => new GcpFlowDecoder({ onSkip }) },
  { name: 'azure-nsg-v1', file: 'azure/nsg-v1.json', framing: 'document', make: (onSkip) => new AzureFlowDecoder({ onSkip }) },
  { name: 'azure-nsg-v2', file: 'azure/nsg-v2.json', framing: 'document', make: (onSkip) => new AzureFlowDecoder({ onSkip }) },
  { name: 'azure-vnet', file: 'azure/vnet.json', framing: 'document', make: (onSkip) => new AzureFlowDecoder({ onSkip }) },
  { name: 'azure-truncated', file: 'azure/truncated.json', framing: 'document', make: (onSkip) => new AzureFlowDecoder({ onSkip }) },
  { name: 'hubble-cilium-docs', file: 'hubble/cilium-docs-exporter.jsonl', framing: 'lines', make: (onSkip) => new HubbleDecoder({ onSkip }) },
  { name: 'hubble-observe', file: 'hubble/observe-jsonpb.jsonl', framing: 'lines', make: (onSkip) => new HubbleDecoder({ onSkip }) },
  {
    name: 'hubble-observe-l7-attributes',
    file: 'hubble/observe-jsonpb.jsonl',
    framing: 'lines',
    make: (onSkip) => new HubbleDecoder({ onSkip, l7: 'attributes' }),
  },
];

describe('golden files', () => {
  for (const c of CASES) {
    it(`${c.name}: ${c.file}`, () => {
      const rec = skipRecorder();
      const result = plain(decodeFile(c.make(rec.onSkip), c.framing, fixture(c.file), `testdata/${c.file}`, rec.skipped));
      const path = join(TESTDATA, 'golden', `${c.name}.json`);
      if (process.env.UPDATE_GOLDEN === '1') {
        mkdirSync(join(TESTDATA, 'golden'), { recursive: true });
        writeFileSync(path, `${JSON.stringify(result, null, 2)}\n`);
      }
      expect(existsSync(path), `${path} is missing: run with UPDATE_GOLDEN=1 and review it`).toBe(true);
      expect(result).toEqual(JSON.parse(fixture(`golden/${c.name}.json`)));
      // decoding twice gives the same ids (replays are idempotent)
      const again = plain(
        decodeFile(
          c.make(() => {}),
          c.framing,
          fixture(c.file),
          `testdata/${c.file}`,
        ),
      );
      expect(again.events.map((e) => e.sourceId)).toEqual(result.events.map((e) => e.sourceId));
    });
  }
});
