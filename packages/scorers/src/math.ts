/**
 * Complementary error function (Numerical Recipes' Chebyshev fit, fractional
 * error below 1.2e-7 everywhere, so tail probabilities stay accurate far out).
 */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** P(Z > z) for a standard normal Z. */
export function normalTail(z: number): number {
  if (z === Number.POSITIVE_INFINITY) return 0;
  if (z === Number.NEGATIVE_INFINITY) return 1;
  return 0.5 * erfc(z / Math.SQRT2);
}

/** Two-sided confidence of a z value: P(|Z| < z) = 1 − 2·P(Z > z); 0 for z <= 0. */
export function zProbability(z: number): number {
  if (!(z > 0)) return 0;
  const p = 1 - 2 * normalTail(z);
  return p < 0 ? 0 : Math.min(p, 1);
}

/** Numenta's log scale for probabilities near 1: 0.5 at p = 1 − 1e-5, 1 at p = 1. */
export function logScale(probability: number): number {
  const tail = 1 - probability;
  const v = Math.log(Math.max(tail, 0) + 1e-10) / Math.log(1e-10);
  return v < 0 ? 0 : Math.min(v, 1);
}

/** Clip to [0, 1]; NaN becomes 0. */
export function clamp01(x: number): number {
  return Number.isNaN(x) ? 0 : Math.min(1, Math.max(0, x));
}
