// THE settings registry: one declaration per setting. Validation of options
// passed to serve(), config files, the command line (lib/config/argv.ts),
// GUNICORN_CMD_ARGS, --print-config and docs/settings.md all derive from this
// list. Names, flags, defaults and meanings are Gunicorn's; settings that
// gunicorn-ts adds are marked `extension: true`. Gunicorn settings that do not
// apply to this server are listed in NOT_APPLICABLE with the reason.
import {
  validateAddrList,
  validateBool,
  validateCallable,
  validateCertReqs,
  validateSslVersion,
  validateChdir,
  validateEnvList,
  validateGroup,
  validateNullableString,
  validateUser,
  validateChoice,
  validateDict,
  validateList,
  validateNumber,
  validatePosInt,
  validateString,
  validateStringList,
  validateUmask,
  SettingError,
  type Validator,
} from './validators.js';
import { RESILIENCE_SETTINGS } from './resilience-settings.js';
import { DIRTY_SETTINGS } from './dirty-settings.js';

/**
 * How a command-line flag takes its value: `store` (one value, the last wins),
 * `append` (repeatable), `flag` (no value: true), `optional` (value optional:
 * `const` when absent).
 */
export type CliAction = 'store' | 'append' | 'flag' | 'optional';

export interface SettingDef<T = unknown> {
  name: string;
  section: string;
  cli?: string[];
  meta?: string;
  action?: CliAction;
  const?: string;
  validator: Validator<T>;
  default: () => T;
  defaultDoc?: string;
  desc: string;
  extension?: boolean;
  /**
   * Passed to the native core under its own name (nativeOptions()); the addon
   * reads every such key and has no default of its own.
   */
  native?: boolean;
}

function def<const N extends string, T, const X extends boolean = false>(
  d: SettingDef<T> & { name: N; native?: X },
): SettingDef<T> & { name: N; native?: X } {
  return d;
}

const env = (k: string): string | undefined => {
  const v = process.env[k];
  return v === undefined || v === '' ? undefined : v;
};

// Server hooks: Gunicorn's names, arguments and processes. The objects they get:
// `server` is the Arbiter (lib/arbiter/arbiter.ts) in the master and a MasterView
// (lib/workers/worker.ts) in a worker; `worker` is a WorkerHandle
// (lib/arbiter/worker-handle.ts) in the master and the Worker (lib/workers/worker.ts)
// in the worker itself.
type Hook = (...args: any[]) => unknown;
const noop: Hook = () => {};
const hook = <const N extends string>(
  name: N,
  args: string,
  where: string,
  desc: string,
  body: Hook = noop,
  extension = false,
) => {
  const dflt: Hook = Object.defineProperty((...a: unknown[]) => body(...a), 'name', { value: name });
  return def({
    ...(extension ? { extension: true } : {}),
    name,
    section: 'Server Hooks',
    validator: validateCallable(),
    default: () => dflt,
    defaultDoc: `${name}(${args})`,
    desc: `${desc} Runs in the ${where}.`,
  });
};

export const HOOK_SETTINGS = [
  hook('on_starting', 'server', 'master', 'Called just before the master process is initialized.'),
  hook('on_reload', 'server', 'master', 'Called to recycle workers during a reload via SIGHUP.'),
  hook(
    'when_ready',
    'server',
    'master',
    'Called just after the server is started (listening, before the first workers).',
  ),
  hook('pre_fork', 'server, worker', 'master', 'Called just before a worker is spawned.'),
  hook(
    'post_fork',
    'server, worker',
    'worker',
    'Called just after a worker has been spawned, before it loads the application.',
  ),
  hook('post_worker_init', 'worker', 'worker', 'Called just after a worker has initialized the application.'),
  hook('worker_int', 'worker', 'worker', 'Called just after a worker exited on SIGINT or SIGQUIT.'),
  hook('worker_abort', 'worker', 'worker', 'Called when a worker received the SIGABRT signal (normally on timeout).'),
  hook(
    'worker_stopping',
    'worker',
    'worker',
    'Called when a graceful stop of the worker begins (TERM, the old workers of a HUP, max_requests, ' +
      'max_unhandled_errors), before it stops accepting: the place to close long-lived connections the app owns, ' +
      'e.g. WebSockets under -k node with close 1001. What is still open at graceful_timeout is closed.',
    noop,
    true,
  ),
  hook('pre_exec', 'server', 'master', 'Called just before a new master process is started (USR2).'),
  hook(
    'pre_request',
    'worker, req',
    'worker',
    'Called just before a worker processes the request.',
    (worker: { log: { debug(m: string): void } }, req: { method: string; path: string }) =>
      worker.log.debug(`${req.method} ${req.path}`),
  ),
  hook(
    'post_request',
    'worker, req, environ, resp',
    'worker',
    'Called after a worker processes the request (2, 3 or 4 parameters).',
  ),
  hook('child_exit', 'server, worker', 'master', 'Called just after a worker has been exited.'),
  hook('worker_exit', 'server, worker', 'worker', 'Called just after a worker has been exited, in the worker process.'),
  hook('nworkers_changed', 'server, new_value, old_value', 'master', 'Called just after num_workers has been changed.'),
  hook('on_exit', 'server', 'master', 'Called just before exiting gunicorn-ts.'),
  hook(
    'ssl_context',
    'config, default_ssl_context_factory',
    'worker (and in the master, to check the result before any worker starts)',
    'Called when the TLS context is made: `default_ssl_context_factory()` returns the options built from the SSL settings ' +
      '(certfile, keyfile, ca_certs, cert_reqs, minVersion, ciphers, ciphersuites, groups, alpn, sessionTickets, passphrase, ' +
      'suppressRaggedEofs, and sni: {} — more certificates by server name, e.g. ' +
      "`{ 'example.com': { certfile, keyfile, passphrase }, '*.example.org': {...} }`); " +
      'return them, changed as you like (see README, TLS).',
    (_config: unknown, factory: () => unknown) => factory(),
  ),
] as const;

export const HOOK_NAMES: readonly string[] = HOOK_SETTINGS.map((h) => h.name);

/** http_protocols: h1 and h2, each at most once, in preference order. */
const validateHttpProtocols: Validator<Array<'h1' | 'h2'>> = (name, v) => {
  const list = validateStringList(name, v).map((s) => s.toLowerCase());
  if (list.length === 0) throw new SettingError(name, v, 'expected at least one of h1, h2');
  for (const p of list) {
    if (p === 'h3') throw new SettingError(name, v, 'HTTP/3 is not supported');
    if (p !== 'h1' && p !== 'h2') throw new SettingError(name, v, `unknown protocol ${p}: expected h1, h2`);
  }
  if (new Set(list).size !== list.length) throw new SettingError(name, v, 'a protocol is named twice');
  return list as Array<'h1' | 'h2'>;
};

/** An integer in [min, max]. */
function intRange(min: number, max: number): Validator<number> {
  return (name, v) => {
    const n = validatePosInt(name, v);
    if (n < min || n > max) throw new SettingError(name, v, `expected an integer from ${min} to ${max}`);
    return n;
  };
}

/** Gunicorn settings that gunicorn-ts does not have, and why (docs/settings.md lists them). */
export const NOT_APPLICABLE: ReadonlyArray<[string, string]> = [
  [
    'threads',
    'A worker is one Node.js event loop; it serves many connections at once without threads (like gthread for I/O, like sync for CPU).',
  ],
  ['spew', 'Python line tracing; use `node --inspect` or `--cpu-prof`.'],
  ['worker_tmp_dir', 'The heartbeat goes over the IPC channel, not through a temporary file.'],
  ['tmp_upload_dir', 'Request bodies are streamed to the application, never spooled to disk.'],
  [
    'logconfig, logconfig_dict, logconfig_json',
    'Python logging configuration; use `log_format = json`, `syslog` or a `logger_class`.',
  ],
  ['paste, raw_paste_global_conf', 'PasteDeploy is Python-only.'],
  [
    'asgi_loop, asgi_lifespan, asgi_disconnect_grace_period, root_path',
    'ASGI is Python-only; the handler contract is WSGI-style.',
  ],
  ['http_parser', 'There is one parser: the native core (llhttp plus strict checks).'],
];

// ---- Operations settings' validators and defaults
export const SYSLOG_FACILITY_NAMES = [
  'auth',
  'authpriv',
  'cron',
  'daemon',
  'ftp',
  'kern',
  'lpr',
  'mail',
  'news',
  'security',
  'syslog',
  'user',
  'uucp',
  'local0',
  'local1',
  'local2',
  'local3',
  'local4',
  'local5',
  'local6',
  'local7',
] as const;

/** logger_class: a 'module:Class' string, a class (config file), or null (the built-in logger) */
export type LoggerClassSetting = string | (new (...args: any[]) => object) | null;
const validateLoggerClass: Validator<LoggerClassSetting> = (name, v) => {
  if (v === null || v === undefined) return null;
  if (typeof v === 'function') return v as new (...args: any[]) => object;
  if (typeof v === 'string' && v.trim() !== '') {
    // Gunicorn's default names the built-in logger
    return v === 'gunicorn.glogging.Logger' ? null : v;
  }
  throw new SettingError(name, v, "expected 'MODULE_PATH:ClassName' or a class");
};

function defaultControlSocket(): string {
  const runtime = env('XDG_RUNTIME_DIR');
  if (runtime !== undefined) return `${runtime}/gunicorn.ctl`;
  return `${env('HOME') ?? '/tmp'}/.gunicorn/gunicorn.ctl`;
}

export const SETTINGS = [
  // ---- Config File
  def({
    name: 'config',
    section: 'Config File',
    cli: ['-c', '--config'],
    meta: 'CONFIG',
    validator: validateNullableString,
    default: () => null,
    defaultDoc: "'./gunicorn.conf.js' (also .mjs, .cjs)",
    desc: 'The gunicorn-ts config file: a JS module exporting settings and server hooks.',
  }),
  def({
    name: 'wsgi_app',
    section: 'Config File',
    validator: validateNullableString,
    default: () => null,
    desc: 'A WSGI-style application path in the pattern MODULE:VARIABLE (config file only; the command line argument wins).',
  }),
  // ---- Server Socket
  def({
    name: 'bind',
    section: 'Server Socket',
    cli: ['-b', '--bind'],
    meta: 'ADDRESS',
    action: 'append',
    validator: validateList,
    // As Gunicorn (config.py, class Bind): platforms that set $PORT (Heroku, Cloud Run, Render, fly.io, a
    // container's ENV PORT) get every interface on that port; an explicit bind anywhere wins.
    default: () => (env('PORT') !== undefined ? [`0.0.0.0:${env('PORT')}`] : ['127.0.0.1:8000']),
    defaultDoc: "['127.0.0.1:8000'], or ['0.0.0.0:$PORT'] when $PORT is set",
    desc: 'The socket(s) to bind: HOST, HOST:PORT, [IPv6]:PORT, unix:PATH or fd://FD. Repeatable.',
  }),
  def({
    name: 'backlog',
    section: 'Server Socket',
    cli: ['--backlog'],
    meta: 'INT',
    validator: validatePosInt,
    default: () => 2048,
    desc: 'The maximum number of pending connections.',
  }),
  // ---- Worker Processes
  def({
    name: 'workers',
    section: 'Worker Processes',
    cli: ['-w', '--workers'],
    meta: 'INT',
    validator: validatePosInt,
    default: () => Number(env('WEB_CONCURRENCY') ?? 1),
    defaultDoc: '$WEB_CONCURRENCY or 1',
    desc: 'The number of worker processes for handling requests.',
  }),
  def({
    name: 'worker_class',
    section: 'Worker Processes',
    cli: ['-k', '--worker-class'],
    meta: 'STRING',
    validator: validateChoice(['sync', 'fetch', 'node'] as const),
    default: () => 'sync' as const,
    desc:
      "The type of workers to use. 'sync': an event-loop worker on the native core, for WSGI-style " +
      '(environ, start_response) applications, and fetch-style ones when detected (an object with a fetch method). ' +
      "'fetch': the native core, for fetch-style applications, (request: Request) => Response or an object with a " +
      "fetch method. 'node': each worker serves the inherited sockets with node:http, for " +
      '(req, res) handlers: Express, Koa, Fastify, plain node:http listeners (README, "(req, res) apps: -k node"). ' +
      "An Express, Koa or Fastify app given with 'sync' selects 'node' by itself (the boot log says so).",
  }),
  def({
    name: 'worker_connections',
    native: true,
    section: 'Worker Processes',
    cli: ['--worker-connections'],
    meta: 'INT',
    validator: validatePosInt,
    default: () => 1000,
    desc: 'The maximum number of simultaneous client connections per worker; more wait in the backlog.',
  }),
  def({
    name: 'max_requests',
    section: 'Worker Processes',
    cli: ['--max-requests'],
    meta: 'INT',
    validator: validatePosInt,
    default: () => 0,
    desc: 'The maximum number of requests a worker will process before restarting (0 = never).',
  }),
  def({
    name: 'max_requests_jitter',
    section: 'Worker Processes',
    cli: ['--max-requests-jitter'],
    meta: 'INT',
    validator: validatePosInt,
    default: () => 0,
    desc: 'The maximum jitter to add to max_requests, so that workers do not all restart at once.',
  }),
  def({
    name: 'timeout',
    section: 'Worker Processes',
    cli: ['-t', '--timeout'],
    meta: 'INT',
    validator: validateNumber,
    default: () => 30,
    desc: 'Workers silent (event loop blocked) for more than this many seconds are killed and restarted (0 = off).',
  }),
  def({
    name: 'graceful_timeout',
    section: 'Worker Processes',
    cli: ['--graceful-timeout'],
    meta: 'INT',
    validator: validateNumber,
    default: () => 30,
    desc: 'Timeout for graceful workers restart: seconds in-flight requests get before the worker is killed.',
  }),
  def({
    name: 'keepalive',
    native: true,
    section: 'Worker Processes',
    cli: ['--keep-alive'],
    meta: 'INT',
    validator: validateNumber,
    default: () => 2,
    desc: 'The number of seconds to wait for requests on a Keep-Alive connection (0 disables keep-alive).',
  }),
  def({
    name: 'header_timeout',
    native: true,
    section: 'Worker Processes',
    cli: ['--header-timeout'],
    meta: 'INT',
    validator: validateNumber,
    default: () => 60,
    extension: true,
    desc: "Seconds a client has to send a complete request head; slower clients are disconnected (as Node's headersTimeout).",
  }),
  def({
    name: 'body_timeout',
    native: true,
    section: 'Worker Processes',
    cli: ['--body-timeout'],
    meta: 'SECONDS',
    validator: validateNumber,
    default: () => 30,
    extension: true,
    desc:
      'Seconds a client first has to send a request body; each body_min_rate bytes received add one more ' +
      "(Apache mod_reqtimeout's body=30,MinRate=500). A client that falls behind gets 408 (or, once the response " +
      "has started, its connection closed) and the application's wsgi.input fails. The time the application itself " +
      'holds the body back (not reading wsgi.input) does not count (0 = off).',
  }),
  def({
    name: 'body_min_rate',
    native: true,
    section: 'Worker Processes',
    cli: ['--body-min-rate'],
    meta: 'BYTES',
    validator: validatePosInt,
    default: () => 500,
    extension: true,
    desc:
      'The request body rate, in bytes per second, that keeps extending body_timeout: a body dripped slower than this ' +
      'ends at body_timeout plus its size divided by this rate (0 = body_timeout is a deadline for the whole body).',
  }),
  def({
    name: 'request_timeout',
    native: true,
    section: 'Worker Processes',
    cli: ['--request-timeout'],
    meta: 'SECONDS',
    validator: validateNumber,
    default: () => 30,
    extension: true,
    desc:
      'Seconds the application has to finish a response once the whole request has arrived (a hung await, a ' +
      "stuck stream): nothing sent yet is answered 503 (as Go's TimeoutHandler; 504 is a gateway's answer for a slow " +
      'upstream), a response already started has its connection closed; either way the iterable is closed, ' +
      'wsgi.input fails and the access log has the line. Time spent waiting for a slow client (the body, a full ' +
      "socket) does not count; those have body_timeout and write_timeout. Gunicorn's sync worker has the same bound " +
      'through timeout (30); raise this for long responses (SSE, long polling) (0 = off).',
  }),
  def({
    name: 'write_timeout',
    native: true,
    section: 'Worker Processes',
    cli: ['--write-timeout'],
    meta: 'SECONDS',
    validator: validateNumber,
    default: () => 60,
    extension: true,
    desc:
      "Seconds a response may go without the client taking any of it (it stopped reading; nginx's send_timeout): " +
      'the connection is closed and the application, if still writing, sees a disconnect (0 = off).',
  }),
  // ---- Security
  def({
    name: 'limit_request_line',
    native: true,
    section: 'Security',
    cli: ['--limit-request-line'],
    meta: 'INT',
    validator: validatePosInt,
    default: () => 4094,
    desc: 'The maximum size of the HTTP request line in bytes (0 = unlimited, values above 8190 act as 8190).',
  }),
  def({
    name: 'limit_request_fields',
    native: true,
    section: 'Security',
    cli: ['--limit-request-fields'],
    meta: 'INT',
    validator: validatePosInt,
    default: () => 100,
    desc: 'Limit the number of HTTP header fields in a request (at most 32768).',
  }),
  def({
    name: 'limit_request_field_size',
    native: true,
    section: 'Security',
    cli: ['--limit-request-field_size'],
    meta: 'INT',
    validator: validatePosInt,
    default: () => 8190,
    desc: 'Limit the allowed size of an HTTP request header field, including its CRLF (0 = 8190; at most 1 MiB).',
  }),
  def({
    name: 'limit_request_body',
    native: true,
    section: 'Security',
    cli: ['--limit-request-body'],
    meta: 'INT',
    validator: validatePosInt,
    default: () => 0,
    extension: true,
    desc: 'The maximum size of a request body in bytes; larger bodies get 413 (0 = unlimited).',
  }),
  // ---- Debugging
  def({
    name: 'reload',
    section: 'Debugging',
    cli: ['--reload'],
    action: 'flag',
    validator: validateBool,
    default: () => false,
    desc: 'Restart workers when code changes (development only; incompatible with preload_app).',
  }),
  def({
    name: 'reload_engine',
    section: 'Debugging',
    cli: ['--reload-engine'],
    meta: 'STRING',
    validator: validateChoice(['auto', 'poll', 'inotify'] as const),
    default: () => 'auto' as const,
    desc: "The implementation that should be used to power reload: 'auto', 'poll' (stat every second) or 'inotify' (fs.watch).",
  }),
  def({
    name: 'reload_extra_files',
    section: 'Debugging',
    cli: ['--reload-extra-file'],
    meta: 'FILES',
    action: 'append',
    validator: validateList,
    default: () => [],
    desc: 'Extends reload option to also watch and reload on additional files (globs with * are expanded each check).',
  }),
  def({
    name: 'check_config',
    section: 'Debugging',
    cli: ['--check-config'],
    action: 'flag',
    validator: validateBool,
    default: () => false,
    desc: 'Check the configuration and the application, then exit (0 if fine, 1 if not).',
  }),
  def({
    name: 'print_config',
    section: 'Debugging',
    cli: ['--print-config'],
    action: 'flag',
    validator: validateBool,
    default: () => false,
    desc: 'Print the configuration settings as fully resolved. Implies check-config.',
  }),
  // ---- Server Mechanics
  def({
    name: 'preload_app',
    section: 'Server Mechanics',
    cli: ['--preload'],
    action: 'flag',
    validator: validateBool,
    default: () => false,
    desc: 'Load application code in the master before the workers start, so a broken application fails fast.',
  }),
  def({
    name: 'sendfile',
    section: 'Server Mechanics',
    cli: ['--no-sendfile'],
    action: 'flag',
    validator: validateBool,
    default: () => env('SENDFILE') === undefined || !/^(0|false|no|off)$/i.test(env('SENDFILE')!),
    defaultDoc: 'on, unless $SENDFILE is 0/false/no/off',
    desc:
      'Send a wsgi.file_wrapper over a regular file with sendfile(2), from its current offset, without reading it ' +
      'through JavaScript (not with TLS; a socket that is full gets copied blocks meanwhile). --no-sendfile turns it off.',
  }),
  def({
    name: 'reuse_port',
    section: 'Server Mechanics',
    cli: ['--reuse-port'],
    action: 'flag',
    validator: validateBool,
    default: () => false,
    desc: 'Set the SO_REUSEPORT flag on the listening socket.',
  }),
  def({
    name: 'chdir',
    section: 'Server Mechanics',
    cli: ['--chdir'],
    meta: 'CHDIR',
    validator: validateChdir,
    default: () => process.cwd(),
    defaultDoc: "'.'",
    desc: 'Change directory to the specified directory before loading apps.',
  }),
  def({
    name: 'pythonpath',
    section: 'Server Mechanics',
    cli: ['--pythonpath'],
    meta: 'STRING',
    validator: validateStringList,
    default: () => [],
    defaultDoc: '[]',
    desc:
      'A comma-separated list of directories where the application MODULE is looked for, after the working ' +
      "directory (--chdir), in order; relative ones are taken from the working directory. Node's meaning of " +
      "Gunicorn's Python path: it works for ES modules and CommonJS alike, where NODE_PATH only reaches require(). " +
      "The application's own imports still resolve from its file's location (node_modules).",
  }),
  def({
    name: 'daemon',
    section: 'Server Mechanics',
    cli: ['-D', '--daemon'],
    action: 'flag',
    validator: validateBool,
    default: () => false,
    desc: 'Daemonize the gunicorn-ts process (detach from the terminal and run in the background).',
  }),
  def({
    name: 'raw_env',
    section: 'Server Mechanics',
    cli: ['-e', '--env'],
    meta: 'ENV',
    action: 'append',
    validator: validateEnvList,
    default: () => [],
    desc: 'Set environment variables in the execution environment (KEY=VALUE; repeatable).',
  }),
  def({
    name: 'pidfile',
    section: 'Server Mechanics',
    cli: ['-p', '--pid'],
    meta: 'FILE',
    validator: validateNullableString,
    default: () => null,
    desc: 'A filename to use for the PID file (none if not set).',
  }),
  def({
    name: 'user',
    section: 'Server Mechanics',
    cli: ['-u', '--user'],
    meta: 'USER',
    validator: validateUser,
    default: () => process.geteuid?.() ?? 0,
    defaultDoc: 'the current user',
    desc: 'Switch worker processes to run as this user (a name or a uid).',
  }),
  def({
    name: 'group',
    section: 'Server Mechanics',
    cli: ['-g', '--group'],
    meta: 'GROUP',
    validator: validateGroup,
    default: () => process.getegid?.() ?? 0,
    defaultDoc: 'the current group',
    desc: 'Switch worker process to run as this group (a name or a gid).',
  }),
  def({
    name: 'umask',
    section: 'Server Mechanics',
    cli: ['-m', '--umask'],
    meta: 'INT',
    validator: validateUmask,
    default: () => 0,
    desc: 'A bit mask for the file mode on files written by gunicorn-ts (unix sockets).',
  }),
  def({
    name: 'initgroups',
    section: 'Server Mechanics',
    cli: ['--initgroups'],
    action: 'flag',
    validator: validateBool,
    default: () => false,
    desc: "If true, set the worker process's group access list with all of the groups of which the specified username is a member.",
  }),
  def({
    name: 'secure_scheme_headers',
    section: 'Server Mechanics',
    validator: validateDict,
    default: () => ({ 'X-FORWARDED-PROTOCOL': 'ssl', 'X-FORWARDED-PROTO': 'https', 'X-FORWARDED-SSL': 'on' }),
    desc: 'A dictionary of header/value pairs that mark a request from a trusted proxy as HTTPS (config file only).',
  }),
  def({
    name: 'forwarded_allow_ips',
    native: true,
    section: 'Server Mechanics',
    cli: ['--forwarded-allow-ips'],
    meta: 'STRING',
    validator: validateAddrList,
    default: () => validateAddrList('forwarded_allow_ips', env('FORWARDED_ALLOW_IPS') ?? '127.0.0.1,::1'),
    defaultDoc: "$FORWARDED_ALLOW_IPS or '127.0.0.1,::1'",
    desc: "Front-end IPs or networks (comma-separated, '*' for all) trusted to set secure headers.",
  }),
  // ---- Logging
  def({
    name: 'accesslog',
    section: 'Logging',
    cli: ['--access-logfile'],
    meta: 'FILE',
    validator: validateNullableString,
    default: () => null,
    desc: "The Access log file to write to ('-' for stdout; none if not set).",
  }),
  def({
    name: 'access_log_format',
    section: 'Logging',
    cli: ['--access-logformat'],
    meta: 'STRING',
    validator: validateString,
    default: () => '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"',
    desc: "The access log format, with Gunicorn's %(atom)s atoms.",
  }),
  def({
    name: 'errorlog',
    section: 'Logging',
    cli: ['--error-logfile', '--log-file'],
    meta: 'FILE',
    validator: validateString,
    default: () => '-',
    desc: "The Error log file to write to ('-' for stderr).",
  }),
  def({
    name: 'loglevel',
    section: 'Logging',
    cli: ['--log-level'],
    meta: 'LEVEL',
    validator: validateChoice(['debug', 'info', 'warning', 'error', 'critical'] as const),
    default: () => 'info' as const,
    desc: 'The granularity of Error log outputs.',
  }),
  def({
    name: 'capture_output',
    section: 'Logging',
    cli: ['--capture-output'],
    action: 'flag',
    validator: validateBool,
    default: () => false,
    desc: 'Redirect stdout/stderr to the file given in errorlog.',
  }),
  def({
    name: 'enable_stdio_inheritance',
    section: 'Logging',
    cli: ['-R', '--enable-stdio-inheritance'],
    action: 'flag',
    validator: validateBool,
    default: () => false,
    desc: 'Keep stdio open in daemon mode (otherwise it goes to /dev/null).',
  }),
  // ---- Process Naming
  def({
    name: 'proc_name',
    section: 'Process Naming',
    cli: ['-n', '--name'],
    meta: 'STRING',
    validator: validateNullableString,
    default: () => null,
    desc: 'A base to use with the process title (ps, top); default_proc_name when not set.',
  }),
  def({
    name: 'default_proc_name',
    section: 'Process Naming',
    validator: validateString,
    default: () => 'gunicorn-ts',
    desc: 'Internal setting that is adjusted for each type of application (the application path).',
  }),
  // ---- SSL
  def({
    name: 'keyfile',
    section: 'SSL',
    cli: ['--keyfile'],
    meta: 'FILE',
    validator: validateNullableString,
    default: () => null,
    desc: 'SSL key file (PEM). With certfile or keyfile set, every bind serves HTTPS (as Gunicorn); unset, the key is read from certfile.',
  }),
  def({
    name: 'certfile',
    section: 'SSL',
    cli: ['--certfile'],
    meta: 'FILE',
    validator: validateNullableString,
    default: () => null,
    desc: 'SSL certificate file (PEM, the chain after the certificate). Setting it turns TLS on for every bind.',
  }),
  def({
    name: 'ssl_version',
    section: 'SSL',
    cli: ['--ssl-version'],
    meta: 'STRING',
    validator: validateSslVersion,
    default: () => 'TLS' as const,
    defaultDoc: "'TLS' (PROTOCOL_TLS)",
    desc:
      'The minimum TLS version: TLS (also SSLv23, TLS_SERVER, 2, 17) and TLSv1_2 (5) mean TLS 1.2, TLSv1_3 means TLS 1.3; ' +
      'TLSv1 and TLSv1_1 are refused (TLS 1.2 is the minimum). Gunicorn deprecates it in favour of ssl_context.',
  }),
  def({
    name: 'cert_reqs',
    section: 'SSL',
    cli: ['--cert-reqs'],
    meta: 'INT',
    validator: validateCertReqs,
    default: () => 0,
    desc: 'Whether a client certificate is required: 0 none (CERT_NONE), 1 optional (CERT_OPTIONAL), 2 required (CERT_REQUIRED); verified against ca_certs.',
  }),
  def({
    name: 'ca_certs',
    section: 'SSL',
    cli: ['--ca-certs'],
    meta: 'FILE',
    validator: validateNullableString,
    default: () => null,
    desc: 'CA certificates file (PEM) that client certificates are verified against.',
  }),
  def({
    name: 'suppress_ragged_eofs',
    section: 'SSL',
    cli: ['--suppress-ragged-eofs'],
    action: 'flag',
    validator: validateBool,
    default: () => true,
    desc: 'Treat a TLS connection closed without close_notify as a normal end of stream (false: as an error).',
  }),
  def({
    name: 'do_handshake_on_connect',
    section: 'SSL',
    cli: ['--do-handshake-on-connect'],
    action: 'flag',
    validator: validateBool,
    default: () => false,
    desc: 'Accepted for compatibility; no effect: the handshake always runs as soon as the client speaks, within header_timeout.',
  }),
  def({
    name: 'ciphers',
    section: 'SSL',
    cli: ['--ciphers'],
    meta: 'CIPHERS',
    validator: validateNullableString,
    default: () => null,
    desc: "OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites: the ssl_context hook's ciphersuites); unset, OpenSSL's default.",
  }),
  // ---- Server Hooks
  ...HOOK_SETTINGS,
  // ---- Operations: StatsD, syslog, JSON logs, logger_class, Prometheus, control socket
  // (lib/metrics/, lib/logging/syslog.ts, lib/logging/json.ts, lib/control/, lib/arbiter/operations.ts)
  def({
    name: 'log_format',
    section: 'Logging',
    cli: ['--log-format'],
    meta: 'FORMAT',
    extension: true,
    validator: validateChoice(['text', 'json'] as const),
    default: () => 'text' as const,
    desc: "'text' (Gunicorn's lines) or 'json': one JSON object per line in the error log and the access log (the access atoms as fields).",
  }),
  def({
    name: 'logger_class',
    section: 'Logging',
    cli: ['--logger-class'],
    meta: 'STRING',
    validator: validateLoggerClass,
    default: () => null,
    defaultDoc: 'the built-in logger',
    desc: "A logger class: 'MODULE_PATH:ClassName' (or a module whose default export is the class), or the class itself in a config file. It is constructed with the resolved settings and gets Gunicorn's logger methods (critical, error, warning, info, debug, exception, access, reopen_files).",
  }),
  def({
    name: 'syslog',
    section: 'Logging',
    cli: ['--log-syslog'],
    action: 'flag',
    validator: validateBool,
    default: () => false,
    desc: 'Send the error log (and the access log) to syslog too.',
  }),
  def({
    name: 'syslog_addr',
    section: 'Logging',
    cli: ['--log-syslog-to'],
    meta: 'SYSLOG_ADDR',
    validator: validateString,
    default: () => 'udp://localhost:514',
    desc: 'The syslog address: udp://HOST:PORT, tcp://HOST:PORT, or unix://PATH#dgram / unix://PATH#stream (a unix datagram or stream socket; a bare unix://PATH tries a datagram, then a stream, as Gunicorn does).',
  }),
  def({
    name: 'syslog_prefix',
    section: 'Logging',
    cli: ['--log-syslog-prefix'],
    meta: 'SYSLOG_PREFIX',
    validator: validateNullableString,
    default: () => null,
    desc: "The program name in syslog lines: 'gunicorn.PREFIX.error' (default: proc_name).",
  }),
  def({
    name: 'syslog_facility',
    section: 'Logging',
    cli: ['--log-syslog-facility'],
    meta: 'SYSLOG_FACILITY',
    validator: validateChoice(SYSLOG_FACILITY_NAMES),
    default: () => 'user' as const,
    desc: 'The syslog facility name.',
  }),
  def({
    name: 'disable_redirect_access_to_syslog',
    section: 'Logging',
    cli: ['--disable-redirect-access-to-syslog'],
    action: 'flag',
    validator: validateBool,
    default: () => false,
    desc: 'With syslog on, do not send access log lines to syslog.',
  }),
  def({
    name: 'statsd_host',
    section: 'Logging',
    cli: ['--statsd-host'],
    meta: 'STATSD_ADDR',
    validator: validateNullableString,
    default: () => null,
    desc: 'HOST:PORT of the StatsD server to send metrics to (UDP), or unix://PATH (a unix datagram socket); enables StatsD.',
  }),
  def({
    name: 'statsd_prefix',
    section: 'Logging',
    cli: ['--statsd-prefix'],
    meta: 'STATSD_PREFIX',
    validator: validateString,
    default: () => '',
    desc: "Prefix for the StatsD metric names (a trailing '.' is added when missing).",
  }),
  def({
    name: 'dogstatsd_tags',
    section: 'Logging',
    cli: ['--dogstatsd-tags'],
    meta: 'DOGSTATSD_TAGS',
    validator: validateString,
    default: () => '',
    desc: "A comma-delimited list of DogStatsD tags added to every metric (e.g. 'env:prod,app:shop').",
  }),
  def({
    name: 'enable_backlog_metric',
    section: 'Logging',
    cli: ['--enable-backlog-metric'],
    action: 'flag',
    validator: validateBool,
    default: () => false,
    desc: "Send gunicorn.backlog (and the Prometheus accept-queue gauge): the kernel's accept queue length of each TCP listener, read from /proc/net/tcp (Linux). Unix-socket listeners have none.",
  }),
  def({
    name: 'metrics_bind',
    section: 'Logging',
    cli: ['--metrics-bind'],
    meta: 'ADDRESS',
    validator: validateNullableString,
    default: () => null,
    extension: true,
    desc: 'HOST:PORT where the master answers GET /metrics (Prometheus text format, the whole server aggregated). Off by default; never one of the bind addresses.',
  }),
  def({
    name: 'control_socket',
    section: 'Control',
    cli: ['--control-socket'],
    meta: 'PATH',
    validator: validateString,
    default: defaultControlSocket,
    defaultDoc: '$XDG_RUNTIME_DIR/gunicorn.ctl, else ~/.gunicorn/gunicorn.ctl',
    desc: 'The unix socket of the control interface used by `gunicorn-ts ctl`.',
  }),
  def({
    name: 'control_socket_mode',
    section: 'Control',
    cli: ['--control-socket-mode'],
    meta: 'INT',
    validator: validateUmask,
    default: () => 0o600,
    defaultDoc: '0o600',
    desc: 'Permission bits of the control socket (only its owner may connect with 0600).',
  }),
  def({
    name: 'control_socket_disable',
    section: 'Control',
    cli: ['--no-control-socket'],
    action: 'flag',
    validator: validateBool,
    default: () => false,
    desc: 'Do not create the control socket.',
  }),
  // ---- HTTP parsing (Server Mechanics in Gunicorn)
  def({
    name: 'proxy_protocol',
    native: true,
    section: 'Server Mechanics',
    cli: ['--proxy-protocol'],
    meta: 'MODE',
    action: 'optional',
    const: 'auto',
    validator: validateChoice(['off', 'v1', 'v2', 'auto'] as const),
    default: () => 'off' as const,
    desc: "Accept the PROXY protocol preamble (off, v1, v2, auto; the flag alone means 'auto').",
  }),
  def({
    name: 'proxy_allow_ips',
    native: true,
    section: 'Server Mechanics',
    cli: ['--proxy-allow-from'],
    meta: 'STRING',
    validator: validateAddrList,
    default: () => ['127.0.0.1', '::1'],
    desc: "Front-end IPs or networks allowed to send PROXY protocol headers ('*' for all).",
  }),
  def({
    name: 'permit_obsolete_folding',
    native: true,
    section: 'Server Mechanics',
    cli: ['--permit-obsolete-folding'],
    action: 'flag',
    validator: validateBool,
    default: () => false,
    desc: 'Accept obsolete folding of header lines (joined with one space).',
  }),
  def({
    name: 'strip_header_spaces',
    native: true,
    section: 'Server Mechanics',
    cli: ['--strip-header-spaces'],
    action: 'flag',
    validator: validateBool,
    default: () => false,
    desc: 'Strip spaces between a header name and its colon (unsafe).',
  }),
  def({
    name: 'permit_unconventional_http_method',
    native: true,
    section: 'Server Mechanics',
    action: 'flag',
    cli: ['--permit-unconventional-http-method'],
    validator: validateBool,
    default: () => false,
    desc: 'Allow methods with lower-case letters or "#", or outside 3 to 20 characters.',
  }),
  def({
    name: 'permit_unconventional_http_version',
    native: true,
    section: 'Server Mechanics',
    action: 'flag',
    cli: ['--permit-unconventional-http-version'],
    validator: validateBool,
    default: () => false,
    desc: 'Allow HTTP versions other than 1.x.',
  }),
  def({
    name: 'casefold_http_method',
    native: true,
    section: 'Server Mechanics',
    cli: ['--casefold-http-method'],
    action: 'flag',
    validator: validateBool,
    default: () => false,
    desc: 'Upper-case the request method (deprecated Gunicorn behaviour).',
  }),
  def({
    name: 'forwarder_headers',
    native: true,
    section: 'Server Mechanics',
    cli: ['--forwarder-headers'],
    meta: 'STRING',
    validator: validateStringList,
    default: () => ['SCRIPT_NAME', 'PATH_INFO'],
    desc: 'Header names containing "_" that a trusted proxy may set.',
  }),
  def({
    name: 'header_map',
    native: true,
    section: 'Server Mechanics',
    cli: ['--header-map'],
    meta: 'MODE',
    validator: validateChoice(['drop', 'refuse', 'dangerous'] as const),
    default: () => 'drop' as const,
    desc: 'What to do with header names containing "_": drop them, refuse the request (400), or keep them (dangerous).',
  }),
  // ---- HTTP/2 (docs/design/http2.md §4; Gunicorn 25's http_protocols and http2_* settings)
  def({
    name: 'http_protocols',
    native: true,
    section: 'HTTP/2',
    cli: ['--http-protocols'],
    meta: 'STRING',
    validator: validateHttpProtocols,
    default: () => ['h1'],
    desc:
      'The HTTP protocols to serve, in preference order (comma-separated: h1, h2). With TLS, h2 is offered by ' +
      'ALPN in this order; without TLS, h2 needs http2_cleartext. HTTP/3 is not supported.',
  }),
  def({
    name: 'http2_cleartext',
    native: true,
    section: 'HTTP/2',
    cli: ['--http2-cleartext'],
    meta: 'MODE',
    validator: validateChoice(['off', 'prior-knowledge', 'upgrade', 'both'] as const),
    default: () => 'off' as const,
    desc:
      'HTTP/2 without TLS (h2c) when http_protocols has h2: off, prior-knowledge (the client starts with the ' +
      'HTTP/2 preface), upgrade (an HTTP/1.1 request with Upgrade: h2c), or both. Only for peers in ' +
      'forwarded_allow_ips and unix sockets; ignored on TLS binds. With prior-knowledge alone, such a peer ' +
      'that does not send the preface gets 400 (InvalidH2CPreface), as in Gunicorn; both serves HTTP/1.1 too.',
  }),
  def({
    name: 'http2_max_concurrent_streams',
    native: true,
    section: 'HTTP/2',
    cli: ['--http2-max-concurrent-streams'],
    meta: 'INT',
    validator: intRange(1, 2 ** 31 - 1),
    default: () => 100,
    desc: 'The most streams a client may have open at once on one HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS).',
  }),
  def({
    name: 'http2_initial_window_size',
    native: true,
    section: 'HTTP/2',
    cli: ['--http2-initial-window-size'],
    meta: 'INT',
    validator: intRange(0, 2 ** 31 - 1),
    default: () => 65535,
    desc:
      "A stream's receive window in bytes (SETTINGS_INITIAL_WINDOW_SIZE): how much of a request body a client " +
      'may send before the application reads it.',
  }),
  def({
    name: 'http2_max_frame_size',
    native: true,
    section: 'HTTP/2',
    cli: ['--http2-max-frame-size'],
    meta: 'INT',
    validator: intRange(16384, 16777215),
    default: () => 16384,
    desc: 'The largest frame payload we accept, in bytes (SETTINGS_MAX_FRAME_SIZE, 16384 to 16777215).',
  }),
  def({
    name: 'http2_max_header_list_size',
    native: true,
    section: 'HTTP/2',
    cli: ['--http2-max-header-list-size'],
    meta: 'INT',
    validator: validatePosInt,
    default: () => 65536,
    desc:
      "The largest request header list, in bytes as RFC 9113 counts it (each field's name and value plus 32); " +
      'larger heads get 431. 0: not advertised (limit_request_fields and limit_request_field_size still apply).',
  }),
  // ---- WebSocket (native core, environ['gunicorn.websocket'])
  def({
    name: 'websocket_max_message_size',
    native: true,
    section: 'WebSocket',
    cli: ['--websocket-max-message-size'],
    meta: 'BYTES',
    validator: intRange(1, 2 ** 53 - 1),
    default: () => 16 * 1024 * 1024,
    extension: true,
    desc:
      'The largest WebSocket message a client may send, in bytes, after reassembling its fragments (inclusive). ' +
      'A frame header that would take a message past it closes the connection with 1009 before its payload is read.',
  }),
  def({
    name: 'websocket_max_backpressure',
    native: true,
    section: 'WebSocket',
    cli: ['--websocket-max-backpressure'],
    meta: 'BYTES',
    validator: intRange(1, 2 ** 53 - 1),
    default: () => 16 * 1024 * 1024,
    extension: true,
    desc:
      'Bytes queued for a WebSocket client (not yet taken by the kernel) above which `ws.send()` drops the message ' +
      'and returns 0; above 64 KiB it queues and returns -1 (wait for the `drain` handler).',
  }),
  def({
    name: 'websocket_ping_interval',
    native: true,
    section: 'WebSocket',
    cli: ['--websocket-ping-interval'],
    meta: 'SECONDS',
    validator: validateNumber,
    default: () => 30,
    extension: true,
    desc:
      'A WebSocket silent for this many seconds gets a ping; one that stays silent for another interval is ' +
      "closed (the application's close handler gets 1006). Checked every quarter second (0 = no pings).",
  }),
  def({
    name: 'websocket_idle_timeout',
    native: true,
    section: 'WebSocket',
    cli: ['--websocket-idle-timeout'],
    meta: 'SECONDS',
    validator: validateNumber,
    default: () => 0,
    extension: true,
    desc:
      'A WebSocket on which the client has sent no text or binary message for this many seconds (pings and ' +
      'pongs do not count) is closed with 1001. Checked when a ping would be due and on every read from the ' +
      'client, so it may fire up to one websocket_ping_interval late. 0 = off.',
  }),
  def({
    name: 'websocket_compression',
    native: true,
    section: 'WebSocket',
    cli: ['--websocket-compression'],
    meta: 'MODE',
    validator: validateChoice(['off', 'shared', 'dedicated'] as const),
    default: () => 'off' as const,
    extension: true,
    desc:
      'permessage-deflate (RFC 7692) for WebSocket clients that offer it: off (offers declined); shared (one ' +
      'deflater and one inflater per worker, no context takeover in either direction: no memory per ' +
      'connection, less compression); dedicated (zlib streams per connection with context takeover as the ' +
      'client asks, made at the first compressed message each way: about 256 KiB to deflate and 39 KiB to ' +
      'inflate per connection at 15 window bits). Messages under 128 bytes are sent uncompressed; ' +
      '`ws.send(data, isBinary, false)` sends one uncompressed. Inflated messages count against ' +
      'websocket_max_message_size (above it: close 1009); bad compressed data closes with 1007.',
  }),
  def({
    name: 'websocket_compression_window_bits',
    native: true,
    section: 'WebSocket',
    cli: ['--websocket-compression-window-bits'],
    meta: 'INT',
    validator: intRange(9, 15),
    default: () => 15,
    extension: true,
    desc:
      'The largest deflate window (2^N bytes) the server compresses with, and asks the client to compress ' +
      'with when its offer lets the server choose (client_max_window_bits). Lower saves memory per connection ' +
      'in dedicated mode (measured: about 220 KiB at 15, 85 KiB at 10) and compresses less.',
  }),
  // ---- resilience (stray errors, memory recycling, crash loops, shutdown delay): lib/config/resilience-settings.ts
  ...RESILIENCE_SETTINGS,
  // ---- dirty arbiters (a pool for blocking or CPU-heavy jobs): lib/config/dirty-settings.ts
  ...DIRTY_SETTINGS,
] as const;

type Defs = (typeof SETTINGS)[number];
export type SettingName = Defs['name'];
type ValueOf<N extends SettingName> = Extract<Defs, { name: N }> extends { validator: Validator<infer T> } ? T : never;
export type Settings = { [N in SettingName]: ValueOf<N> };

const BY_NAME = new Map<string, SettingDef>(SETTINGS.map((s) => [s.name, s as SettingDef]));

/** The settings the native core reads (nativeOptions() passes each under its name). */
export const NATIVE_SETTINGS = SETTINGS.filter((s): s is Extract<Defs, { native?: true }> => s.native === true);
export type NativeSettingName = Extract<Defs, { native?: true }>['name'];
export type NativeSettings = { [N in NativeSettingName]: ValueOf<N> };

export function settingDef(name: string): SettingDef | undefined {
  return BY_NAME.get(name);
}

/** Defaults for every setting. */
export function defaults(): Settings {
  const out: Record<string, unknown> = {};
  for (const s of SETTINGS) out[s.name] = s.default();
  return out as Settings;
}

/**
 * Validates user options against the registry. Unknown names are an error (a
 * typo must not silently do nothing); `undefined` values mean "default".
 */
export function resolveSettings(options: Record<string, unknown>, base: Settings = defaults()): Settings {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(options)) {
    if (v === undefined) continue;
    const d = BY_NAME.get(k);
    if (d === undefined) throw new SettingError(k, v, 'unknown setting');
    out[k] = d.validator(k, v);
  }
  return out as Settings;
}
