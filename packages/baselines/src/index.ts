export * from './count-min.js';
export * from './ewma.js';
export * from './first-seen.js';
export * from './hyperloglog.js';
export * from './seasonal.js';
export * from './sketch.js';
export * from './transition.js';
export * from './util.js';
export * from './views.js';
export * from './welford.js';

import { countMinBaseline } from './count-min.js';
import { ewmaBaseline } from './ewma.js';
import { firstSeenBaseline } from './first-seen.js';
import { distinctBaseline } from './hyperloglog.js';
import { seasonalBaseline } from './seasonal.js';
import { sketchBaseline } from './sketch.js';
import { transitionBaseline } from './transition.js';
import { welfordBaseline } from './welford.js';

/** Every baseline component, by type. */
export const BASELINES = {
  ewma: ewmaBaseline,
  welford: welfordBaseline,
  seasonal: seasonalBaseline,
  quantile_sketch: sketchBaseline,
  first_seen: firstSeenBaseline,
  distinct_count: distinctBaseline,
  count_min: countMinBaseline,
  transition: transitionBaseline,
} as const;
