// Gunicorn's "Custom Application" example (examples/standalone_app.py in
// Gunicorn's docs), translated: a BaseApplication subclass that takes its
// settings from a plain object, server hooks included.
//
//   node examples/standalone_app.mjs        -> http://127.0.0.1:8080/ with 2*CPUs+1 workers
//
// Node has no fork(): every worker runs this script again, and run() there
// serves instead of starting another master. So keep the script's top level
// free of side effects other than building the application and calling run().
import os from 'node:os';

import { BaseApplication } from '../dist/index.js';

function numberOfWorkers() {
  return os.availableParallelism() * 2 + 1;
}

function handlerApp(environ, start_response) {
  const responseBody = 'Works fine';
  const status = '200 OK';
  const responseHeaders = [['Content-Type', 'text/plain']];
  start_response(status, responseHeaders);
  return [responseBody];
}

class StandaloneApplication extends BaseApplication {
  constructor(app, options = {}) {
    super();
    this.options = options;
    this.application = app;
  }

  loadConfig() {
    for (const [key, value] of Object.entries(this.options)) {
      if (key in this.cfg.settings && value !== null && value !== undefined) this.cfg.set(key.toLowerCase(), value);
    }
  }

  load() {
    return this.application;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const options = {
    bind: process.env.BIND ?? '127.0.0.1:8080',
    workers: Number(process.env.WORKERS ?? numberOfWorkers()),
    pre_fork: (server, worker) => server.log.info(`pre_fork: worker #${worker.age} is about to start`),
    post_worker_init: (worker) => worker.log.info(`post_worker_init: worker ${worker.pid} is ready`),
  };
  await new StandaloneApplication(handlerApp, options).run();
}
