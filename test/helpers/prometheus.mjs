// A strict parser of the Prometheus text exposition format (version 0.0.4),
// for the tests: it throws on anything a scraper would reject or mis-read.
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(s, line) {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`bad value ${JSON.stringify(s)} in: ${line}`);
  return Number(s);
}

/** labels text after '{': returns [labels, index after '}'] */
function parseLabels(line, i) {
  const labels = {};
  for (;;) {
    if (line[i] === '}') return [labels, i + 1];
    const eq = line.indexOf('=', i);
    if (eq < 0) throw new Error(`bad labels in: ${line}`);
    const name = line.slice(i, eq).trim();
    if (!LABEL.test(name)) throw new Error(`bad label name ${JSON.stringify(name)} in: ${line}`);
    if (name in labels) throw new Error(`duplicate label ${name} in: ${line}`);
    i = eq + 1;
    if (line[i] !== '"') throw new Error(`label value not quoted in: ${line}`);
    i++;
    let v = '';
    for (;;) {
      if (i >= line.length) throw new Error(`unterminated label value in: ${line}`);
      const c = line[i];
      if (c === '\\') {
        const n = line[i + 1];
        if (n === '\\') v += '\\';
        else if (n === '"') v += '"';
        else if (n === 'n') v += '\n';
        else throw new Error(`bad escape \\${n} in: ${line}`);
        i += 2;
        continue;
      }
      if (c === '"') {
        i++;
        break;
      }
      if (c === '\n') throw new Error(`newline in label value: ${line}`);
      v += c;
      i++;
    }
    labels[name] = v;
    if (line[i] === ',') i++;
    else if (line[i] !== '}') throw new Error(`expected , or } in: ${line}`);
  }
}

/**
 * Returns Map(family name -> {type, help, samples: [{name, labels, value}]}).
 * Checks: names, one TYPE per family before its samples, no duplicate series,
 * histogram buckets cumulative with le="+Inf" equal to _count.
 */
export function parsePrometheus(text) {
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  const families = new Map();
  const seen = new Set();
  const familyOf = (name) => {
    for (const suffix of ['_bucket', '_sum', '_count', '']) {
      if (suffix && !name.endsWith(suffix)) continue;
      const base = suffix ? name.slice(0, -suffix.length) : name;
      const f = families.get(base);
      if (f && (suffix === '' || f.type === 'histogram' || f.type === 'summary')) return f;
    }
    return null;
  };
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) continue; // a plain comment
      if (!NAME.test(m[2])) throw new Error(`bad metric name in: ${line}`);
      const f = families.get(m[2]) ?? { type: 'untyped', help: null, samples: [], typed: false };
      if (m[1] === 'TYPE') {
        if (f.typed) throw new Error(`second TYPE for ${m[2]}`);
        if (f.samples.length > 0) throw new Error(`TYPE after samples for ${m[2]}`);
        if (!TYPES.has(m[3])) throw new Error(`unknown type in: ${line}`);
        f.type = m[3];
        f.typed = true;
      } else {
        if (f.help !== null) throw new Error(`second HELP for ${m[2]}`);
        f.help = m[3];
      }
      families.set(m[2], f);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
    if (!m) throw new Error(`bad sample line: ${line}`);
    const name = m[1];
    let i = name.length;
    let labels = {};
    if (line[i] === '{') [labels, i] = parseLabels(line, i + 1);
    if (line[i] !== ' ') throw new Error(`expected a space before the value in: ${line}`);
    const rest = line
      .slice(i + 1)
      .trim()
      .split(/\s+/);
    if (rest.length > 2) throw new Error(`trailing text in: ${line}`);
    const value = parseValue(rest[0], line);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`duplicate series: ${line}`);
    seen.add(key);
    let f = familyOf(name);
    if (f === null) {
      f = { type: 'untyped', help: null, samples: [], typed: false };
      families.set(name, f);
    }
    f.samples.push({ name, labels, value });
  }
  for (const [fname, f] of families) {
    if (f.type !== 'histogram') continue;
    const buckets = f.samples.filter((s) => s.name === `${fname}_bucket`);
    const les = buckets.map((b) => parseValue(b.labels.le, `le of ${fname}`));
    for (let k = 1; k < buckets.length; k++) {
      if (!(les[k] > les[k - 1])) throw new Error(`${fname}: buckets not in increasing le order`);
      if (buckets[k].value < buckets[k - 1].value) throw new Error(`${fname}: buckets not cumulative`);
    }
    if (les.at(-1) !== Infinity) throw new Error(`${fname}: no +Inf bucket`);
    const count = f.samples.find((s) => s.name === `${fname}_count`);
    if (!count || count.value !== buckets.at(-1).value)
      throw new Error(`${fname}: _count differs from the +Inf bucket`);
    if (!f.samples.some((s) => s.name === `${fname}_sum`)) throw new Error(`${fname}: no _sum`);
  }
  return families;
}

/** the value of one series (labels must match exactly), or undefined */
export function sample(families, family, name, labels = {}) {
  const f = families.get(family);
  const want = JSON.stringify(Object.entries(labels).sort());
  return f?.samples.find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want)?.value;
}
