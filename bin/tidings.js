#!/usr/bin/env node
// The published CLI runs the compiled output; `npm ci` builds it through the `prepare` script.
import '../dist/cli/run.js'
