// gunicorn-ts [OPTIONS] [APP_MODULE]: main() runs the command; importing this
// module runs nothing (bin/gunicorn-ts.js calls main()).
import { WSGIApplication } from '../app/wsgiapp.js';

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<never> {
  return new WSGIApplication('%(prog)s [OPTIONS] [APP_MODULE]', 'gunicorn-ts', argv).run();
}
