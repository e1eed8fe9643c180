// Config: the resolved settings of one server, read and written through the
// registry (so every write is validated), plus Gunicorn's derived values.
import { defaults, SETTINGS, type SettingDef, type SettingName, type Settings } from './settings.js';
import { SettingError } from './validators.js';
import { formatConfig } from './format.js';

export class Config {
  /** the registry by name: `name in cfg.settings` tells whether a name is a setting */
  readonly settings: Readonly<Record<string, SettingDef>>;
  private values: Settings;

  constructor(initial?: Partial<Settings>) {
    const byName: Record<string, SettingDef> = {};
    for (const s of SETTINGS as readonly SettingDef[]) byName[s.name] = s;
    this.settings = byName;
    this.values = defaults();
    if (initial) Object.assign(this.values, initial);
  }

  /** Validates and stores one value; unknown names and bad values throw SettingError. */
  set(name: string, value: unknown): void {
    const d = this.settings[name];
    if (d === undefined) throw new SettingError(name, value, 'unknown setting');
    (this.values as Record<string, unknown>)[name] = d.validator(name, value);
  }

  get<N extends SettingName>(name: N): Settings[N] {
    return this.values[name];
  }

  /** all values (a copy) */
  get all(): Settings {
    return { ...this.values };
  }

  /** proc_name, falling back to default_proc_name */
  get procName(): string {
    return this.values.proc_name ?? this.values.default_proc_name;
  }

  /** raw_env as a map */
  get env(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const kv of this.values.raw_env) {
      const i = kv.indexOf('=');
      out[kv.slice(0, i)] = kv.slice(i + 1);
    }
    return out;
  }

  /** settings that can cross a process boundary as JSON (everything but hooks) */
  serializable(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(this.values)) if (typeof v !== 'function') out[k] = v;
    return out;
  }

  /** Gunicorn's --print-config output */
  toString(): string {
    return formatConfig(this.values);
  }
}
