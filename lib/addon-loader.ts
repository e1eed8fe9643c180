// Finds and loads the native core (gunicorn_native.node). In order:
//  1. $GUNICORN_TS_NATIVE: an explicit path (ASan builds, a source build kept elsewhere);
//  2. a local source build: build/Release, then build/Debug (a clone after `npm ci`);
//  3. the addon shipped in the npm tarball: prebuilds/<platform>-<arch>/ (linux-x64,
//     linux-arm64; glibc >= 2.28).
// When none loads, one line says why: the platform, the arch, the libc, and how to build
// from source. The error carries no stack trace (nothing in it is for a user to decode).
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ADDON_FILE = 'gunicorn_native.node';
/** the platforms the npm tarball carries an addon for */
export const PREBUILT = ['linux-x64', 'linux-arm64'] as const;
export const BUILD_FROM_SOURCE =
  'build from source in a clone of gunicorn-ts: a C++17 compiler, make, python3 and llhttp' +
  ' (apt-get install node-llhttp, or LLHTTP_DIR), then `npm ci && npm run build:native`' +
  ` and GUNICORN_TS_NATIVE=<clone>/build/Release/${ADDON_FILE}`;

const packageRoot = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface Candidate {
  /** how the candidate was found, for the error line */
  from: string;
  file: string;
  /** must load (an explicit override): a failure is reported, not skipped */
  explicit: boolean;
}

export function candidates(
  env: NodeJS.ProcessEnv = process.env,
  root = packageRoot,
  platform: string = process.platform,
  arch: string = process.arch,
): Candidate[] {
  const list: Candidate[] = [];
  const override = env.GUNICORN_TS_NATIVE;
  if (override) list.push({ from: 'GUNICORN_TS_NATIVE', file: path.resolve(override), explicit: true });
  for (const kind of ['Release', 'Debug']) {
    list.push({
      from: `the source build (build/${kind})`,
      file: path.join(root, 'build', kind, ADDON_FILE),
      explicit: false,
    });
  }
  list.push({
    from: `the prebuilt addon (prebuilds/${platform}-${arch})`,
    file: path.join(root, 'prebuilds', `${platform}-${arch}`, ADDON_FILE),
    explicit: false,
  });
  return list;
}

/** "glibc 2.36", "musl", or the platform's own C library */
export function describeLibc(platform: string = process.platform): string {
  if (platform !== 'linux') return platform === 'darwin' ? 'libSystem' : 'its own libc';
  try {
    const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
    if (header?.glibcVersionRuntime) return `glibc ${header.glibcVersionRuntime}`;
  } catch {
    /* no report: fall through */
  }
  try {
    if (fs.readdirSync('/lib').some((f) => f.startsWith('ld-musl-'))) return 'musl';
  } catch {
    /* no /lib */
  }
  return 'a libc other than glibc';
}

/** the first line of a loader error, without Node's "Error: " decorations */
function reason(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return (msg.split('\n')[0] ?? '').trim();
}

export class AddonLoadError extends Error {
  declare readonly code: 'GUNICORN_TS_NO_NATIVE';
  constructor(message: string) {
    // one line, no frames: what a user sees if nobody catches it
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      super(message);
    } finally {
      Error.stackTraceLimit = limit;
    }
    this.name = 'AddonLoadError';
    this.stack = `${this.name}: ${message}`;
    Object.defineProperty(this, 'code', { value: 'GUNICORN_TS_NO_NATIVE', enumerable: false });
  }
}

/**
 * Loads the first candidate whose file exists. An existing file that fails to load is
 * reported at once (a stale or foreign build must not be replaced silently by another).
 */
export function loadAddon<T>(
  requireFrom: NodeJS.Require = createRequire(import.meta.url),
  list: Candidate[] = candidates(),
): T {
  for (const c of list) {
    if (!c.explicit && !fs.existsSync(c.file)) continue;
    try {
      return requireFrom(c.file) as T;
    } catch (e) {
      const where = `${process.platform}-${process.arch} (${describeLibc()}, Node ${process.version})`;
      throw new AddonLoadError(
        `gunicorn-ts: cannot load the native core from ${c.from}, ${c.file}, on ${where}: ` +
          `${reason(e)}; ${c.explicit ? 'unset GUNICORN_TS_NATIVE or point it at a built addon' : BUILD_FROM_SOURCE}`,
      );
    }
  }
  const here = `${process.platform}-${process.arch}`;
  const why = (PREBUILT as readonly string[]).includes(here)
    ? `this copy of gunicorn-ts has no prebuilds/${here}`
    : `gunicorn-ts ships prebuilt addons for ${PREBUILT.join(' and ')} (glibc >= 2.28) only`;
  throw new AddonLoadError(
    `gunicorn-ts: no native core for ${here} (${describeLibc()}, Node ${process.version}): ` +
      `${why}; ${BUILD_FROM_SOURCE}`,
  );
}
