#!/usr/bin/env node
// Draws bench/ratios.svg from bench/results.json: requests per server CPU-second
// of each gunicorn-ts configuration relative to its baseline, per workload.
import fs from 'node:fs';
import path from 'node:path';

const here = import.meta.dirname;
const src = process.argv[2] ?? path.join(here, 'results.json');
const dst = process.argv[3] ?? path.join(here, 'ratios.svg');
const { meta, summary } = JSON.parse(fs.readFileSync(src, 'utf8'));
const TARGETS = { hello: 2.2, environ: 2.0, post4k: 2.0, pipelined: 3.0, close: 1.6 };
const rows = summary.filter((r) => r.baseline && r.baseline !== r.server && Number.isFinite(r.cpuRatio));
const max = Math.max(3.5, ...rows.map((r) => r.cpuRatio)) * 1.1;
const W = 760,
  left = 290,
  barH = 18,
  gap = 8,
  top = 50;
const H = top + rows.length * (barH + gap) + 50;
const x = (v) => left + (v / max) * (W - left - 40);
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">\n`;
svg += `<rect width="100%" height="100%" fill="white"/>\n`;
svg += `<text x="10" y="20" font-size="14" font-weight="bold">Requests per server CPU-second, relative to the baseline (median of ${meta.rounds} rounds)</text>\n`;
svg += `<text x="10" y="38" fill="#555">${esc(meta.date.slice(0, 10))} · ${esc(meta.machine)} · node ${esc(meta.node)}</text>\n`;
for (let v = 0; v <= max; v += 0.5) {
  svg += `<line x1="${x(v)}" y1="${top - 5}" x2="${x(v)}" y2="${H - 40}" stroke="${v === 1 ? '#999' : '#eee'}"/>\n`;
  svg += `<text x="${x(v)}" y="${H - 25}" text-anchor="middle" fill="#555">${v.toFixed(1)}×</text>\n`;
}
rows.forEach((r, i) => {
  const y = top + i * (barH + gap);
  const target = r.baseline === 'node:http' ? TARGETS[r.workload] : undefined;
  const color = target === undefined ? '#6a8caf' : r.cpuRatio >= target ? '#3c8c4c' : '#c07830';
  svg += `<text x="${left - 8}" y="${y + 13}" text-anchor="end">${esc(`${r.workload} · ${r.server}`)}</text>\n`;
  svg += `<rect x="${left}" y="${y}" width="${Math.max(1, x(r.cpuRatio) - left)}" height="${barH}" fill="${color}"/>\n`;
  svg += `<text x="${x(r.cpuRatio) + 4}" y="${y + 13}">${r.cpuRatio.toFixed(2)}×${r.baseline !== 'node:http' ? ` vs ${esc(r.baseline)}` : ''}</text>\n`;
  if (target !== undefined)
    svg += `<line x1="${x(target)}" y1="${y - 2}" x2="${x(target)}" y2="${y + barH + 2}" stroke="black" stroke-dasharray="3,2"/>\n`;
});
svg += `<text x="10" y="${H - 8}" fill="#555">dashed: issue 4 target · green: target met · orange: not met · blue: no target</text>\n`;
svg += '</svg>\n';
fs.writeFileSync(dst, svg);
console.log(`wrote ${path.relative(process.cwd(), dst)}`);
