// THE settings registry: one declaration per setting. Validation of options
// passed to serve(), config files and (later) the command line all derive
// from this list. Names, defaults and meanings are Gunicorn's; settings that
// gunicorn-ts adds are marked `extension: true`.
import {
  validateAddrList,
  validateBool,
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

export interface SettingDef<T = unknown> {
  name: string;
  section: string;
  cli?: string[];
  meta?: string;
  validator: Validator<T>;
  default: () => T;
  defaultDoc?: string;
  desc: string;
  extension?: boolean;
}

function def<const N extends string, T>(d: SettingDef<T> & { name: N }): SettingDef<T> & { name: N } {
  return d;
}

const env = (k: string): string | undefined => {
  const v = process.env[k];
  return v === undefined || v === '' ? undefined : v;
};

export const SETTINGS = [
  def({
    name: 'bind', section: 'Server Socket', cli: ['-b', '--bind'], meta: 'ADDRESS', validator: validateList,
    default: () => ['127.0.0.1:8000'],
    desc: 'The socket(s) to bind: HOST, HOST:PORT, [IPv6]:PORT, unix:PATH or fd://FD. Repeatable.',
  }),
  def({
    name: 'backlog', section: 'Server Socket', cli: ['--backlog'], meta: 'INT', validator: validatePosInt,
    default: () => 2048, desc: 'The maximum number of pending connections.',
  }),
  def({
    name: 'workers', section: 'Worker Processes', cli: ['-w', '--workers'], meta: 'INT', validator: validatePosInt,
    default: () => Number(env('WEB_CONCURRENCY') ?? 1), defaultDoc: '$WEB_CONCURRENCY or 1',
    desc: 'The number of worker processes for handling requests.',
  }),
  def({
    name: 'worker_connections', section: 'Worker Processes', cli: ['--worker-connections'], meta: 'INT',
    validator: validatePosInt, default: () => 1000,
    desc: 'The maximum number of simultaneous client connections per worker; more wait in the backlog.',
  }),
  def({
    name: 'graceful_timeout', section: 'Worker Processes', cli: ['--graceful-timeout'], meta: 'INT',
    validator: validateNumber, default: () => 30,
    desc: 'Seconds in-flight requests get to finish after a graceful stop before connections are closed.',
  }),
  def({
    name: 'keepalive', section: 'Worker Processes', cli: ['--keep-alive'], meta: 'INT', validator: validateNumber,
    default: () => 2, desc: 'The number of seconds to wait for requests on a Keep-Alive connection (0 disables keep-alive).',
  }),
  def({
    name: 'header_timeout', section: 'Worker Processes', cli: ['--header-timeout'], meta: 'INT',
    validator: validateNumber, default: () => 30, extension: true,
    desc: 'Seconds a client has to send a complete request head; slower clients are disconnected.',
  }),
  def({
    name: 'limit_request_line', section: 'Security', cli: ['--limit-request-line'], meta: 'INT',
    validator: validatePosInt, default: () => 4094,
    desc: 'The maximum size of the HTTP request line in bytes (0 = unlimited, values above 8190 act as 8190).',
  }),
  def({
    name: 'limit_request_fields', section: 'Security', cli: ['--limit-request-fields'], meta: 'INT',
    validator: validatePosInt, default: () => 100,
    desc: 'Limit the number of HTTP header fields in a request (at most 32768).',
  }),
  def({
    name: 'limit_request_field_size', section: 'Security', cli: ['--limit-request-field_size'], meta: 'INT',
    validator: validatePosInt, default: () => 8190,
    desc: 'Limit the allowed size of an HTTP request header field, including its CRLF (0 = 8190).',
  }),
  def({
    name: 'limit_request_body', section: 'Security', cli: ['--limit-request-body'], meta: 'INT',
    validator: validatePosInt, default: () => 0, extension: true,
    desc: 'The maximum size of a request body in bytes; larger bodies get 413 (0 = unlimited).',
  }),
  def({
    name: 'reuse_port', section: 'Server Mechanics', cli: ['--reuse-port'], validator: validateBool,
    default: () => false, desc: 'Set the SO_REUSEPORT flag on the listening socket.',
  }),
  def({
    name: 'umask', section: 'Server Mechanics', cli: ['-m', '--umask'], meta: 'INT', validator: validateUmask,
    default: () => 0, desc: 'A bit mask for the file mode on files written by gunicorn-ts (unix sockets).',
  }),
  def({
    name: 'secure_scheme_headers', section: 'Server Mechanics', validator: validateDict,
    default: () => ({ 'X-FORWARDED-PROTOCOL': 'ssl', 'X-FORWARDED-PROTO': 'https', 'X-FORWARDED-SSL': 'on' }),
    desc: 'A dictionary of header/value pairs that mark a request from a trusted proxy as HTTPS.',
  }),
  def({
    name: 'forwarded_allow_ips', section: 'Server Mechanics', cli: ['--forwarded-allow-ips'], meta: 'STRING',
    validator: validateAddrList, default: () => validateAddrList('forwarded_allow_ips', env('FORWARDED_ALLOW_IPS') ?? '127.0.0.1,::1'),
    defaultDoc: "$FORWARDED_ALLOW_IPS or '127.0.0.1,::1'",
    desc: "Front-end IPs or networks (comma-separated, '*' for all) trusted to set secure headers.",
  }),
  def({
    name: 'forwarder_headers', section: 'Server Mechanics', cli: ['--forwarder-headers'], meta: 'STRING',
    validator: validateStringList, default: () => ['SCRIPT_NAME', 'PATH_INFO'],
    desc: 'Header names containing "_" that a trusted proxy may set.',
  }),
  def({
    name: 'proxy_protocol', section: 'Server Mechanics', cli: ['--proxy-protocol'], meta: 'MODE',
    validator: validateChoice(['off', 'v1', 'v2', 'auto'] as const), default: () => 'off' as const,
    desc: 'Accept the PROXY protocol preamble (off, v1, v2, auto).',
  }),
  def({
    name: 'proxy_allow_ips', section: 'Server Mechanics', cli: ['--proxy-allow-from'], meta: 'STRING',
    validator: validateAddrList, default: () => ['127.0.0.1', '::1'],
    desc: "Front-end IPs or networks allowed to send PROXY protocol headers ('*' for all).",
  }),
  def({
    name: 'permit_obsolete_folding', section: 'Server Mechanics', cli: ['--permit-obsolete-folding'],
    validator: validateBool, default: () => false, desc: 'Accept obsolete folding of header lines (joined with one space).',
  }),
  def({
    name: 'strip_header_spaces', section: 'Server Mechanics', cli: ['--strip-header-spaces'],
    validator: validateBool, default: () => false, desc: 'Strip spaces between a header name and its colon (unsafe).',
  }),
  def({
    name: 'permit_unconventional_http_method', section: 'Server Mechanics',
    cli: ['--permit-unconventional-http-method'], validator: validateBool, default: () => false,
    desc: 'Allow methods with lower-case letters or "#", or outside 3 to 20 characters.',
  }),
  def({
    name: 'permit_unconventional_http_version', section: 'Server Mechanics',
    cli: ['--permit-unconventional-http-version'], validator: validateBool, default: () => false,
    desc: 'Allow HTTP versions other than 1.x.',
  }),
  def({
    name: 'casefold_http_method', section: 'Server Mechanics', cli: ['--casefold-http-method'],
    validator: validateBool, default: () => false, desc: 'Upper-case the request method (deprecated Gunicorn behaviour).',
  }),
  def({
    name: 'header_map', section: 'Server Mechanics', cli: ['--header-map'], meta: 'MODE',
    validator: validateChoice(['drop', 'refuse', 'dangerous'] as const), default: () => 'drop' as const,
    desc: 'What to do with header names containing "_": drop them, refuse the request (400), or keep them (dangerous).',
  }),
  def({
    name: 'errorlog', section: 'Logging', cli: ['--error-logfile', '--log-file'], meta: 'FILE',
    validator: validateString, default: () => '-', desc: "The error log file to write to ('-' for stderr).",
  }),
  def({
    name: 'loglevel', section: 'Logging', cli: ['--log-level'], meta: 'LEVEL',
    validator: validateChoice(['debug', 'info', 'warning', 'error', 'critical'] as const), default: () => 'info' as const,
    desc: 'The granularity of error log output.',
  }),
] as const;

type Defs = (typeof SETTINGS)[number];
export type SettingName = Defs['name'];
type ValueOf<N extends SettingName> = Extract<Defs, { name: N }> extends { validator: Validator<infer T> } ? T : never;
export type Settings = { [N in SettingName]: ValueOf<N> };

const BY_NAME = new Map<string, SettingDef<any>>(SETTINGS.map((s) => [s.name, s as SettingDef<any>]));

export function settingDef(name: string): SettingDef<any> | undefined {
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
