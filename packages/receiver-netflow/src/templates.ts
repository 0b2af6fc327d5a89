import { elementName, Slot, slotFor, V9_SCOPE_NAMES } from './ie.js';

/** Field length meaning "variable length" in an IPFIX template (RFC 7011 §7). */
export const VARIABLE_LENGTH = 65535;

/** One field of a template, as announced. */
export interface TemplateField {
  /** Information element id (enterprise bit cleared). */
  id: number;
  /** Private enterprise number, 0 for IANA elements. */
  pen: number;
  /** Length in bytes, or VARIABLE_LENGTH. */
  length: number;
  /** Scope field of an options template. */
  scope: boolean;
}

/** A template compiled for decoding: parallel arrays walked once per record. */
export interface Template {
  readonly id: number;
  /** An options template (its data records describe the exporter, not flows). */
  readonly options: boolean;
  readonly fields: readonly TemplateField[];
  readonly scopeCount: number;
  /** Record length when every field is fixed, else 0. */
  readonly fixedLength: number;
  /** Shortest possible record (fixed fields plus one length byte per variable field). */
  readonly minLength: number;
  readonly slots: Uint8Array;
  readonly lengths: Uint16Array;
  /** Field names for `raw` output. */
  readonly names: readonly string[];
  /** Layout fingerprint: a template re-announced with the same layout is a refresh, otherwise a replacement. */
  readonly signature: string;
}

/** Why a template cannot be used, or undefined. */
export function templateProblem(fields: readonly TemplateField[], version: number): string | undefined {
  if (fields.length === 0) return 'template has no fields';
  let fixed = 0;
  let variable = false;
  for (const f of fields) {
    if (f.length === 0) return `field ${f.id} has length 0`;
    if (f.length === VARIABLE_LENGTH) {
      if (version !== 10) return `field ${f.id} has length 65535 (variable length exists only in IPFIX)`;
      variable = true;
    } else fixed += f.length;
  }
  if (!variable && fixed === 0) return 'template records have length 0';
  return undefined;
}

/** Compile announced fields into a Template. Call `templateProblem` first. */
export function compileTemplate(id: number, fields: readonly TemplateField[], options: boolean, scopeCount: number, version: number): Template {
  const n = fields.length;
  const slots = new Uint8Array(n);
  const lengths = new Uint16Array(n);
  const names: string[] = new Array(n);
  let fixed = 0;
  let min = 0;
  let variable = false;
  let signature = `${options ? 'o' : 'd'}${scopeCount}:`;
  for (let i = 0; i < n; i++) {
    const f = fields[i] as TemplateField;
    // NetFlow v9 scope types 1-5 reuse the numbers of unrelated elements: never map them.
    slots[i] = f.scope && version === 9 ? Slot.Skip : slotFor(f.id, f.pen);
    lengths[i] = f.length;
    names[i] = f.scope && version === 9 ? (V9_SCOPE_NAMES[f.id] ?? `scope${f.id}`) : elementName(f.id, f.pen);
    if (f.length === VARIABLE_LENGTH) {
      variable = true;
      min += 1;
    } else {
      fixed += f.length;
      min += f.length;
    }
    signature += `${f.pen}.${f.id}/${f.length}${f.scope ? 's' : ''},`;
  }
  return { id, options, fields, scopeCount, fixedLength: variable ? 0 : fixed, minLength: min, slots, lengths, names, signature };
}
