// Writes docs/settings.md from the settings registry (run after `tsc`).
import fs from 'node:fs';

const { settingsMarkdown } = await import('../dist/config/docs.js');
fs.writeFileSync(new URL('../docs/settings.md', import.meta.url), settingsMarkdown());
