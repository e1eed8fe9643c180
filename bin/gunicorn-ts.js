#!/usr/bin/env node
// The gunicorn-ts command: see `gunicorn-ts --help` and README.md.
import '../dist/cli/main.js';
