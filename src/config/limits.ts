import { isMap, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import { AgentError } from '../core/errors.js';
import { binaryOffset } from '../core/text.js';

/**
 * Limits on agent.yaml, so a hostile or broken config is refused at once instead of costing minutes and memory
 * (issue 12: a 21 MB file with 200,000 keys took 393 s). A real config is a few KiB (the fully annotated
 * config/agent.example.yaml is under 4 KiB):
 *  - CONFIG_MAX_BYTES (64 KiB, 16 times the annotated example): checked on the file's size before it is read, and
 *    on what was read. The YAML parser costs up to ~8 µs per byte on a cold start even without its (quadratic)
 *    duplicate-key check, so the largest accepted file still parses in about half a second.
 *  - YAML_MAX_ALIASES: how many alias expansions toJS may make; an "alias bomb" (a billion laughs) needs thousands.
 *  - YAML_MAX_DEPTH: nesting of mappings and sequences; the schema's deepest path is 4 levels.
 *  - PROBLEMS_SHOWN / KEYS_SHOWN: how many problems, and unknown keys per problem, a message lists before
 *    "and N more", so the error stays a readable screenful.
 */
export const CONFIG_MAX_BYTES = 64 * 1024;
export const YAML_MAX_ALIASES = 50;
export const YAML_MAX_DEPTH = 16;
export const PROBLEMS_SHOWN = 20;
export const KEYS_SHOWN = 10;

function invalid(file: string, message: string, hint: string, details: Record<string, unknown> = {}): AgentError {
  // "agent.yaml is …" reads as a sentence; anything else follows a colon
  const sep = /^(is|has|nests|uses) /.test(message) ? ' ' : ': ';
  return new AgentError({ code: 'CONFIG_INVALID', component: 'config', message: `${file}${sep}${message}`, hint, details: { file, ...details } });
}

/** The size rule, on a byte count (the file's stat size, then what was actually read). */
export function checkConfigSize(file: string, bytes: number): void {
  if (bytes > CONFIG_MAX_BYTES) {
    throw invalid(
      file,
      `is ${bytes} bytes, more than the ${CONFIG_MAX_BYTES}-byte limit for a config`,
      'an agent config is a few KiB: check that --config points at agent.yaml (see config/agent.example.yaml)',
      { bytes, limit: CONFIG_MAX_BYTES },
    );
  }
}

/**
 * Text → plain JS value, within the limits. Duplicate keys are found here in one pass instead of by the parser
 * (its uniqueKeys check compares every key with every other: 40,000 keys took 30 s).
 */
export function parseConfigYaml(file: string, text: string): unknown {
  checkConfigSize(file, Buffer.byteLength(text, 'utf8'));
  const bin = binaryOffset(text);
  if (bin !== undefined) {
    throw invalid(file, `is not a text file (binary data at character ${bin})`, 'the config is YAML text: check that --config points at agent.yaml');
  }
  // The parser recurses on flow collections ([[[[…) and overflows its stack long before the size limit.
  const flow = flowDepth(text);
  if (flow > YAML_MAX_DEPTH) {
    throw invalid(file, `nests [ ] or { } deeper than ${YAML_MAX_DEPTH} levels`, 'a config needs at most 4 levels');
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: false });
  if (doc.errors.length) {
    const shown = doc.errors.slice(0, 3).map((e) => e.message.split('\n')[0]);
    const more = doc.errors.length > 3 ? `; and ${doc.errors.length - 3} more` : '';
    throw invalid(file, `is not valid YAML: ${shown.join('; ')}${more}`, 'fix the YAML syntax at the line given');
  }
  checkShape(file, doc);
  try {
    return doc.toJS({ maxAliasCount: YAML_MAX_ALIASES });
  } catch (e) {
    if (/unresolved alias|undefined alias/i.test(String(e))) {
      throw invalid(file, 'is not valid YAML: it uses an alias (*name) with no anchor (&name) before it', 'define the anchor or write the value out');
    }
    if (/excessive alias count/i.test(String(e))) {
      throw invalid(
        file,
        `its YAML aliases (*name) expand into too many nodes (more than ${YAML_MAX_ALIASES} expansions; an "alias bomb")`,
        'write the values out instead of nesting aliases',
      );
    }
    throw invalid(file, 'cannot be read as YAML data', 'fix the YAML syntax', { error: String(e) });
  }
}

/** Deepest nesting of flow brackets, outside quoted strings and comments (a linear scan, no parsing). */
export function flowDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let quote: string | undefined;
  let comment = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\n') {
      comment = false;
      continue;
    }
    if (comment) continue;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) comment = true;
    else if (c === '[' || c === '{') max = Math.max(max, ++depth);
    else if ((c === ']' || c === '}') && depth > 0) depth--;
  }
  return max;
}

/** Duplicate keys and nesting depth, walking the document once. */
function checkShape(file: string, doc: Document): void {
  const walk = (node: unknown, where: string[], depth: number): void => {
    if (depth > YAML_MAX_DEPTH) {
      throw invalid(file, `nests deeper than ${YAML_MAX_DEPTH} levels at ${where.join('.') || '(top level)'}`, 'a config needs at most 4 levels');
    }
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : '(complex key)';
        if (seen.has(key)) {
          const at = [...where, key].join('.');
          throw invalid(file, `${at} is given twice`, `keep one ${key}: under ${where.join('.') || 'the top level'}`, { field: at });
        }
        seen.add(key);
        walk(pair.value, [...where, key], depth + 1);
      }
    } else if (isSeq(node)) {
      for (const [i, item] of node.items.entries()) walk(item, [...where, String(i)], depth + 1);
    }
  };
  walk(doc.contents as Node | null, [], 0);
}

/** "a, b, c and 7 more" */
export function listCapped(items: string[], shown: number): string {
  if (items.length <= shown) return items.join(', ');
  return `${items.slice(0, shown).join(', ')} and ${items.length - shown} more`;
}

/** The lines of a problem list, capped at PROBLEMS_SHOWN with a last "… and N more" line. */
export function cappedProblems(problems: string[]): string[] {
  if (problems.length <= PROBLEMS_SHOWN) return problems;
  return [...problems.slice(0, PROBLEMS_SHOWN), `… and ${problems.length - PROBLEMS_SHOWN} more problem(s)`];
}
