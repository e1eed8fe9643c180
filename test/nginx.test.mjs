// Debian's nginx in front of two gunicorn-ts instances over unix sockets
// (examples/nginx.conf, with its paths and ports replaced): under load, the
// instances restart one after the other (USR2 + TERM of the old master, then
// TERM + start) with zero failed requests at the client; the scheme and
// REMOTE_ADDR follow forwarded_allow_ips; large and chunked uploads arrive
// intact. nginx is started here (loopback ports, a temp dir) and stopped by
// its pid; it is skipped only where nginx is not installed (.ci/run installs it).
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';

import { APPS, ROOT, alive, httpRequest, run, sleep, until } from './helpers/gts.mjs';
import { makeCerts } from './helpers/tls.mjs';

const APP = path.join(APPS, 'resilience.mjs');
const NGINX = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'].find((p) => fs.existsSync(p));

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

/** one request (15 s at most); resolves {status, body, headers} or {error} */
const request = (opts, body) => httpRequest({ timeout: 15000, ...opts }, body);

t.test(
  'nginx in front of two gunicorn-ts instances',
  { skip: NGINX ? false : 'nginx is not installed (apt-get install nginx-light)' },
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gts-nginx-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const sock = (n) => path.join(dir, `${n}.sock`);
    const extraMasters = new Set();
    t.teardown(() => {
      for (const pid of extraMasters) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    });

    // ---- the gunicorn-ts instances
    const started = [];
    const startUnix = async (name) => {
      const g = run(t, ['-w', '2', '-b', `unix:${sock(name)}`, '--graceful-timeout', '10', '--keep-alive', '5', APP]);
      await g.waitFor(/Listening at: unix:/);
      await g.waitFor(/Booting worker/, { count: 2 });
      await until(async () => (await request({ socketPath: sock(name), path: '/' })).status === 200);
      started.push(g);
      return { g, master: g.pid };
    };
    const startTcp = async (allow) => {
      const g = run(t, ['-w', '1', '-b', '127.0.0.1:0', '--forwarded-allow-ips', allow, APP]);
      const port = await g.port();
      await g.waitFor(/Booting worker/);
      return port;
    };
    const [A, B, trustedPort, untrustedPort] = await Promise.all([
      startUnix('a'),
      startUnix('b'),
      startTcp('127.0.0.1'),
      startTcp('192.0.2.1'),
    ]);

    // ---- nginx, from examples/nginx.conf
    const [P, PS, PT, PU] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const { server: tlsCert } = makeCerts('gts-nginx-tls-');
    const ssl = `ssl_certificate ${tlsCert.cert}; ssl_certificate_key ${tlsCert.key};`;
    const tcpServer = (port, upstream) => `
    server {
        listen 127.0.0.1:${port} ssl; ${ssl}
        location / {
            proxy_pass http://127.0.0.1:${upstream};
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }
    }`;
    let conf = fs.readFileSync(path.join(ROOT, 'examples/nginx.conf'), 'utf8');
    const sub = (from, to) => {
      t.ok(conf.includes(from), `examples/nginx.conf has ${JSON.stringify(from)}`);
      conf = conf.replaceAll(from, to);
    };
    sub('worker_processes auto;', `${process.getuid?.() === 0 ? 'user root root;\n' : ''}worker_processes 1;`);
    sub('pid /run/nginx-gunicorn-ts.pid;', `pid ${dir}/nginx.pid;`);
    sub('error_log /var/log/nginx/gunicorn-ts.error.log;', `error_log ${dir}/error.log;`);
    sub('unix:/run/gunicorn-ts-a.sock', `unix:${sock('a')}`);
    sub('unix:/run/gunicorn-ts-b.sock', `unix:${sock('b')}`);
    sub('listen 80;', `listen 127.0.0.1:${P}; listen 127.0.0.1:${PS} ssl; ${ssl}`);
    sub(
      'http {',
      `http {
    client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
    ${tcpServer(PT, trustedPort)}
    ${tcpServer(PU, untrustedPort)}`,
    );
    fs.writeFileSync(path.join(dir, 'nginx.conf'), conf);
    const nginx = spawn(
      NGINX,
      ['-p', `${dir}/`, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log'), '-g', 'daemon off;'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let nginxOut = '';
    nginx.stdout.on('data', (d) => {
      nginxOut += d;
    });
    nginx.stderr.on('data', (d) => {
      nginxOut += d;
    });
    const nginxExit = new Promise((resolve) => nginx.on('exit', resolve));
    t.teardown(async () => {
      if (nginx.exitCode === null && nginx.signalCode === null) {
        nginx.kill('SIGTERM');
        const killer = setTimeout(() => nginx.kill('SIGKILL'), 5000);
        await nginxExit;
        clearTimeout(killer);
      }
    });
    const up = await until(async () => (await request({ port: P, path: '/' })).status === 200, { timeoutMs: 10000 });
    t.ok(
      up,
      `nginx answers ${nginxOut} ${fs.existsSync(path.join(dir, 'error.log')) ? fs.readFileSync(path.join(dir, 'error.log'), 'utf8').slice(-2000) : ''}`,
    );
    if (!up) return;

    t.test('scheme and REMOTE_ADDR as configured through forwarded_allow_ips', async (t) => {
      const via = async (opts) => JSON.parse((await request({ path: '/whoami', ...opts })).body);
      t.match(
        await via({ port: P }),
        { scheme: 'http', remote: '', xff: '127.0.0.1' },
        'unix socket, plain: http; REMOTE_ADDR empty; X-Forwarded-For',
      );
      t.match(
        await via({ port: PS, tls: true }),
        { scheme: 'https', remote: '', xff: '127.0.0.1' },
        'unix socket (trusted), TLS at nginx: https',
      );
      t.match(
        await via({ port: PT, tls: true }),
        { scheme: 'https', remote: '127.0.0.1' },
        'TCP, nginx in forwarded_allow_ips: https',
      );
      t.match(
        await via({ port: PU, tls: true }),
        { scheme: 'http', remote: '127.0.0.1' },
        'TCP, nginx not in forwarded_allow_ips: X-Forwarded-Proto ignored',
      );
    });

    t.test('large and chunked uploads through nginx arrive intact', async (t) => {
      const big = crypto.randomBytes(24 * 1024 * 1024);
      const r1 = await request(
        {
          port: P,
          path: '/upload',
          method: 'POST',
          headers: { 'Content-Length': big.length, 'Content-Type': 'application/octet-stream' },
        },
        big,
      );
      t.equal(r1.status, 200, `${r1.error ?? ''}`);
      t.same(
        JSON.parse(r1.body),
        { sha256: crypto.createHash('sha256').update(big).digest('hex'), length: big.length, te: null },
        '24 MiB with Content-Length',
      );
      const parts = Array.from({ length: 80 }, () => crypto.randomBytes(64 * 1024 + Math.floor(Math.random() * 1000)));
      const whole = Buffer.concat(parts);
      const r2 = await request(
        { port: P, path: '/upload', method: 'POST', headers: { 'Transfer-Encoding': 'chunked' } },
        async (req) => {
          for (const p of parts) {
            if (!req.write(p)) await new Promise((r) => req.once('drain', r));
          }
          req.end();
        },
      );
      t.equal(r2.status, 200, `${r2.error ?? ''}`);
      t.same(
        JSON.parse(r2.body),
        { sha256: crypto.createHash('sha256').update(whole).digest('hex'), length: whole.length, te: 'chunked' },
        `${whole.length} bytes chunked, streamed as chunked`,
      );
    });

    t.test('rolling restarts under load: zero failed requests', async (t) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
      t.teardown(() => agent.destroy());
      const stats = { ok: 0, failed: 0, errors: [], masters: new Set() };
      let running = true;
      const deadline = Date.now() + 45000;
      const loops = Array.from({ length: 8 }, async () => {
        while (running && Date.now() < deadline) {
          const r = await request({ port: P, path: '/whoami', agent });
          let who = null;
          try {
            who = JSON.parse(r.body);
          } catch {
            /* not JSON */
          }
          if (r.status === 200 && who) {
            stats.ok++;
            stats.masters.add(who.ppid);
          } else {
            stats.failed++;
            if (stats.errors.length < 10) stats.errors.push(r.error ?? `${r.status} ${r.body?.slice(0, 200)}`);
          }
        }
      });
      const t0 = Date.now();
      await sleep(500);
      const masterCount = (g) =>
        [...g.stderr.matchAll(/\[(\d+)\] \[INFO\] Starting gunicorn-ts/g)].map((m) => Number(m[1]));
      // USR2, then TERM the old master
      const usr2 = async (inst) => {
        const { g, master } = inst;
        const boots = (g.stderr.match(/Booting worker with pid/g) ?? []).length;
        const masters = masterCount(g).length;
        process.kill(master, 'SIGUSR2');
        await g.waitFor(/\[INFO\] Starting gunicorn-ts/, { count: masters + 1, timeoutMs: 20000 });
        const fresh = masterCount(g).at(-1);
        extraMasters.add(fresh);
        await g.waitFor(/Booting worker with pid/, { count: boots + 2, timeoutMs: 20000 });
        process.kill(master, 'SIGTERM');
        await until(() => !alive(master), { timeoutMs: 20000 });
        t.ok(!alive(master), `USR2 + TERM: master ${master} replaced by ${fresh}`);
        return { g, master: fresh };
      };
      // TERM, then start a new instance on the same socket
      const termStart = async (inst, name) => {
        process.kill(inst.master, 'SIGTERM');
        await until(() => !alive(inst.master), { timeoutMs: 20000 });
        t.ok(!alive(inst.master), `TERM: master ${inst.master} stopped`);
        extraMasters.delete(inst.master);
        const fresh = await startUnix(name);
        t.pass(`started ${fresh.master} on ${name}.sock`);
        return fresh;
      };
      let a = await usr2(A);
      await sleep(300);
      let b = await usr2(B);
      await sleep(300);
      a = await termStart(a, 'a');
      await sleep(300);
      b = await termStart(b, 'b');
      await sleep(500);
      running = false;
      await Promise.all(loops);
      const secs = (Date.now() - t0) / 1000;
      t.comment(
        `nginx rolling restart: ${stats.ok + stats.failed} requests in ${secs.toFixed(1)} s, ${stats.failed} failed; answered by ${stats.masters.size} masters`,
      );
      t.equal(stats.failed, 0, `no failed request: ${JSON.stringify(stats.errors)}`);
      t.ok(stats.ok > 100, `${stats.ok} requests answered`);
      t.ok(stats.masters.size >= 5, 'answers came from the old and the new masters');
      for (const m of [a.master, b.master]) extraMasters.add(m);
    });
  },
);
