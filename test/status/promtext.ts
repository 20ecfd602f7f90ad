/**
 * A strict parser for the Prometheus text exposition format 0.0.4 (what node_exporter's textfile collector reads;
 * https://prometheus.io/docs/instrumenting/exposition_formats/#text-format-details). promtool is not installed here
 * (Debian's `prometheus` package is large), so the tests check the rules it would: the grammar of every line, HELP
 * and TYPE at most once per family and before its samples, a family's samples contiguous, no duplicate series,
 * label-value escapes, float values, a final newline. It throws on the first violation, naming the line.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
  timestamp?: number;
}

export interface MetricFamily {
  name: string;
  help?: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

export function parseExposition(text: string): Map<string, MetricFamily> {
  if (text.length && !text.endsWith('\n')) throw new Error('the exposition does not end with a newline');
  const fams = new Map<string, MetricFamily>();
  const closed = new Set<string>();
  const seen = new Set<string>();
  let current: string | undefined;
  const lines = text.split('\n').slice(0, -1);
  const family = (name: string, lineNo: number): MetricFamily => {
    if (current !== name) {
      if (closed.has(name)) throw new Error(`line ${lineNo}: family ${name} continues after another family (its lines must be together)`);
      if (current) closed.add(current);
      current = name;
    }
    let f = fams.get(name);
    if (!f) {
      f = { name, type: 'untyped', samples: [] };
      fams.set(name, f);
    }
    return f;
  };
  lines.forEach((line, i) => {
    const n = i + 1;
    if (/^\s*$/.test(line)) return;
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line);
      if (!m) return; // a plain comment
      const [, kind, name, rest = ''] = m;
      if (!NAME.test(name!)) throw new Error(`line ${n}: invalid metric name ${name}`);
      const f = family(name!, n);
      if (kind === 'HELP') {
        if (f.help !== undefined) throw new Error(`line ${n}: second HELP for ${name}`);
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ''))) throw new Error(`line ${n}: invalid escape in HELP`);
        f.help = rest.replace(/\\(\\|n)/g, (_m, c: string) => (c === 'n' ? '\n' : '\\'));
      } else {
        if (!TYPES.has(rest.trim())) throw new Error(`line ${n}: unknown TYPE ${rest}`);
        if (f.samples.length) throw new Error(`line ${n}: TYPE for ${name} after its samples`);
        if ((f as { typed?: boolean }).typed) throw new Error(`line ${n}: second TYPE for ${name}`);
        (f as { typed?: boolean }).typed = true;
        f.type = rest.trim() as MetricFamily['type'];
      }
      return;
    }
    const s = parseSample(line, n);
    const f = family(s.name, n);
    const key = `${s.name}${JSON.stringify(Object.entries(s.labels).sort())}`;
    if (seen.has(key)) throw new Error(`line ${n}: duplicate series ${line}`);
    seen.add(key);
    if (f.type === 'counter' && !(s.value >= 0)) throw new Error(`line ${n}: counter ${s.name} is negative or NaN`);
    f.samples.push(s);
  });
  for (const f of fams.values()) delete (f as { typed?: boolean }).typed;
  return fams;
}

function parseSample(line: string, n: number): Sample {
  let i = 0;
  const nameM = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
  if (!nameM) throw new Error(`line ${n}: no metric name in ${JSON.stringify(line)}`);
  const name = nameM[0];
  i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    for (;;) {
      if (line[i] === '}') {
        i++;
        break;
      }
      const lm = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i));
      if (!lm || !LABEL.test(lm[0])) throw new Error(`line ${n}: bad label name at column ${i + 1}`);
      if (lm[0].startsWith('__')) throw new Error(`line ${n}: label ${lm[0]} is reserved`);
      if (lm[0] in labels) throw new Error(`line ${n}: label ${lm[0]} repeated`);
      i += lm[0].length;
      if (line.slice(i, i + 2) !== '="') throw new Error(`line ${n}: expected =" after label ${lm[0]}`);
      i += 2;
      let v = '';
      for (;;) {
        const c = line[i];
        if (c === undefined) throw new Error(`line ${n}: unterminated label value`);
        if (c === '"') {
          i++;
          break;
        }
        if (c === '\\') {
          const e = line[i + 1];
          if (e === '\\') v += '\\';
          else if (e === '"') v += '"';
          else if (e === 'n') v += '\n';
          else throw new Error(`line ${n}: invalid escape \\${e ?? ''} in a label value`);
          i += 2;
          continue;
        }
        v += c;
        i++;
      }
      labels[lm[0]] = v;
      if (line[i] === ',') i++;
      else if (line[i] !== '}') throw new Error(`line ${n}: expected , or } at column ${i + 1}`);
    }
  }
  const rest = line.slice(i);
  const m = /^[ \t]+(\S+)(?:[ \t]+(-?\d+))?[ \t]*$/.exec(rest);
  if (!m) throw new Error(`line ${n}: expected a value after ${name} in ${JSON.stringify(line)}`);
  const value = parseValue(m[1]!, n);
  return { name, labels, value, ...(m[2] !== undefined ? { timestamp: Number(m[2]) } : {}) };
}

function parseValue(s: string, n: number): number {
  if (s === 'NaN') return NaN;
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  // Go's strconv.ParseFloat syntax, decimal form
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) throw new Error(`line ${n}: ${s} is not a float`);
  return Number(s);
}
