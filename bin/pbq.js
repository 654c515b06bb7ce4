#!/usr/bin/env node
/* The `pbq` executable: runs the compiled CLI (dist/src/cli/pbq.js, from src/cli/pbq.ts). The package
 * is built by `npm run build`, which `prepare` runs on npm install, npm pack and git installs. */
'use strict';
const fs = require('fs');
const path = require('path');
const compiled = path.join(__dirname, '..', 'dist', 'src', 'cli', 'pbq.js');
if (!fs.existsSync(compiled)) {
  process.stderr.write(`pbq: ${compiled} is missing: this copy of tfjs-backend-pbq is not built (run \`npm run build\` in it)\n`);
  process.exit(1);
}
require(compiled).main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
