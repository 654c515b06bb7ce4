/**
 * The `pbq` command line (argument parsing and --help by commander, the bar by cli-progress).
 *
 *   pbq convert <model-dir-or-model.json> <out-dir> --weight-bits 4 [--activation-bits 8]
 *       [--range mse|weight-mse|minmax|minmax-tensor] [--calibration <file>] [--bias-correction]
 *       [--multipoint --budget 4.5] [--rounding nearest|gptq [--gptq-dampening auto|0.01] [--gptq-order act|natural]]
 *       [--layer-bits dense_1=8,lstm=6] [--json] [--force]
 *
 * Exit codes: 0 success, 2 bad usage or bad input (one-line message on stderr), 1 internal error.
 * `main` is callable in-process (tests); bin/pbq.js runs the compiled file as a program.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Command, CommanderError, Option } from 'commander';
import { SingleBar } from 'cli-progress';
import { convert, ConvertOptions } from '../converter/convert';
import { ConversionError, oneLine } from '../converter/errors';
import { formatReport } from '../converter/report';
import { RANGE_MODES } from '../converter/quant_math';
import { GPTQ_ORDERS, ROUNDINGS } from '../converter/gptq';

export interface CliIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** stderr is a terminal (progress bar). */
  isTTY: boolean;
}

class UsageError extends ConversionError {}

/** Parsers of option values: each throws a UsageError naming the flag. */
function intArg(flag: string): (v: string) => number {
  return (v) => {
    if (!/^-?\d+$/.test(v)) throw new UsageError(`${flag} needs an integer, got '${v}'`);
    return Number(v);
  };
}

function numberArg(flag: string): (v: string) => number {
  return (v) => {
    if (!/^\d+(\.\d+)?$/.test(v)) throw new UsageError(`${flag} needs a number, got '${v}'`);
    return Number(v);
  };
}

/** `--gptq-dampening auto|λ`: 'auto' (cross-validated) or the fraction of the mean diagonal of H. */
function dampeningArg(v: string): 'auto' | number {
  if (v !== 'auto' && !/^\d+(\.\d+)?(e-?\d+)?$/.test(v)) throw new UsageError(`--gptq-dampening needs 'auto' or a number, got '${v}'`);
  return v === 'auto' ? 'auto' : Number(v);
}

/** `--layer-bits dense_1=8,lstm=6` (a layer name may itself contain '='; the last one splits). */
export function parseLayerBits(v: string): Record<string, number> {
  const lb: Record<string, number> = {};
  for (const part of v.split(',').filter((p) => p.length > 0)) {
    const eq = part.lastIndexOf('=');
    if (eq <= 0) throw new UsageError(`--layer-bits entries look like name=bits, got '${part}'`);
    lb[part.slice(0, eq)] = intArg(`--layer-bits ${part.slice(0, eq)}`)(part.slice(eq + 1));
  }
  return lb;
}

interface ConvertFlags {
  weightBits: number;
  activationBits?: number;
  range?: ConvertOptions['range'];
  calibration?: string;
  calibrationSamples?: number;
  biasCorrection?: boolean;
  multipoint?: boolean;
  budget?: number;
  layerBits?: Record<string, number>;
  rounding?: ConvertOptions['rounding'];
  gptqDampening?: 'auto' | number;
  gptqOrder?: NonNullable<ConvertOptions['gptq']>['order'];
  json?: boolean;
  force?: boolean;
}

type ConvertRequest = ConvertOptions & { json: boolean };

/** The `pbq` program; `onConvert` receives a parsed `convert` request. A fresh one per run (commander keeps state). */
function program(io: CliIO, onConvert: (r: ConvertRequest) => void): Command {
  const root = new Command('pbq')
    .description('tfjs-backend-pbq: post-training quantization of tfjs LayersModels for the pbq backends')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr, outputError: () => undefined });
  root.command('convert')
    .description('quantize a saved tfjs LayersModel into pbq\'s bitlayer format (model.pbq, a dequantized model.json, a report)')
    .argument('<model>', 'model folder or model.json')
    .argument('<out-dir>', 'output folder (must be absent or empty, unless --force)')
    .requiredOption('--weight-bits <n>', 'weight planes per channel, 1..16', intArg('--weight-bits'))
    .option('--activation-bits <n>', 'recorded for pbq.configure, 1..16 (default 8)', intArg('--activation-bits'))
    .addOption(new Option('--range <mode>', 'per-channel range (default mse: output error on the calibration data)').choices(RANGE_MODES))
    .option('--calibration <file>', 'calibration JSON (default: calibration.json next to model.json)')
    .option('--calibration-samples <n>', 'use the first N calibration samples', intArg('--calibration-samples'))
    .option('--bias-correction', 'move the mean output shift of quantization into the bias')
    .option('--multipoint', 'extra planes on the channels with the largest output error')
    .option('--budget <bits>', 'average bits per weight with --multipoint (default weight bits + 0.5)', numberArg('--budget'))
    .addOption(new Option('--rounding <mode>', 'weight rounding (default nearest; gptq: error-compensating, Frantar et al. 2022)').choices(ROUNDINGS))
    .option('--gptq-dampening <auto|λ>', 'GPTQ: H + λ·mean(diag H)·I (default auto: cross-validated)', dampeningArg)
    .addOption(new Option('--gptq-order <order>', 'GPTQ: column order (default act: descending diag H)').choices(GPTQ_ORDERS))
    .option('--layer-bits <name=bits,...>', 'weight bits per layer name', parseLayerBits)
    .option('--json', 'print the report as JSON')
    .option('--force', 'replace a non-empty output folder')
    .allowExcessArguments(false)
    .action((input: string, output: string, { gptqDampening, gptqOrder, ...flags }: ConvertFlags) => {
      const gptq = gptqDampening !== undefined || gptqOrder !== undefined
        ? { ...(gptqDampening !== undefined ? { dampening: gptqDampening } : {}), ...(gptqOrder !== undefined ? { order: gptqOrder } : {}) }
        : undefined;
      onConvert({ ...flags, ...(gptq ? { gptq } : {}), json: Boolean(flags.json), input, output });
    });
  return root;
}

/** commander's message without its 'error: ' prefix and trailing period. */
function commanderMessage(e: CommanderError): string {
  return oneLine(e.message.replace(/^error: /, '').replace(/\.$/, ''));
}

/** The converter's progress as a bar redrawn in place on stderr (a TTY only). */
function progressBar(io: CliIO): (f: number, label: string) => void {
  // cli-progress draws on a stream; this one writes through io.stderr (readline's cursor codes included).
  const stream = { isTTY: true, columns: 80, write: (s: string) => { io.stderr(s); return true; } };
  const bar = new SingleBar({
    stream: stream as unknown as NodeJS.WriteStream, format: '[{bar}] {percentage}% {label}', barsize: 30,
    barCompleteChar: '#', barIncompleteChar: '.', hideCursor: false, clearOnComplete: true, fps: 10,
  });
  let started = false;
  return (f, label) => {
    const percent = Math.round(f * 100);
    if (!started) { bar.start(100, percent, { label }); started = true; } else bar.update(percent, { label });
    if (f >= 1) bar.stop();
  };
}

const defaultIO: CliIO = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  isTTY: Boolean(process.stderr.isTTY),
};

/** Runs the CLI with `argv` (without node and script); resolves to the exit code. */
export async function main(argv: string[], io: CliIO = defaultIO): Promise<number> {
  let request: ConvertRequest | undefined;
  const cli = program(io, (r) => { request = r; });
  if (argv.length === 0) {
    io.stdout(cli.helpInformation());
    return 2;
  }
  try {
    cli.parse(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError && e.exitCode === 0) return 0; // --help, help
    const where = argv[0] === 'convert' ? 'pbq convert' : 'pbq';
    if (e instanceof CommanderError || e instanceof UsageError) {
      const message = e instanceof CommanderError ? commanderMessage(e) : oneLine(e);
      io.stderr(`${where}: ${message} (pbq ${argv[0] === 'convert' ? 'convert ' : ''}--help for usage)\n`);
      return 2;
    }
    throw e;
  }
  if (!request) return 2;
  tf.env().set('PROD', true); // no tfjs console banners in the CLI's output
  try {
    const report = await convert({
      ...request, onProgress: io.isTTY && !request.json ? progressBar(io) : undefined,
      onNote: (note) => io.stderr(`pbq convert: ${note}\n`),
    });
    io.stdout((request.json ? JSON.stringify(report, null, 2) : formatReport(report)) + '\n');
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
