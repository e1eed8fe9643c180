// Setting validators: each takes a raw value (from code, a config file or the
// command line) and returns the typed value or throws a SettingError.

import fs from 'node:fs';
import path from 'node:path';

export class SettingError extends Error {
  readonly code = 'GTS_ERR_INVALID_SETTING';
  constructor(
    readonly setting: string,
    readonly value: unknown,
    why?: string,
  ) {
    super(`Invalid value for ${setting}: ${show(value)}${why ? ` (${why})` : ''}`);
  }
}

function show(v: unknown): string {
  if (typeof v === 'string') return v;
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

export type Validator<T> = (name: string, value: unknown) => T;

export const validateBool: Validator<boolean> = (name, v) => {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (s === 'true' || s === '1' || s === 'yes' || s === 'on') return true;
    if (s === 'false' || s === '0' || s === 'no' || s === 'off') return false;
  }
  throw new SettingError(name, v, 'expected true or false');
};

export const validatePosInt: Validator<number> = (name, v) => {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && /^\s*\d+\s*$/.test(v)) n = Number(v);
  else throw new SettingError(name, v, 'expected a non-negative integer');
  if (!Number.isSafeInteger(n) || n < 0) throw new SettingError(name, v, 'expected a non-negative integer');
  return n;
};

export const validateNumber: Validator<number> = (name, v) => {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (!Number.isFinite(n) || n < 0) throw new SettingError(name, v, 'expected a non-negative number');
  return n;
};

export const validateString: Validator<string> = (name, v) => {
  if (typeof v === 'string') return v;
  throw new SettingError(name, v, 'expected a string');
};

export const validateOptString: Validator<string | null> = (name, v) => {
  if (v === null || v === undefined) return null;
  return validateString(name, v);
};

export const validateStringList: Validator<string[]> = (name, v) => {
  if (typeof v === 'string')
    return v
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
  if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v.map((s) => s.trim());
  throw new SettingError(name, v, 'expected a list of strings');
};

/** A list where each element is one value (binds): "a,b" is NOT split. */
export const validateList: Validator<string[]> = (name, v) => {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return [...v];
  throw new SettingError(name, v, 'expected a string or a list of strings');
};

export function validateChoice<T extends string>(choices: readonly T[]): Validator<T> {
  return (name, v) => {
    if (typeof v === 'string' && (choices as readonly string[]).includes(v.toLowerCase())) return v.toLowerCase() as T;
    throw new SettingError(name, v, `expected one of ${choices.join(', ')}`);
  };
}

export const validateDict: Validator<Record<string, string>> = (name, v) => {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(v)) {
      if (typeof val !== 'string') throw new SettingError(name, v, `value of ${k} must be a string`);
      out[k] = val;
    }
    return out;
  }
  throw new SettingError(name, v, 'expected an object of strings');
};

/** Gunicorn accepts octal/hex strings ("0o22", "0x12", "022") and integers. */
export const validateUmask: Validator<number> = (name, v) => {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0o777) return v;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    let n = NaN;
    if (/^0x[0-9a-f]+$/.test(s)) n = parseInt(s.slice(2), 16);
    else if (/^0o[0-7]+$/.test(s)) n = parseInt(s.slice(2), 8);
    else if (/^0[0-7]+$/.test(s)) n = parseInt(s.slice(1), 8);
    else if (/^\d+$/.test(s)) n = parseInt(s, 10);
    if (Number.isInteger(n) && n >= 0 && n <= 0o777) return n;
  }
  throw new SettingError(name, v, 'expected a umask such as 0o22');
};

/** IPs or CIDRs, or "*": checked here so a typo fails at start-up, not per request. */
export const validateAddrList: Validator<string[]> = (name, v) => {
  const list = validateStringList(name, v);
  for (const item of list) {
    if (item === '*') continue;
    const [addr, prefix, extra] = item.split('/');
    const ipv4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(addr ?? '');
    const okAddr = ipv4
      ? ipv4.slice(1).every((p) => Number(p) <= 255)
      : /^[0-9a-fA-F:.]+$/.test(addr ?? '') && (addr ?? '').includes(':');
    const max = ipv4 ? 32 : 128;
    const okPrefix = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= max);
    if (!okAddr || !okPrefix || extra !== undefined)
      throw new SettingError(name, v, `not an IP address or network: ${item}`);
  }
  return list;
};

/** A function (server hooks). Gunicorn checks the arity; JS arity is unreliable, so only the type is checked. */
export function validateCallable(): Validator<(...args: any[]) => unknown> {
  return (name, v) => {
    if (typeof v === 'function') return v as (...args: any[]) => unknown;
    throw new SettingError(name, v, 'expected a function');
  };
}

/** A string or nothing (null): pidfile, accesslog, proc_name, wsgi_app ... */
export const validateNullableString: Validator<string | null> = (name, v) => {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  throw new SettingError(name, v, 'expected a string');
};

function lookup(file: string, key: string): number | undefined {
  try {
    for (const line of fs.readFileSync(file, 'latin1').split('\n')) {
      const f = line.split(':');
      if (f[0] === key && f[2] !== undefined && /^\d+$/.test(f[2])) return Number(f[2]);
    }
  } catch {
    /* no such database: names cannot be resolved */
  }
  return undefined;
}

// An id, or a name looked up in `db` (Gunicorn's validate_user / validate_group).
function idOrName(db: string, what: string, idName: string): Validator<number> {
  return (name, v) => {
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
    if (typeof v === 'string') {
      if (/^\d+$/.test(v.trim())) return Number(v.trim());
      const id = lookup(db, v.trim());
      if (id !== undefined) return id;
      throw new SettingError(name, v, `no such ${what}: '${v}'`);
    }
    throw new SettingError(name, v, `expected a ${what} name or ${idName}`);
  };
}

/** user: a uid or a user name (looked up in /etc/passwd), as Gunicorn's validate_user. */
export const validateUser: Validator<number> = idOrName('/etc/passwd', 'user', 'uid');

/** group: a gid or a group name (looked up in /etc/group). */
export const validateGroup: Validator<number> = idOrName('/etc/group', 'group', 'gid');

/** chdir: must be an existing directory; stored absolute. */
export const validateChdir: Validator<string> = (name, v) => {
  const s = validateString(name, v);
  const abs = path.resolve(s);
  let ok = false;
  try {
    ok = fs.statSync(abs).isDirectory();
  } catch {
    ok = false;
  }
  if (!ok) throw new SettingError(name, v, `can't chdir to '${s}'`);
  return abs;
};

/** raw_env: KEY=VALUE strings; repeatable. */
export const validateEnvList: Validator<string[]> = (name, v) => {
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || !list.every((s) => typeof s === 'string'))
    throw new SettingError(name, v, 'expected KEY=VALUE strings');
  for (const s of list) {
    if (!/^[^=]+=/.test(s)) throw new SettingError(name, v, `expected KEY=VALUE, got '${s}'`);
  }
  return [...list];
};

/** A Python ssl constant as Gunicorn's users write it (`ssl.CERT_REQUIRED`, `PROTOCOL_TLS`, 2): upper-cased, without the prefix. */
function sslConstant(v: unknown, prefix: string): string {
  if (typeof v === 'number') return String(v);
  if (typeof v !== 'string') return '';
  return v
    .trim()
    .replace(new RegExp(`^(ssl\\.)?${prefix}`, 'i'), '')
    .toUpperCase();
}

/** Gunicorn's ssl_version (names or Python's ssl.PROTOCOL_* numbers) as a minimum TLS version. */
export const validateSslVersion: Validator<'TLS' | 'TLSv1_2' | 'TLSv1_3'> = (name, v) => {
  switch (sslConstant(v, 'PROTOCOL_')) {
    case 'TLS':
    case 'SSLV23':
    case 'TLS_SERVER':
    case '2':
    case '17':
      return 'TLS';
    case 'TLSV1_2':
    case '5':
      return 'TLSv1_2';
    case 'TLSV1_3':
      return 'TLSv1_3';
    case 'TLSV1':
    case 'TLSV1_1':
    case 'SSLV3':
    case 'SSLV2':
    case '1':
    case '3':
    case '4':
      throw new SettingError(name, v, 'TLS 1.0 and 1.1 (and SSL) are refused: TLS 1.2 is the minimum');
    default:
      throw new SettingError(name, v, 'expected TLS, TLSv1_2 or TLSv1_3');
  }
};

/** Gunicorn's cert_reqs: 0/1/2 or ssl.CERT_NONE/OPTIONAL/REQUIRED. */
export const validateCertReqs: Validator<number> = (name, v) => {
  const s = sslConstant(v, 'CERT_');
  const n = ({ '0': 0, '1': 1, '2': 2, NONE: 0, OPTIONAL: 1, REQUIRED: 2 } as Record<string, number>)[s];
  if (n === undefined) throw new SettingError(name, v, 'expected 0 (none), 1 (optional) or 2 (required)');
  return n;
};
