// Type checks of the public API through the package entry (dist/index.d.ts): test/fixtures/types/*.ts
// compiled with tsc --noEmit as an application would (strict, NodeNext, `import ... from 'gunicorn-ts'`).
// Their @ts-expect-error lines are the negative cases; a control shows tsc fails on a wrong program here.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

import { ROOT } from './helpers/gts.mjs';

const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');
const FLAGS = ['--noEmit', '--strict', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022'];

function tsc(files) {
  return new Promise((resolve) =>
    execFile(
      process.execPath,
      [TSC, ...FLAGS, '--types', 'node', '--skipLibCheck', ...files],
      { cwd: ROOT, timeout: 120_000 },
      (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 1) : 0, out: `${stdout}${stderr}` }),
    ),
  );
}

t.test('the WebSocket API types: handlers, server.upgrade/publish, publish(), environ upgrade', async (t) => {
  const r = await tsc(['test/fixtures/types/websocket.ts']);
  t.equal(r.code, 0, r.out);
});

t.test('control: a wrong use of the same API does not compile', async (t) => {
  // inside the package (so `gunicorn-ts` resolves to this package, as for the fixture)
  const dir = fs.mkdtempSync(path.join(ROOT, 'test/fixtures/types/.control-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'wrong.ts');
  fs.writeFileSync(
    file,
    "import { publish } from 'gunicorn-ts';\n" +
      '// @ts-expect-error (wrongly: this line is fine, so the directive is unused)\n' +
      "publish('room', 'hi');\n" +
      "const n: string = publish('room', 'hi');\n" +
      'void n;\n',
  );
  const r = await tsc([path.relative(ROOT, file)]);
  t.not(r.code, 0, 'tsc fails');
  t.match(r.out, /TS2578/, 'an unused @ts-expect-error is reported');
  t.match(r.out, /TS2322/, 'a number is not a string');
});
