// gunicorn-ts [OPTIONS] [APP_MODULE]: main() runs the command; importing this
// module runs nothing (bin/gunicorn-ts.js calls main()).
// `gunicorn-ts ctl ...` is the control socket's client (lib/control/ctl.ts).
import { WSGIApplication } from '../app/wsgiapp.js';
import { runCtl } from '../control/ctl.js';

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<never> {
  if (argv[0] === 'ctl') process.exit(await runCtl(argv.slice(1)));
  return new WSGIApplication('%(prog)s [OPTIONS] [APP_MODULE]', 'gunicorn-ts', argv).run();
}
