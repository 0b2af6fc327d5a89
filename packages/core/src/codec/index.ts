/**
 * `@outflow/core/codec`: helpers for writing decoders — field coercion, RFC 3339 timestamps, deterministic ids for
 * records without one, command-line splitting, and splitting JSON inputs (documents, lines, concatenated values).
 * Shared by every receiver package, since receivers may not depend on each other.
 */
export * from './fields.js';
export * from './json.js';
export * from './json-input.js';
export * from './json-lines.js';
