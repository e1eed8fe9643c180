// The curl command for tests: whether it is here, running it without the
// sanitizer preload, and reading what it prints (-w formats, -v heads).
import { execFile, spawnSync } from 'node:child_process';

import { toolEnv } from './tls.mjs';

/** Whether curl runs here (tests that need it skip without it). */
export const hasCurl = spawnSync('curl', ['--version'], { env: toolEnv(), timeout: 10000 }).status === 0;

/**
 * Runs curl with `args` (asynchronously: the server under test may run in
 * this process). Resolves {stdout, stderr, error}: error is null when curl
 * exits 0, else the execFile error (exit code, or killed after timeoutMs).
 */
export function curl(args, { timeoutMs = 15000 } = {}) {
  return new Promise((resolve) =>
    execFile('curl', args, { env: toolEnv(), timeout: timeoutMs }, (error, stdout, stderr) =>
      resolve({ stdout, stderr, error }),
    ),
  );
}

/** The status code alone (`-w %{http_code}`, body discarded), or "error <curl's message>". */
export async function curlStatus(args, opts) {
  const r = await curl(['-sS', '-o', '/dev/null', '-w', '%{http_code}', ...args], opts);
  return r.error ? `error ${r.stderr || r.error.message}` : r.stdout;
}

/**
 * The response heads in curl -v's trace (its "< " lines), in order: each
 * {statusLine: 'HTTP/1.1 103 Early Hints', status: 103, headers: ['Link: <...>']}.
 */
export function verboseHeads(stderr) {
  const heads = [];
  for (const raw of stderr.split('\n')) {
    if (!raw.startsWith('< ')) continue;
    const line = raw.slice(2).replace(/\r$/, '');
    const m = /^HTTP\/[\d.]+ (\d{3})/.exec(line);
    if (m) heads.push({ statusLine: line, status: Number(m[1]), headers: [] });
    else if (line !== '' && heads.length) heads.at(-1).headers.push(line);
  }
  return heads;
}

/** The header lines of some heads from verboseHeads(), one a line. */
export const headerText = (heads) => heads.flatMap((h) => h.headers).join('\n');

/** curl -sv --http1.1 `url`: {stdout, stderr, error, heads} (heads: verboseHeads(stderr)). */
export async function curlVerbose(url, args = [], opts) {
  const r = await curl(['-sv', '--http1.1', ...args, url], opts);
  return { ...r, heads: verboseHeads(r.stderr) };
}
