/** A number for humans: 4 significant digits, k/M/G/T suffixes for large magnitudes. */
export function formatNumber(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? '∞' : '-∞';
  const a = Math.abs(x);
  // [from, scale, suffix]: plain digits up to 9999, then k, M, G, T.
  const units: [number, number, string][] = [
    [1e12, 1e12, 'T'],
    [1e9, 1e9, 'G'],
    [1e6, 1e6, 'M'],
    [1e4, 1e3, 'k'],
  ];
  for (const [from, scale, suffix] of units) if (a >= from) return `${trim((x / scale).toPrecision(4))}${suffix}`;
  if (a === 0) return '0';
  if (a >= 1e-3) return trim(x.toPrecision(4));
  return x.toExponential(2);
}

function trim(text: string): string {
  return text.includes('.') && !text.includes('e') ? text.replace(/\.?0+$/, '') : text;
}

/** A duration for humans: `45 s`, `12 min`, `3.5 h`, `2 d`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  const a = Math.abs(ms);
  if (a < 1000) return `${Math.round(ms)} ms`;
  if (a < 120_000) return `${trim((ms / 1000).toPrecision(3))} s`;
  if (a < 7_200_000) return `${trim((ms / 60_000).toPrecision(3))} min`;
  if (a < 172_800_000) return `${trim((ms / 3_600_000).toPrecision(3))} h`;
  return `${trim((ms / 86_400_000).toPrecision(3))} d`;
}
