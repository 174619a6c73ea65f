#!/usr/bin/env node
// Runs the compiled CLI (built by `npm install` / `npm run build`).
import '../dist/cli/index.js';
