/**
 * The layout rule of the shipped library (tools/lint/layout.ts, also `npm run lint`): src/ and
 * kernels/ import only each other and @tensorflow/*, in one direction, with no import cycle.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { layoutProblems } from '../tools/lint/layout';

const ROOT = path.resolve(__dirname, '..');

function tree(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbq-layout-'));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

describe('library layout', () => {
  it('holds for this repository', () => {
    expect(layoutProblems(ROOT)).toEqual([]);
  });

  it('catches imports of the lab, tests and models, other packages, the wrong direction and cycles', () => {
    const dir = tree({
      'src/a.ts': "import '../tools/bench/x';\nimport { b } from './b';\nexport const a = 1;",
      'src/b.ts': "import { a } from './a';\nimport type { T } from '../test/t';\nexport const b = a;",
      'src/c.ts': "import '../kernels/shared/k';\nconst m = require('../models/eval');\nimport 'lodash';\nimport { Command } from 'commander/sub';",
      'package.json': JSON.stringify({ dependencies: { commander: '^12.0.0' } }),
      'src/register.ts': "import '../kernels/shared/k';",
      'kernels/shared/k.ts': "import { a } from '../../src/a';\nimport * as tf from '@tensorflow/tfjs-core';\nimport * as fs from 'fs';",
    });
    try {
      expect(layoutProblems(dir).sort()).toEqual([
        "src/a.ts imports tools/bench/x (tools/ is not part of the library)",
        "src/b.ts imports test/t (test/ is not part of the library)",
        "src/c.ts imports kernels/shared/k.ts (only src/register.ts may import kernels/)",
        "src/c.ts imports models/eval (models/ is not part of the library)",
        "src/c.ts imports the package 'lodash' (library: @tensorflow/*, package.json dependencies and Node built-ins only)",
        'import cycle: src/a.ts → src/b.ts → src/a.ts',
      ].sort());
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
