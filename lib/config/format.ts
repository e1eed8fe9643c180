// Values printed the way Gunicorn (Python) prints them: --print-config, --help defaults, debug config dump.

export function pyRepr(v: unknown, nested = false): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'string') return nested ? `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'` : v;
  if (typeof v === 'number') return String(v);
  if (typeof v === 'function') return `<${v.name || 'function'}()>`;
  if (Array.isArray(v)) return `[${v.map((x) => pyRepr(x, true)).join(', ')}]`;
  if (typeof v === 'object') {
    return `{${Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${pyRepr(k, true)}: ${pyRepr(x, true)}`)
      .join(', ')}}`;
  }
  return String(v);
}

/** Gunicorn's str(cfg): "name = value" lines, sorted, names padded to the longest. */
export function formatConfig(values: Record<string, unknown>): string {
  const keys = Object.keys(values).sort();
  const w = Math.max(...keys.map((k) => k.length));
  return keys.map((k) => `${k.padEnd(w)} = ${pyRepr(values[k])}`).join('\n');
}
