// docs/settings.md, generated from the registry: `npm run gen:docs`.
import { NOT_APPLICABLE, SETTINGS, type SettingDef } from './settings.js';
import { pyRepr } from './format.js';

export function settingsMarkdown(): string {
  const out: string[] = [
    '# Settings',
    '',
    '<!-- Generated from lib/config/settings.ts by `npm run gen:docs`; do not edit by hand. -->',
    '',
    'Every setting can be given in a config file (`gunicorn.conf.js`, `.mjs` or `.cjs` in the working directory,',
    'or `-c PATH`) as an export of the same name, to `serve()` or `BaseApplication` as an option, and, when it has',
    'flags, on the command line or in `$GUNICORN_CMD_ARGS`. Precedence, lowest first: application defaults, the',
    'config file, `$GUNICORN_CMD_ARGS`, the command line. Settings marked *(gunicorn-ts)* are not in Gunicorn.',
    '',
  ];
  const sections = new Map<string, SettingDef<any>[]>();
  for (const d of SETTINGS as readonly SettingDef<any>[])
    sections.set(d.section, [...(sections.get(d.section) ?? []), d]);
  for (const [section, defs] of sections) {
    out.push(`## ${section}`, '');
    for (const d of defs) out.push(...entry(d));
  }
  out.push('## Gunicorn settings that do not apply', '', '| setting | why |', '|---|---|');
  for (const [names, why] of NOT_APPLICABLE) out.push(`| \`${names.split(', ').join('`, `')}\` | ${why} |`);
  out.push('');
  return out.join('\n');
}

function entry(d: SettingDef<any>): string[] {
  const out: string[] = [];
  {
    out.push(`### \`${d.name}\`${d.extension ? ' *(gunicorn-ts)*' : ''}`, '');
    if (d.cli) {
      const meta =
        d.action === 'flag' ? '' : d.action === 'optional' ? ` [${d.meta ?? 'VALUE'}]` : ` ${d.meta ?? 'VALUE'}`;
      out.push(
        `**Command line:** ${d.cli.map((c) => `\`${c}${meta}\``).join(', ')}${d.action === 'append' ? ' (repeatable)' : ''}`,
        '',
      );
    } else {
      out.push('**Command line:** none (config file or options only)', '');
    }
    out.push(`**Default:** \`${d.defaultDoc ?? pyRepr(d.default())}\``, '', d.desc, '');
  }
  return out;
}
