#!/usr/bin/env node
/* `pbq` executable: runs src/cli/pbq.ts through ts-node (transpile only), or the compiled
 * dist/src/cli/pbq.js when the package was built with `npm run build`. */
'use strict';
const fs = require('fs');
const path = require('path');
const compiled = path.join(__dirname, '..', '..', 'dist', 'src', 'cli', 'pbq.js');
let cli;
if (fs.existsSync(compiled)) {
  cli = require(compiled);
} else {
  require('ts-node').register({ transpileOnly: true, project: path.join(__dirname, '..', '..', 'tsconfig.json') });
  cli = require('./pbq.ts');
}
cli.main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
