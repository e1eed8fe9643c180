// WSGIApplication: the class behind the gunicorn-ts command. The positional
// APP_MODULE (or wsgi_app from the config file) names the application.
import type { ParsedArgs } from '../config/argv.js';
import type { AppObject as Handler } from '../http/shape.js';
import { Application } from './base.js';
import { importApp } from './import.js';

export class NoApplicationError extends Error {}

export class WSGIApplication extends Application {
  appUri: string | null = null;

  override init(args: ParsedArgs): Record<string, unknown> | void {
    if (args.app !== undefined) {
      this.appUri = args.app;
      return { default_proc_name: args.app };
    }
    return undefined;
  }

  override async loadConfig(): Promise<void> {
    await super.loadConfig();
    if (this.appUri === null && this.cfg.get('wsgi_app') !== null) this.appUri = this.cfg.get('wsgi_app');
    if (this.appUri === null) throw new NoApplicationError('No application module specified.');
  }

  override load(): Promise<Handler> {
    return importApp(this.appUri!, this.cfg.get('chdir'), this.cfg.get('pythonpath'), this.cfg.get('worker_class'));
  }
}
