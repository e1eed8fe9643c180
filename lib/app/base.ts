// Gunicorn's application classes. BaseApplication: subclass it with
// loadConfig() (fill this.cfg) and load() (return the handler), then run().
// Application adds the command line and config files; WSGIApplication (in
// wsgiapp.ts) is the class behind the gunicorn-ts command.
//
// Node has no fork(): the arbiter spawns each worker by running this
// process's entry script again. In a worker, run() builds the same
// application object, then serves instead of becoming another master.
import { spawn } from 'node:child_process';
import fs from 'node:fs';

import { Arbiter } from '../arbiter/arbiter.js';
import { parseArgs, shellSplit, UsageError, type ParsedArgs } from '../config/argv.js';
import { Config } from '../config/config.js';
import { applyConfigModule, ConfigFileError, findConfigFile, readConfigFile } from '../config/loader.js';
import { SettingError } from '../config/validators.js';
import type { AppObject as Handler, ServedApp } from '../http/shape.js';
import { isWorkerProcess } from '../workers/protocol.js';
import { runWorker, type Worker } from '../workers/worker.js';
import { isDirtyWorkerProcess } from '../workers/dirty-protocol.js';
import { runDirtyWorker } from '../workers/dirty-worker.js';
import { importDirtyApp } from './import.js';
import { servedApp } from './shape.js';

export abstract class BaseApplication {
  cfg: Config = new Config();
  callable: Handler | null = null;

  constructor(
    readonly usage?: string,
    readonly prog?: string,
  ) {}

  /** Fill this.cfg (this.cfg.set(name, value)). */
  abstract loadConfig(): void | Promise<void>;
  /** Return the application callable. */
  abstract load(): Handler | Promise<Handler>;

  loadDefaultConfig(): void {
    this.cfg = new Config();
  }

  async doLoadConfig(): Promise<void> {
    this.loadDefaultConfig();
    await this.loadConfig();
  }

  /** HUP: read the configuration again. */
  async reload(): Promise<void> {
    await this.doLoadConfig();
  }

  /** The application callable, loaded once. */
  async wsgi(): Promise<Handler> {
    if (this.callable === null) this.callable = await this.load();
    return this.callable;
  }

  /** What a worker serves: the loaded object and worker_class decide (shape.ts). */
  async served(): Promise<ServedApp> {
    const label = this.cfg.get('wsgi_app') ?? this.cfg.get('default_proc_name');
    return servedApp(await this.wsgi(), this.cfg.get('worker_class'), label);
  }

  /**
   * Loads the configuration, then runs the arbiter (or, in a spawned worker,
   * the worker) and exits the process with its status, as Gunicorn's run().
   */
  async run(): Promise<never> {
    const status = await this.start();
    process.exit(status);
  }

  /** run() without process.exit(): resolves with the exit status (workers never resolve). */
  async start(): Promise<number> {
    try {
      await this.doLoadConfig();
    } catch (e) {
      return configError(e);
    }
    if (isDirtyWorkerProcess()) {
      await runDirtyWorker(this, importDirtyApp);
      return new Promise<number>(() => {});
    }
    if (isWorkerProcess()) {
      await runWorker(this);
      return new Promise<number>(() => {});
    }
    return this.runMaster();
  }

  /** master side of start(): --check-config, daemon mode and the arbiter */
  protected async runMaster(): Promise<number> {
    return new Arbiter(this).run();
  }

  /** For embedding (serve()): the arbiter, started in the background. */
  async startArbiter(): Promise<{ arbiter: Arbiter; done: Promise<number> } | { worker: Worker }> {
    await this.doLoadConfig();
    if (isDirtyWorkerProcess()) {
      await runDirtyWorker(this, importDirtyApp);
      return new Promise(() => {}); // a dirty worker only runs jobs
    }
    if (isWorkerProcess()) return { worker: await runWorker(this) };
    const arbiter = new Arbiter(this);
    return { arbiter, done: arbiter.run() };
  }
}

export function configError(e: unknown): number {
  if (e instanceof UsageError) return e.exitCode;
  if (e instanceof SettingError || e instanceof ConfigFileError) {
    process.stderr.write(`Error: ${e.message}\n`);
    return 1;
  }
  process.stderr.write(`\nError: ${e instanceof Error ? e.message : String(e)}\n`);
  return 1;
}

/**
 * Application: BaseApplication + the command line (argv), config files and
 * GUNICORN_CMD_ARGS, with Gunicorn's precedence. Subclasses implement
 * init(args) (defaults from the positional arguments) and load().
 */
export abstract class Application extends BaseApplication {
  argv: readonly string[];
  args: ParsedArgs | null = null;

  constructor(usage?: string, prog?: string, argv: readonly string[] = process.argv.slice(2)) {
    super(usage, prog);
    this.argv = argv;
  }

  /** App-specific defaults, from the parsed command line (lowest precedence). */
  init(_args: ParsedArgs): Record<string, unknown> | void {
    return undefined;
  }

  chdir(): void {
    const dir = this.cfg.get('chdir');
    if (process.cwd() !== dir) process.chdir(dir);
  }

  override async loadConfig(): Promise<void> {
    const args = parseArgs(this.argv, this.prog ?? 'gunicorn-ts');
    this.args = args;
    const envRaw = process.env.GUNICORN_CMD_ARGS;
    const envArgs = envRaw ? parseArgs(shellSplit(envRaw), this.prog ?? 'gunicorn-ts') : null;
    const defaultsFromApp = this.init(args) ?? {};
    for (const [k, v] of Object.entries(defaultsFromApp)) if (v !== undefined && v !== null) this.cfg.set(k, v);
    // chdir first, so a relative config file and the app resolve from there
    // (a relative --chdir is resolved once, from the directory the command was started in)
    const earlyChdir = args.options.chdir ?? envArgs?.options.chdir;
    if (earlyChdir !== undefined) this.cfg.set('chdir', earlyChdir);
    const chdirFromArgs = earlyChdir !== undefined ? this.cfg.get('chdir') : undefined;
    this.chdir();
    const explicit = (args.options.config ?? envArgs?.options.config ?? null) as string | null;
    const file = findConfigFile(explicit, process.cwd());
    if (file !== null) {
      applyConfigModule(this.cfg, await readConfigFile(file));
      this.cfg.set('config', file);
    }
    for (const [k, v] of Object.entries(envArgs?.options ?? {})) if (k !== 'chdir') this.cfg.set(k, v);
    for (const [k, v] of Object.entries(args.options)) if (k !== 'chdir') this.cfg.set(k, v);
    if (chdirFromArgs !== undefined) this.cfg.set('chdir', chdirFromArgs);
    this.chdir();
  }

  protected override async runMaster(): Promise<number> {
    if (this.cfg.get('print_config')) process.stdout.write(`${this.cfg.toString()}\n`);
    if (this.cfg.get('print_config') || this.cfg.get('check_config')) {
      try {
        await this.wsgi();
      } catch (e) {
        process.stderr.write(
          `\nError while loading the application:\n\n${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
        );
        return 1;
      }
      return 0;
    }
    if (this.cfg.get('daemon') && !process.env.GUNICORN_FD && !process.env.GUNICORN_TS_DAEMON)
      return daemonize(this.cfg);
    return super.runMaster();
  }
}

/**
 * --daemon: Node cannot fork, so the command starts itself again detached in
 * a new session (stdio to /dev/null unless enable_stdio_inheritance) and exits.
 */
function daemonize(cfg: Config): number {
  const inherit = cfg.get('enable_stdio_inheritance');
  const nul = inherit ? 'inherit' : fs.openSync('/dev/null', 'r+');
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    detached: true,
    stdio: [nul, nul, nul],
    env: { ...process.env, GUNICORN_TS_DAEMON: '1' },
  });
  child.unref();
  return 0;
}
