#!/usr/bin/env node
// The gunicorn-ts command: see `gunicorn-ts --help` and README.md.
import { main } from '../dist/cli/main.js';

await main();
