/**
 * A small JSON Schema (draft 2020-12) validator for the schemas Outflow
 * publishes and checks against: the alert schema and the quarantine
 * exporter's NetworkPolicy schema. It implements the keywords those use and
 * refuses schemas with any other keyword, so nothing is silently unchecked.
 *
 * Supported: `$ref` (to `#` and `#/$defs/...`), `$defs`, `type`, `enum`,
 * `const`, `properties`, `required`, `additionalProperties`,
 * `patternProperties`, `propertyNames`, `minProperties`, `maxProperties`,
 * `items`, `minItems`, `maxItems`, `uniqueItems`, `minimum`, `maximum`,
 * `exclusiveMinimum`, `exclusiveMaximum`, `multipleOf`, `minLength`,
 * `maxLength`, `pattern`, `anyOf`, `oneOf`, `allOf`, `not`; annotations
 * (`title`, `description`, `$schema`, `$id`, `$comment`, `default`,
 * `examples`, `format`, `deprecated`, `readOnly`, `writeOnly`, `id`) are ignored.
 */

export type JsonSchema = boolean | { [keyword: string]: unknown };

export interface JsonSchemaIssue {
  /** JSON pointer of the failing value, e.g. `/spec/egress/0/ports/1/protocol`. */
  path: string;
  message: string;
}

const ANNOTATIONS = new Set([
  'title',
  'description',
  '$schema',
  '$id',
  '$comment',
  'default',
  'examples',
  'format',
  'deprecated',
  'readOnly',
  'writeOnly',
  'id',
]);
const KEYWORDS = new Set([
  '$ref',
  '$defs',
  'type',
  'enum',
  'const',
  'properties',
  'required',
  'additionalProperties',
  'patternProperties',
  'propertyNames',
  'minProperties',
  'maxProperties',
  'items',
  'minItems',
  'maxItems',
  'uniqueItems',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'pattern',
  'anyOf',
  'oneOf',
  'allOf',
  'not',
]);

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function matchesType(value: unknown, type: string): boolean {
  const actual = typeOf(value);
  if (type === 'number') return actual === 'number' || actual === 'integer';
  return actual === type;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

function pointer(path: string, key: string | number): string {
  return `${path}/${String(key).replace(/~/g, '~0').replace(/\//g, '~1')}`;
}

/** A compiled validator: validate many values against one schema. */
export class JsonSchemaValidator {
  private readonly regexes = new Map<string, RegExp>();

  constructor(private readonly root: JsonSchema) {
    this.checkKeywords(root, '#');
  }

  private checkKeywords(schema: unknown, at: string): void {
    if (typeof schema === 'boolean') return;
    if (typeof schema !== 'object' || schema === null) throw new Error(`schema at ${at} is not an object or boolean`);
    for (const [keyword, value] of Object.entries(schema)) {
      if (ANNOTATIONS.has(keyword)) continue;
      if (!KEYWORDS.has(keyword)) throw new Error(`unsupported JSON Schema keyword "${keyword}" at ${at}`);
      if (['properties', 'patternProperties', '$defs'].includes(keyword)) {
        for (const [k, sub] of Object.entries(value as object)) this.checkKeywords(sub, `${at}/${keyword}/${k}`);
      } else if (['anyOf', 'oneOf', 'allOf'].includes(keyword)) {
        for (const [i, sub] of (value as unknown[]).entries()) this.checkKeywords(sub, `${at}/${keyword}/${i}`);
      } else if (['items', 'additionalProperties', 'propertyNames', 'not'].includes(keyword) && typeof value === 'object') {
        this.checkKeywords(value, `${at}/${keyword}`);
      }
    }
  }

  private resolve(ref: string): JsonSchema {
    if (ref === '#') return this.root;
    if (!ref.startsWith('#/')) throw new Error(`only local $refs are supported, got ${ref}`);
    let node: unknown = this.root;
    for (const part of ref.slice(2).split('/')) {
      const key = decodeURIComponent(part).replace(/~1/g, '/').replace(/~0/g, '~');
      node = (node as Record<string, unknown> | undefined)?.[key];
    }
    if (node === undefined) throw new Error(`unresolvable $ref ${ref}`);
    return node as JsonSchema;
  }

  private regex(pattern: string): RegExp {
    let re = this.regexes.get(pattern);
    if (!re) {
      re = new RegExp(pattern, 'u');
      this.regexes.set(pattern, re);
    }
    return re;
  }

  /** Every problem of `value`, each with its JSON pointer. Empty when valid. */
  validate(value: unknown): JsonSchemaIssue[] {
    const issues: JsonSchemaIssue[] = [];
    this.check(this.root, value, '', issues);
    return issues;
  }

  private check(schema: JsonSchema, value: unknown, path: string, issues: JsonSchemaIssue[]): void {
    if (schema === true) return;
    if (schema === false) {
      issues.push({ path, message: 'no value is allowed here' });
      return;
    }
    const s = schema as Record<string, unknown>;
    const fail = (message: string) => issues.push({ path: path || '/', message });
    if (typeof s.$ref === 'string') this.check(this.resolve(s.$ref), value, path, issues);
    if (s.type !== undefined) {
      const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
      if (!types.some((t) => matchesType(value, t))) {
        fail(`expected ${types.join(' or ')}, got ${typeOf(value)}`);
        return;
      }
    }
    if (s.enum !== undefined && !(s.enum as unknown[]).some((e) => deepEqual(e, value))) fail(`must be one of ${JSON.stringify(s.enum)}`);
    if ('const' in s && !deepEqual(s.const, value)) fail(`must be ${JSON.stringify(s.const)}`);
    if (typeof value === 'string') {
      const length = [...value].length;
      if (typeof s.minLength === 'number' && length < s.minLength) fail(`must have at least ${s.minLength} characters`);
      if (typeof s.maxLength === 'number' && length > s.maxLength) fail(`must have at most ${s.maxLength} characters`);
      if (typeof s.pattern === 'string' && !this.regex(s.pattern).test(value)) fail(`must match ${s.pattern}`);
    }
    if (typeof value === 'number') {
      if (typeof s.minimum === 'number' && value < s.minimum) fail(`must be >= ${s.minimum}`);
      if (typeof s.maximum === 'number' && value > s.maximum) fail(`must be <= ${s.maximum}`);
      if (typeof s.exclusiveMinimum === 'number' && value <= s.exclusiveMinimum) fail(`must be > ${s.exclusiveMinimum}`);
      if (typeof s.exclusiveMaximum === 'number' && value >= s.exclusiveMaximum) fail(`must be < ${s.exclusiveMaximum}`);
      if (typeof s.multipleOf === 'number' && !Number.isInteger(value / s.multipleOf)) fail(`must be a multiple of ${s.multipleOf}`);
    }
    if (Array.isArray(value)) {
      if (typeof s.minItems === 'number' && value.length < s.minItems) fail(`must have at least ${s.minItems} items`);
      if (typeof s.maxItems === 'number' && value.length > s.maxItems) fail(`must have at most ${s.maxItems} items`);
      if (s.uniqueItems === true) {
        for (let i = 0; i < value.length; i++)
          for (let j = i + 1; j < value.length; j++) if (deepEqual(value[i], value[j])) fail(`items ${i} and ${j} are equal; items must be unique`);
      }
      if (s.items !== undefined) for (const [i, item] of value.entries()) this.check(s.items as JsonSchema, item, pointer(path, i), issues);
    }
    if (typeOf(value) === 'object') {
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj);
      if (typeof s.minProperties === 'number' && keys.length < s.minProperties) fail(`must have at least ${s.minProperties} properties`);
      if (typeof s.maxProperties === 'number' && keys.length > s.maxProperties) fail(`must have at most ${s.maxProperties} properties`);
      for (const key of (s.required as string[] | undefined) ?? []) if (!(key in obj)) fail(`missing required property "${key}"`);
      const props = (s.properties as Record<string, JsonSchema> | undefined) ?? {};
      const patterns = Object.entries((s.patternProperties as Record<string, JsonSchema> | undefined) ?? {});
      for (const key of keys) {
        const child = pointer(path, key);
        if (s.propertyNames !== undefined) this.check(s.propertyNames as JsonSchema, key, child, issues);
        let matched = false;
        if (key in props) {
          matched = true;
          this.check(props[key] as JsonSchema, obj[key], child, issues);
        }
        for (const [pattern, sub] of patterns) {
          if (this.regex(pattern).test(key)) {
            matched = true;
            this.check(sub, obj[key], child, issues);
          }
        }
        if (!matched && s.additionalProperties !== undefined) {
          if (s.additionalProperties === false) issues.push({ path: child, message: `unknown property "${key}"` });
          else this.check(s.additionalProperties as JsonSchema, obj[key], child, issues);
        }
      }
    }
    if (Array.isArray(s.allOf)) for (const sub of s.allOf as JsonSchema[]) this.check(sub, value, path, issues);
    if (Array.isArray(s.anyOf)) {
      const ok = (s.anyOf as JsonSchema[]).some((sub) => this.validateSub(sub, value, path).length === 0);
      if (!ok) fail('must match at least one of the allowed shapes (anyOf)');
    }
    if (Array.isArray(s.oneOf)) {
      const n = (s.oneOf as JsonSchema[]).filter((sub) => this.validateSub(sub, value, path).length === 0).length;
      if (n !== 1) fail(`must match exactly one of the allowed shapes (oneOf), matched ${n}`);
    }
    if (s.not !== undefined && this.validateSub(s.not as JsonSchema, value, path).length === 0) fail('must not match the excluded shape (not)');
  }

  private validateSub(schema: JsonSchema, value: unknown, path: string): JsonSchemaIssue[] {
    const issues: JsonSchemaIssue[] = [];
    this.check(schema, value, path, issues);
    return issues;
  }
}

/** Validate `value` against `schema` once. Compile a JsonSchemaValidator to validate many values. */
export function validateJsonSchema(schema: JsonSchema, value: unknown): JsonSchemaIssue[] {
  return new JsonSchemaValidator(schema).validate(value);
}
