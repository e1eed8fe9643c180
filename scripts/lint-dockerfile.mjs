#!/usr/bin/env node
// A small Dockerfile lint (no container engine here): the rules this project's image must keep.
//   node scripts/lint-dockerfile.mjs [Dockerfile]     exit 0 clean, 1 with one `FILE:LINE: problem` per finding
// Rules: FROM images pinned to a tag that is not `latest`; CMD, ENTRYPOINT and HEALTHCHECK in exec form (the
// server is PID 1 and gets the stop signal itself, not through `sh -c`); the final stage runs as a non-root
// USER; it EXPOSEs a port, sets ENV PORT and STOPSIGNAL SIGTERM; COPY rather than ADD; a .dockerignore beside
// it keeps build output and node_modules out of the build context.
import fs from 'node:fs';
import path from 'node:path';

export function lintDockerfile(text, { dockerignore = null, file = 'Dockerfile' } = {}) {
  const problems = [];
  const say = (line, msg) => problems.push(`${file}:${line}: ${msg}`);
  // logical instructions: join continuation lines, drop comments and blank lines
  const instrs = [];
  let cur = null;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (cur === null && (line === '' || line.startsWith('#'))) return;
    if (cur !== null && line.startsWith('#')) return;
    const body = line.endsWith('\\') ? line.slice(0, -1) : line;
    if (cur === null) cur = { line: i + 1, text: body };
    else cur.text += ` ${body}`;
    if (!line.endsWith('\\')) {
      instrs.push(cur);
      cur = null;
    }
  });
  if (cur !== null) instrs.push(cur);

  const args = new Map();
  const stages = [];
  for (const ins of instrs) {
    const m = /^(\w+)\s*(.*)$/s.exec(ins.text);
    if (!m) continue;
    const op = m[1].toUpperCase();
    const rest = m[2].trim();
    ins.op = op;
    ins.rest = rest;
    if (op === 'ARG' && stages.length === 0) {
      const [k, v] = rest.split('=');
      if (v !== undefined) args.set(k.trim(), v.trim());
    }
    if (op === 'FROM') stages.push({ line: ins.line, instrs: [] });
    if (stages.length > 0) stages.at(-1).instrs.push(ins);
  }
  if (stages.length === 0) say(1, 'no FROM instruction');
  const stageNames = new Set();
  for (const st of stages) {
    const from = st.instrs[0].rest.split(/\s+/);
    const image = from[0].replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => args.get(a ?? b) ?? '');
    if (/\sAS\s/i.test(` ${st.instrs[0].rest} `)) stageNames.add(from.at(-1).toLowerCase());
    if (stageNames.has(image.toLowerCase()) || image === 'scratch') continue;
    if (image === '') say(st.line, `FROM ${from[0]}: the image name comes from an ARG without a default`);
    else if (!image.includes('@')) {
      const tag = /:([^/:]+)$/.exec(image)?.[1];
      if (tag === undefined) say(st.line, `FROM ${image}: pin a tag (an untagged image means latest)`);
      else if (tag === 'latest') say(st.line, `FROM ${image}: pin a tag other than latest`);
    }
  }
  for (const ins of instrs) {
    if (ins.op === 'CMD' || ins.op === 'ENTRYPOINT') {
      if (!isExecForm(ins.rest))
        say(ins.line, `${ins.op} in shell form: use the exec form ["node", ...] so the server gets signals as PID 1`);
    } else if (ins.op === 'HEALTHCHECK') {
      const cmd = /\bCMD\s+(.*)$/s.exec(ins.rest);
      if (cmd && !isExecForm(cmd[1])) say(ins.line, 'HEALTHCHECK CMD in shell form: use the exec form');
    } else if (ins.op === 'ADD') {
      say(ins.line, 'ADD: use COPY (ADD fetches URLs and unpacks archives implicitly)');
    }
  }
  const last = stages.at(-1);
  if (last) {
    const user = last.instrs.filter((i) => i.op === 'USER').at(-1);
    if (!user) say(last.line, 'the final stage has no USER: it would run as root');
    else if (/^(root|0)(:|$)/.test(user.rest)) say(user.line, `USER ${user.rest}: run as a non-root user`);
    const has = (op, re = /./) => last.instrs.some((i) => i.op === op && re.test(i.rest));
    if (!has('EXPOSE')) say(last.line, 'the final stage has no EXPOSE');
    if (!has('ENV', /(^|\s)PORT[=\s]/)) say(last.line, 'the final stage sets no ENV PORT');
    if (!has('STOPSIGNAL', /^SIGTERM$/)) say(last.line, 'the final stage has no STOPSIGNAL SIGTERM');
    if (!has('ENTRYPOINT') && !has('CMD')) say(last.line, 'the final stage has no ENTRYPOINT or CMD');
  }
  if (dockerignore === null) problems.push(`${file}: no .dockerignore beside it`);
  else {
    const entries = new Set(
      dockerignore
        .split('\n')
        .map((l) => l.trim().replace(/^\/|\/$/g, ''))
        .filter((l) => l && !l.startsWith('#')),
    );
    for (const need of ['node_modules', 'build', 'dist', '.git']) {
      if (!entries.has(need)) problems.push(`${file}: .dockerignore does not exclude ${need}`);
    }
  }
  return problems;
}

function isExecForm(s) {
  try {
    const v = JSON.parse(s);
    return Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string');
  } catch {
    return false;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = path.resolve(process.argv[2] ?? 'Dockerfile');
  const ignoreFile = path.join(path.dirname(file), '.dockerignore');
  const problems = lintDockerfile(fs.readFileSync(file, 'utf8'), {
    dockerignore: fs.existsSync(ignoreFile) ? fs.readFileSync(ignoreFile, 'utf8') : null,
    file: path.relative(process.cwd(), file) || file,
  });
  for (const p of problems) console.log(p);
  console.log(problems.length === 0 ? `${path.basename(file)}: clean` : `${problems.length} problem(s)`);
  process.exit(problems.length === 0 ? 0 : 1);
}
