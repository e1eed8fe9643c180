#!/usr/bin/env node
// The gunicorn-ts command: see `gunicorn-ts --help` and README.md.
let main;
try {
  ({ main } = await import('../dist/cli/main.js'));
} catch (e) {
  // no native core for this machine: the one line that says why, not a stack trace
  if (e?.code !== 'GUNICORN_TS_NO_NATIVE') throw e;
  process.stderr.write(`${e.message}\n`);
  process.exitCode = 1;
}
if (main !== undefined) await main();
