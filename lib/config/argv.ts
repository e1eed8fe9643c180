// The command line, generated from the settings registry: every setting with
// `cli` flags becomes a commander option; --help shows Gunicorn's
// "<description> [<default>]". The same parser reads GUNICORN_CMD_ARGS.
import { Command, CommanderError, Option } from 'commander';

import { SETTINGS, type SettingDef } from './settings.js';
import { VERSION } from '../version.js';
import { pyRepr } from './format.js';

export interface ParsedArgs {
  /** raw values by setting name, only for flags that were given */
  options: Record<string, unknown>;
  /** the positional APP_MODULE, if any */
  app: string | undefined;
}

export class UsageError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

function helpText(d: SettingDef): string {
  const dflt = d.defaultDoc ?? pyRepr(d.default());
  return `${d.desc} [${dflt}]`;
}

function buildProgram(
  prog: string,
  out: { write: (s: string) => void; err: (s: string) => void },
): { program: Command; opts: Array<[SettingDef, Option]> } {
  const program = new Command(prog);
  program
    .usage('[OPTIONS] [APP_MODULE]')
    .argument(
      '[APP_MODULE]',
      'the application: MODULE:VARIABLE (VARIABLE defaults to application), or MODULE:factory(args)',
    )
    .helpOption('-h, --help', 'show this help message and exit')
    .version(`${prog} (version ${VERSION})`, '-v, --version', "show program's version number and exit")
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeOut: out.write, writeErr: out.err });
  const opts: Array<[SettingDef, Option]> = [];
  for (const d of SETTINGS as readonly SettingDef[]) {
    if (!d.cli) continue;
    const flags = d.cli.join(', ');
    const action = d.action ?? 'store';
    let o: Option;
    if (action === 'flag') o = new Option(flags, helpText(d));
    else if (action === 'optional') o = new Option(`${flags} [${d.meta ?? 'VALUE'}]`, helpText(d)).preset(d.const);
    else o = new Option(`${flags} <${d.meta ?? 'VALUE'}>`, helpText(d));
    if (action === 'append') o.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
    program.addOption(o);
    opts.push([d, o]);
  }
  return { program, opts };
}

/** Parses argv (without node and the script). Throws UsageError for bad flags, --help and --version. */
export function parseArgs(
  argv: readonly string[],
  prog = 'gunicorn-ts',
  out = { write: (s: string) => process.stdout.write(s), err: (s: string) => process.stderr.write(s) },
): ParsedArgs {
  const { program, opts } = buildProgram(prog, out);
  try {
    program.parse([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) throw new UsageError(e.message, e.exitCode);
    throw e;
  }
  const values = program.opts();
  const options: Record<string, unknown> = {};
  for (const [d, o] of opts) {
    const v: unknown = values[o.attributeName()]; // commander's values are any
    if (v === undefined) continue;
    // commander shares one attribute between --X VALUE and --no-X (--control-socket / --no-control-socket)
    if (o.negate) {
      // --no-X sets the setting against its default (--no-control-socket: true, --no-sendfile: false)
      if (v === false) options[d.name] = !d.default();
      continue;
    }
    if (v === false && d.action !== 'flag') continue;
    options[d.name] = v;
  }
  return { options, app: program.args[0] };
}

/** The --help text (for docs and tests). */
export function usageText(prog = 'gunicorn-ts'): string {
  const { program } = buildProgram(prog, { write: () => {}, err: () => {} });
  return program.helpInformation();
}

/** shlex.split, as Gunicorn does for GUNICORN_CMD_ARGS: quotes and backslashes, no expansion. */
export function shellSplit(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let have = false;
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === "'") {
      const j = s.indexOf("'", i + 1);
      if (j < 0) throw new Error('No closing quotation');
      cur += s.slice(i + 1, j);
      have = true;
      i = j + 1;
    } else if (c === '"') {
      i++;
      for (;;) {
        if (i >= s.length) throw new Error('No closing quotation');
        const d = s[i]!;
        if (d === '"') break;
        if (d === '\\' && (s[i + 1] === '"' || s[i + 1] === '\\')) {
          cur += s[i + 1];
          i += 2;
          continue;
        }
        cur += d;
        i++;
      }
      have = true;
      i++;
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[i + 1];
      have = true;
      i += 2;
    } else if (/\s/.test(c)) {
      if (have) out.push(cur);
      cur = '';
      have = false;
      i++;
    } else {
      cur += c;
      have = true;
      i++;
    }
  }
  if (have) out.push(cur);
  return out;
}
