/** Small helpers for reading untyped JSON (CloudTrail request parameters, Kubernetes objects). */

export type Json = Record<string, unknown>;

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A non-empty string, or undefined. */
export function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** `value` as an array: arrays as they are, a single value as a one-element array, nothing as empty. */
export function asArray(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (value === undefined || value === null) return [];
  return [value];
}

/** Property `key` of an object, or undefined. */
export function prop(value: unknown, key: string): unknown {
  return isObject(value) ? value[key] : undefined;
}

/** Follow a path of property names. */
export function path(value: unknown, ...keys: string[]): unknown {
  let v = value;
  for (const k of keys) {
    if (!isObject(v)) return undefined;
    v = v[k];
  }
  return v;
}

/** Property lookup ignoring the case of the key (CloudTrail mixes `S3Bucket` and `s3Bucket`). */
export function propIgnoreCase(value: unknown, key: string): unknown {
  if (!isObject(value)) return undefined;
  if (key in value) return value[key];
  const lower = key.toLowerCase();
  for (const k of Object.keys(value)) if (k.toLowerCase() === lower) return value[k];
  return undefined;
}

/** Parse a JSON document given as a string, or return objects as they are. Undefined when it does not parse. */
export function parseJsonValue(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

/** Epoch ms from an ISO string, a Date, or a number; undefined otherwise. */
export function toTime(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (value instanceof Date) {
    const t = value.getTime();
    return Number.isFinite(t) ? t : undefined;
  }
  if (typeof value === 'string' && value.length > 0) {
    const t = Date.parse(value);
    return Number.isFinite(t) ? t : undefined;
  }
  return undefined;
}
