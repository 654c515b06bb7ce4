/**
 * The `pbq` command line.
 *
 *   pbq convert <model-dir-or-model.json> <out-dir> --weight-bits 4 [--activation-bits 8]
 *       [--range mse|weight-mse|minmax|minmax-tensor] [--calibration <file>] [--bias-correction]
 *       [--multipoint --budget 4.5] [--layer-bits dense_1=8,lstm=6] [--json] [--force]
 *
 * Exit codes: 0 success, 2 bad usage or bad input (one-line message on stderr), 1 internal error.
 * `main` is callable in-process (tests); src/cli/pbq-bin.js runs it as a program.
 */
import * as tf from '@tensorflow/tfjs-core';
import { convert, ConvertOptions } from '../converter/convert';
import { ConversionError, oneLine } from '../converter/errors';
import { formatReport } from '../converter/report';
import { RANGE_MODES, RangeMode } from '../converter/quant_math';

export interface CliIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** stderr is a terminal (progress bar). */
  isTTY: boolean;
}

const USAGE = `usage: pbq convert <model-dir-or-model.json> <out-dir> --weight-bits N [--activation-bits 8]
       [--range mse|weight-mse|minmax|minmax-tensor] [--calibration <file>] [--calibration-samples N]
       [--bias-correction] [--multipoint --budget B] [--layer-bits name=bits,...] [--json] [--force]`;

class UsageError extends ConversionError {}

function intArg(flag: string, v: string | undefined): number {
  if (v === undefined || !/^-?\d+$/.test(v)) throw new UsageError(`${flag} needs an integer, got ${v === undefined ? 'nothing' : `'${v}'`}`);
  return Number(v);
}

export function parseConvertArgs(args: string[]): ConvertOptions & { json: boolean } {
  const positional: string[] = [];
  const o: Partial<ConvertOptions> & { json: boolean } = { json: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => {
      if (inline !== undefined) return inline;
      const v = args[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--weight-bits': o.weightBits = intArg(flag, value()); break;
      case '--activation-bits': o.activationBits = intArg(flag, value()); break;
      case '--range': {
        const r = value();
        if (!(RANGE_MODES as readonly string[]).includes(r)) throw new UsageError(`--range must be one of ${RANGE_MODES.join(', ')}, got '${r}'`);
        o.range = r as RangeMode;
        break;
      }
      case '--calibration': o.calibration = value(); break;
      case '--calibration-samples': o.calibrationSamples = intArg(flag, value()); break;
      case '--bias-correction': o.biasCorrection = true; break;
      case '--multipoint': o.multipoint = true; break;
      case '--budget': {
        const v = value();
        if (!/^\d+(\.\d+)?$/.test(v)) throw new UsageError(`--budget needs a number, got '${v}'`);
        o.budget = Number(v);
        break;
      }
      case '--layer-bits': {
        const lb: Record<string, number> = {};
        for (const part of value().split(',').filter((p) => p.length > 0)) {
          const eq = part.lastIndexOf('=');
          if (eq <= 0) throw new UsageError(`--layer-bits entries look like name=bits, got '${part}'`);
          lb[part.slice(0, eq)] = intArg(`--layer-bits ${part.slice(0, eq)}`, part.slice(eq + 1));
        }
        o.layerBits = lb;
        break;
      }
      case '--json': o.json = true; break;
      case '--force': o.force = true; break;
      default:
        if (a.startsWith('--')) throw new UsageError(`unknown option ${flag}`);
        positional.push(a);
    }
  }
  if (positional.length !== 2) throw new UsageError(`convert needs <model> and <out-dir>, got ${positional.length} paths`);
  if (o.weightBits === undefined) throw new UsageError('--weight-bits is required');
  return { ...o, input: positional[0], output: positional[1] } as ConvertOptions & { json: boolean };
}

function progressBar(io: CliIO): (f: number, label: string) => void {
  let last = '';
  return (f, label) => {
    const width = 30;
    const filled = Math.round(f * width);
    const line = `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(f * 100)).padStart(3)}% ${label}`.padEnd(80);
    if (line !== last) io.stderr(line);
    last = line;
    if (f >= 1) io.stderr('\r' + ' '.repeat(80) + '\r');
  };
}

const defaultIO: CliIO = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  isTTY: Boolean(process.stderr.isTTY),
};

/** Runs the CLI with `argv` (without node and script); resolves to the exit code. */
export async function main(argv: string[], io: CliIO = defaultIO): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    io.stdout(USAGE + '\n');
    return command === undefined ? 2 : 0;
  }
  if (command !== 'convert') {
    io.stderr(`pbq: unknown command '${command}'\n${USAGE}\n`);
    return 2;
  }
  tf.env().set('PROD', true); // no tfjs console banners in the CLI's output
  let options: ConvertOptions & { json: boolean };
  try {
    options = parseConvertArgs(rest);
  } catch (e) {
    io.stderr(`pbq convert: ${oneLine(e)}\n${USAGE}\n`);
    return 2;
  }
  try {
    const report = await convert({
      ...options, onProgress: io.isTTY && !options.json ? progressBar(io) : undefined,
      onNote: (note) => io.stderr(`pbq convert: ${note}\n`),
    });
    io.stdout((options.json ? JSON.stringify(report, null, 2) : formatReport(report)) + '\n');
    return 0;
  } catch (e) {
    if (e instanceof ConversionError) {
      io.stderr(`pbq convert: ${oneLine(e)}\n`);
      return 2;
    }
    io.stderr(`pbq convert: internal error: ${oneLine(e)}${process.env.PBQ_DEBUG ? `\n${(e as Error).stack}` : ''}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
