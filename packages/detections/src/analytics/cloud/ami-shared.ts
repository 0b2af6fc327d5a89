import { z } from '@outflow/core';
import { ATTACK, adjustSeverity, analyticRule, defineAnalytic } from '../../analytic.js';
import { str } from '../../util/json.js';
import { cloudFinding, describeActor, externalGrantees, type Grantee, labels, permissionChanges, resourceOwner, succeeded } from './common.js';

const params = z
  .object({
    /** Accounts that receive AMIs when they are published on AWS Marketplace (the `aws-marketplace` owner alias). */
    marketplaceAccounts: z.array(z.string().regex(/^\d{12}$/)).default(['679593333241']),
  })
  .strict();

/**
 * 2. An AMI's `launchPermission` is opened to an account we do not own, an
 * outside organisation, or everyone. Shares made for AWS Marketplace
 * publication are excluded.
 */
export const amiShared = defineAnalytic<z.output<typeof params>>({
  id: 'ami_shared',
  title: 'AMI shared with an external account',
  description: 'ModifyImageAttribute adds launchPermission for an account or organisation outside ours, or for everyone (Marketplace publishing excluded).',
  severity: 'high',
  attack: ATTACK.T1537,
  relatedAttack: [ATTACK.T1578],
  kinds: ['cloud_api_call'],
  dataSources: ['AWS CloudTrail management events (ec2.amazonaws.com)'],
  dedupKeyDescription: 'owner account + image id + external grantees',
  status: 'test',
  params,
  defaultExceptions: [
    {
      id: 'image-builder-distribution',
      match: {
        'attributes.user.id': { glob: 'arn:aws:sts::*:assumed-role/AWSServiceRoleForImageBuilder/*' },
        'attributes.aws.share.public': 'false',
      },
      reason: 'EC2 Image Builder distribution configurations share new AMIs with the accounts listed in the pipeline; review the distribution list instead.',
      owner: 'outflow',
    },
  ],
  response: {
    investigate: [
      'Confirm who made the call and whether the image is meant for distribution (Image Builder, Marketplace, a partner).',
      'Check the target accounts or organisations (aws.share.grantees) against the organisation and partner lists.',
    ],
    contain: [
      'Remove the permission: aws ec2 modify-image-attribute --image-id <id> --launch-permission "Remove=[{UserId=<account>}]" (or Group=all).',
      'Enable AMI block public access in the region.',
    ],
    analyse: ['Find what the image contains (baked credentials, application data, keys) and which snapshots back it.'],
    remediate: ['Restrict ec2:ModifyImageAttribute with an SCP; share images through Image Builder distribution lists only.'],
  },
  create(env) {
    const marketplace = new Set(env.params.marketplaceAccounts);
    return analyticRule(env, {
      kinds: ['cloud_api_call'],
      match(event) {
        if (event.operation !== 'ModifyImageAttribute' || !succeeded(event)) return undefined;
        if (event.actor.invokedBy?.includes('marketplace')) return undefined;
        const { added } = permissionChanges(event.request, 'launchPermission');
        const candidates = added.filter((g: Grantee) => !(g.kind === 'account' && marketplace.has(g.id)));
        if (candidates.length === 0) return undefined;
        const owner = resourceOwner(event);
        const { external, public: pub } = externalGrantees(env, candidates, owner);
        if (external.length === 0) return undefined;
        const image = str((event.request as { imageId?: unknown }).imageId) ?? 'unknown-image';
        const grantees = labels(external);
        return cloudFinding(event, {
          severity: pub ? adjustSeverity(env.severity, 1) : env.severity,
          dedupKey: `${owner ?? ''}|${image}|${grantees.join(',')}`,
          summary: pub
            ? `AMI ${image} of account ${owner} was made public: anyone can launch it and read the disks it was built from.`
            : `AMI ${image} of account ${owner} was shared with ${grantees.join(', ')}, outside the organisation: they can launch it and copy its disks.`,
          observed: `${describeActor(event.actor)} called ModifyImageAttribute adding launchPermission for ${grantees.join(', ')}`,
          expected: 'images shared only with the organisation, trusted partners, or AWS Marketplace for publication',
          reasons: [pub ? 'group "all" makes the image public' : `${grantees.join(', ')} are neither ours nor trusted partners`],
          attributes: { 'aws.ec2.image.id': image, 'aws.share.grantees': grantees, 'aws.share.public': pub },
          tags: ['image', 'share'],
        });
      },
    });
  },
});
