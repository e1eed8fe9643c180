// The Dockerfile's runtime image, run without a container engine: scripts/image-rootfs.mjs builds the same
// filesystem from Debian's packages (mmdebstrap) and the Dockerfile's runtime-stage instructions; here the
// image's ENTRYPOINT + CMD run in it with chroot, as the image's non-root user, as PID 1 of a PID namespace.
import { execFile, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';

import { children, get, until } from './helpers/gts.mjs';
import { buildImage } from '../scripts/image-rootfs.mjs';

const isRoot = process.getuid?.() === 0;
const hasMmdebstrap = spawnSync('sh', ['-c', 'command -v mmdebstrap']).status === 0;
const skip = !isRoot ? 'needs root (chroot)' : !hasMmdebstrap ? 'needs mmdebstrap (apt-get install mmdebstrap)' : false;
// the default bind (127.0.0.1:8000) is tested in a network namespace of its own: port 8000 on this machine may be
// taken (another checkout running this test at the same time), and there the image's 8000 is its own
const IP = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((p) => fs.existsSync(p));
const skipNetns = skip || (!IP && 'needs ip (apt-get install iproute2) for a network namespace of its own');
t.setTimeout(600000); // a first run downloads Debian's base packages (about 80 s here)

let rootfs;
let image;
let port; // a free port for $PORT (the second test runs Gunicorn's default, 8000, in a network namespace)

/**
 * starts the image's ENTRYPOINT + CMD like `docker run`: its user, workdir and ENV, plus `env`; with `netns`, in a
 * network namespace of its own (only its loopback, brought up first), as a container without published ports
 */
function runImage(t, env, { netns = false } = {}) {
  const vars = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: '/nonexistent',
    ...image.env,
    ...env,
  };
  const envArgs = Object.entries(vars)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  const argv = [
    'unshare',
    '--pid',
    ...(netns ? ['--net'] : []),
    '--fork',
    `--mount-proc=${path.join(rootfs, 'proc')}`,
    // PID 1 stays the image's process: the shell execs chroot, which execs the rest
    ...(netns ? ['/bin/sh', '-c', `${IP} link set lo up && exec "$@"`, 'sh'] : []),
    'chroot',
    `--userspec=${image.uid}:${image.gid}`,
    rootfs,
    '/usr/bin/env',
    '-i',
    ...envArgs,
    '/bin/sh',
    '-c',
    `cd ${image.workdir} && exec "$@"`,
    'sh',
    ...image.entrypoint,
    ...image.cmd,
  ];
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  const h = { child, out: '', exit: new Promise((r) => child.on('exit', (code) => r(code))) };
  child.stdout.on('data', (d) => {
    h.out += d;
  });
  child.stderr.on('data', (d) => {
    h.out += d;
  });
  t.teardown(() => {
    try {
      child.kill('SIGKILL');
    } catch {
      /* gone */
    }
  });
  return h;
}

/** GET http://127.0.0.1:port/path from inside the network namespace of process `pid` (nsenter): {status, body} */
function getInNetns(pid, port, p = '/') {
  const script = `fetch('http://127.0.0.1:${port}${p}', { signal: AbortSignal.timeout(5000) })
    .then(async (r) => console.log(JSON.stringify({ status: r.status, body: await r.text() })))
    .catch((e) => console.log(JSON.stringify({ error: String(e.cause?.code ?? e.message) })))`;
  return new Promise((resolve) => {
    execFile(
      'nsenter',
      [`--net=/proc/${pid}/ns/net`, process.execPath, '-e', script],
      { timeout: 10000 },
      (err, out) => {
        try {
          resolve(JSON.parse(out));
        } catch {
          resolve({ error: err?.message ?? 'no answer' });
        }
      },
    );
  });
}

const healthcheck = (env) => {
  const df = fs.readFileSync(new URL('../Dockerfile', import.meta.url), 'utf8');
  const cmd = JSON.parse(/HEALTHCHECK[^\n]*\\\n\s*CMD\s+(\[.*\])/.exec(df)[1]);
  return spawnSync(
    'chroot',
    [
      `--userspec=${image.uid}:${image.gid}`,
      rootfs,
      '/usr/bin/env',
      '-i',
      'PATH=/usr/local/bin:/usr/bin:/bin',
      ...Object.entries({ ...image.env, ...env }).map(([k, v]) => `${k}=${v}`),
      ...cmd,
    ],
    { encoding: 'utf8', timeout: 10000 },
  );
};

t.before(async () => {
  if (skip) return;
  // a directory of this run's own: runs at the same time (other checkouts) must not rebuild each other's rootfs
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gts-image-test-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  rootfs = buildImage(path.join(dir, 'rootfs'));
  image = JSON.parse(fs.readFileSync(path.join(rootfs, 'image.json'), 'utf8'));
  port = await new Promise((resolve) => {
    const s = net.createServer().listen(0, '0.0.0.0', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
});

t.test('the image runs as its non-root user, PID 1, on 0.0.0.0:$PORT (ENV PORT=8000)', { skip }, async (t) => {
  t.not(image.uid, 0, `USER ${image.user} is not root`);
  const h = runImage(t, { PORT: String(port) });
  const listening = new RegExp(`Listening at: http://0\\.0\\.0\\.0:${port} \\(1\\)`);
  await until(() => listening.test(h.out), { timeoutMs: 20000 });
  t.match(h.out, listening, 'the master is PID 1, bound to 0.0.0.0:$PORT');
  await until(() => (h.out.match(/Booting worker/g) ?? []).length === 2, { timeoutMs: 20000 });
  const r = await until(
    async () => {
      const x = await get(port, '/');
      return x.status === 200 && x;
    },
    { timeoutMs: 10000 },
  );
  t.equal(r.body, 'Hello, World!', 'the example app answers');
  const pid1 = children(h.child.pid)[0];
  const uid = /^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid1}/status`, 'utf8'))[1];
  t.equal(Number(uid), image.uid, `runs as uid ${image.uid}`);
  await until(() => /"GET \/ HTTP\/1\.1" 200/.test(h.out), { timeoutMs: 10000 }); // the line may come after the response
  t.match(h.out, /"GET \/ HTTP\/1\.1" 200/, 'access log on stdout (CMD --access-logfile -)');
  const hc = healthcheck({ PORT: String(port) });
  t.equal(hc.status, 0, `HEALTHCHECK passes while serving ${hc.stderr}`);
  process.kill(pid1, 'SIGTERM'); // what `docker stop` sends (STOPSIGNAL SIGTERM)
  t.equal(await h.exit, 0, 'docker stop: exit status 0');
  t.not(healthcheck({ PORT: String(port) }).status, 0, 'HEALTHCHECK fails once stopped');
});

t.test('with $PORT unset it answers on 127.0.0.1:8000, as Gunicorn', { skip: skipNetns }, async (t) => {
  const h = runImage(t, { PORT: undefined }, { netns: true });
  await until(() => /Listening at: http:\/\/127\.0\.0\.1:8000/.test(h.out), { timeoutMs: 20000 });
  t.match(h.out, /Listening at: http:\/\/127\.0\.0\.1:8000 \(1\)/);
  const r = await until(
    async () => {
      const x = await getInNetns(h.child.pid, 8000, '/');
      return x.status === 200 && x;
    },
    { timeoutMs: 10000 },
  );
  t.equal(r.body, 'Hello, World!');
  process.kill(children(h.child.pid)[0], 'SIGINT');
  t.equal(await h.exit, 0, 'INT: exit status 0');
});
