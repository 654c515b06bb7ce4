/**
 * `pbq convert` for tfjs GraphModels (model.json with `format: "graph-model"`: a GraphDef in
 * JSON whose constants are in the weights manifest). The weights pbq quantizes are the
 * constant B operands of `MatMul`, `BatchMatMul`, `BatchMatMulV2` and `_FusedMatMul` nodes
 * (through `Identity` nodes), 2-D and float32, `transpose_b` / `adj_y` giving their layout; a
 * constant used by several matmuls (an unrolled RNN's kernel) is one weight whose calibration
 * statistics cover all its uses (its A operands, so a recurrent kernel sees h_{t-1}). The same
 * ranges, rounding, multipoint and bias correction as for LayersModels apply; a bias is
 * corrected where every use of the weight reaches one constant 1-D bias of length N through
 * BiasAdd / Add / AddV2 nodes (a _FusedMatMul's fused BiasAdd included).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type * as tfconv from '@tensorflow/tfjs-converter';
import { ConversionError, oneLine } from './errors';
import type { ModelFiles, WeightEntry } from './model_io';
import type { TensorReport } from './convert';
import { accumulateStats, CalibrationCache, CalibrationSet } from './calibration';
import { onCpuBackend } from './float_backend';
import type { GptqSettings, Rounding } from './gptq';
import type { InputStats, RangeMode } from './quant_math';
import { QuantizedEntry, tensorSummary } from './outputs';
import { quantizeTensor } from './tensor_quant';
import { tfjsConverter } from './tfjs_converter';

export interface GraphNodeJson {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, { b?: boolean; s?: string; list?: { s?: string[] } } & Record<string, unknown>>;
}

export const GRAPH_MATMUL_OPS = ['MatMul', 'BatchMatMul', 'BatchMatMulV2', '_FusedMatMul'] as const;

/** One use of a weight constant as the B operand of a matmul node. */
export interface GraphMatMulUse {
  node: string;
  op: string;
  /** The A operand (an output reference: 'name' or 'name:i'). */
  a: string;
  transposeA: boolean;
}

/** A constant matmul weight of the graph: what pbq convert quantizes. */
export interface GraphWeight {
  name: string;
  /** Contraction size K and output channels N. */
  k: number;
  n: number;
  /** Stored [N, K] (the matmuls multiply by its transpose). */
  transposed: boolean;
  uses: GraphMatMulUse[];
  /** The constant 1-D bias every use adds to its output, if there is one. */
  bias: string | null;
}

/** The node an input reference names ('name', 'name:1', '^control'). */
export function refNode(ref: string): string {
  const s = ref.startsWith('^') ? ref.slice(1) : ref;
  const colon = s.lastIndexOf(':');
  return colon > 0 && /^\d+$/.test(s.slice(colon + 1)) ? s.slice(0, colon) : s;
}

function decodeString(b64: string): string {
  return typeof atob === 'function' ? atob(b64) : Buffer.from(b64, 'base64').toString('utf8');
}

/** The GraphDef nodes of a graph-model topology, checked. */
export function graphNodes(topology: Record<string, unknown>): GraphNodeJson[] {
  const nodes = topology.node;
  if (!Array.isArray(nodes)) throw new ConversionError('model.json: modelTopology.node is not an array (not a GraphDef)');
  for (const [i, n] of nodes.entries()) {
    if (n === null || typeof n !== 'object' || typeof n.name !== 'string' || typeof n.op !== 'string' ||
      (n.input !== undefined && (!Array.isArray(n.input) || n.input.some((r: unknown) => typeof r !== 'string')))) {
      throw new ConversionError(`model.json: modelTopology.node[${i}] needs a string 'name', a string 'op' and string 'input's`);
    }
  }
  return nodes as GraphNodeJson[];
}

/** Finds the quantizable weights; unsupported layouts are errors naming the node. */
export function graphMatMulWeights(nodes: GraphNodeJson[], manifest: Map<string, WeightEntry>): GraphWeight[] {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const node = (ref: string, from: GraphNodeJson): GraphNodeJson => {
    const n = byName.get(refNode(ref));
    if (n === undefined) throw new ConversionError(`graph node '${from.name}' (${from.op}) reads '${ref}', which is not a node of the graph`);
    return n;
  };
  // Through Identity nodes to the producer.
  const producer = (ref: string, from: GraphNodeJson): GraphNodeJson => {
    let n = node(ref, from);
    for (let guard = 0; n.op === 'Identity' && n.input?.length && guard < nodes.length; guard++) n = node(n.input[0], n);
    return n;
  };
  const consumers = new Map<string, GraphNodeJson[]>();
  for (const n of nodes) {
    for (const ref of n.input ?? []) {
      if (ref.startsWith('^')) continue;
      const name = refNode(ref);
      if (!consumers.has(name)) consumers.set(name, []);
      (consumers.get(name) as GraphNodeJson[]).push(n);
    }
  }
  const bool = (n: GraphNodeJson, ...keys: string[]) => keys.some((k) => n.attr?.[k]?.b === true);
  const constVector = (ref: string, from: GraphNodeJson, length: number): string | null => {
    const p = producer(ref, from);
    const w = manifest.get(p.name);
    return p.op === 'Const' && w && w.dtype === 'float32' && w.shape.length === 1 && w.shape[0] === length ? p.name : null;
  };
  // The bias a matmul's output reaches through BiasAdd/Add/AddV2 nodes (each the only consumer).
  const biasOf = (mm: GraphNodeJson, n: number): string | null => {
    if (mm.op === '_FusedMatMul') {
      const ops = (mm.attr?.fused_ops?.list?.s ?? []).map(decodeString);
      return ops[0] === 'BiasAdd' && mm.input && mm.input.length > 2 ? constVector(mm.input[2], mm, n) : null;
    }
    let cur = mm;
    for (let guard = 0; guard < nodes.length; guard++) {
      const next = consumers.get(cur.name) ?? [];
      if (next.length !== 1 || !['BiasAdd', 'Add', 'AddV2'].includes(next[0].op)) return null;
      const c = next[0];
      const other = (c.input ?? []).filter((r) => refNode(r) !== cur.name);
      if (other.length !== 1) return null;
      const bias = constVector(other[0], c, n);
      if (bias !== null) return bias;
      if (c.op === 'BiasAdd') return null;
      cur = c;
    }
    return null;
  };

  const weights = new Map<string, GraphWeight & { biases: Array<string | null> }>();
  for (const mm of nodes) {
    if (!(GRAPH_MATMUL_OPS as readonly string[]).includes(mm.op)) continue;
    if (!mm.input || mm.input.length < 2) throw new ConversionError(`graph node '${mm.name}' (${mm.op}) has fewer than 2 inputs`);
    const b = producer(mm.input[1], mm);
    const entry = manifest.get(b.name);
    if (b.op !== 'Const' || entry === undefined || entry.dtype !== 'float32') continue; // not a float weight: left to run time
    if (entry.shape.length !== 2) {
      throw new ConversionError(`graph node '${mm.name}' (${mm.op}): its B operand '${b.name}' is a constant of shape [${entry.shape.join(', ')}]; ` +
        'pbq quantizes 2-D matmul weights only');
    }
    const transposed = bool(mm, 'transpose_b', 'adj_y');
    const [k, n] = transposed ? [entry.shape[1], entry.shape[0]] : [entry.shape[0], entry.shape[1]];
    let w = weights.get(b.name);
    if (w === undefined) {
      w = { name: b.name, k, n, transposed, uses: [], bias: null, biases: [] };
      weights.set(b.name, w);
    } else if (w.transposed !== transposed) {
      throw new ConversionError(`graph node '${mm.name}' (${mm.op}) multiplies by '${b.name}' ${transposed ? 'transposed' : 'untransposed'}, ` +
        `node '${w.uses[0].node}' the other way: one layout per weight is supported`);
    }
    w.uses.push({ node: mm.name, op: mm.op, a: mm.input[0], transposeA: bool(mm, 'transpose_a', 'adj_x') });
    w.biases.push(biasOf(mm, n));
  }
  return [...weights.values()].map(({ biases, ...w }) => ({
    ...w, bias: biases.length > 0 && biases[0] !== null && biases.every((b) => b === biases[0]) ? biases[0] : null,
  }));
}

export interface GraphQuantSettings {
  weightBits: number;
  range: RangeMode;
  /** Bits per weight (constant) name. */
  layerBits: Record<string, number>;
  multipoint: boolean;
  budget: number | null;
  biasCorrection: boolean;
  rounding: Rounding;
  gptq: GptqSettings;
}

/** A clear error for tfjs-converter's failures on a graph: the node of an unknown op by name. */
export function graphError(e: unknown, nodes: GraphNodeJson[], what: string): ConversionError {
  const msg = oneLine(e);
  const op = /Unknown op '([^']+)'/.exec(msg)?.[1] ?? /Node type (\S+) is not implemented/.exec(msg)?.[1];
  const n = op === undefined ? undefined : nodes.find((x) => x.op === op);
  if (n) return new ConversionError(`graph node '${n.name}' uses op '${op}', which tfjs-converter 4.22 cannot run`);
  return new ConversionError(`${what}: ${msg}`);
}

/** The float GraphModel of `files` (tfjs-converter). */
export function loadFloatGraph(files: ModelFiles, nodes: GraphNodeJson[]): tfconv.GraphModel<tf.io.IOHandlerSync> {
  const weightSpecs = files.weights.map((w) => ({ name: w.name, shape: w.shape, dtype: w.dtype }));
  const weightData = tf.io.concatenateArrayBuffers(files.weights.map((w) => w.values.buffer.slice(
    w.values.byteOffset, w.values.byteOffset + w.values.byteLength) as ArrayBuffer));
  const { format: _f, modelTopology: _t, weightsManifest: _m, ...extras } = files.json;
  try {
    // Synchronous, so that it runs inside onCpuBackend (its weights are cpu tensors).
    return tfjsConverter().loadGraphModelSync({ ...extras, modelTopology: files.modelTopology, weightSpecs, weightData, format: 'graph-model' });
  } catch (e) {
    if (e instanceof ConversionError) throw e;
    throw graphError(e, nodes, 'cannot build the GraphModel from model.json');
  }
}

/** The rows of a matmul's A operand, [-1, K] (A is [..., M, K], or [..., K, M] with transposeA). */
function aRows(a: tf.Tensor, transposeA: boolean, k: number): tf.Tensor {
  if (!transposeA) return tf.reshape(a, [-1, k]);
  const perm = a.shape.map((_, i) => i);
  [perm[a.rank - 2], perm[a.rank - 1]] = [perm[a.rank - 1], perm[a.rank - 2]];
  return tf.reshape(tf.transpose(a, perm), [-1, k]);
}

/** Statistics of every weight's A operands (all its uses) on the calibration inputs, float graph on cpu. */
async function graphStats(model: tfconv.GraphModel<tf.io.IOHandlerSync>, weights: GraphWeight[], cal: CalibrationSet, nodes: GraphNodeJson[]): Promise<Map<string, InputStats>> {
  if (model.inputs.length !== 1) throw new ConversionError(`calibration supports single-input models only (this graph has ${model.inputs.length} inputs)`);
  const want = model.inputs[0].shape ?? [];
  const got = cal.shape;
  if (want.length !== got.length || want.some((d, i) => i > 0 && d !== -1 && d !== null && d !== got[i])) {
    throw new ConversionError(`calibration shape [${got.join(', ')}] does not match the graph input '${model.inputs[0].name}' [${want.join(', ')}]`);
  }
  const refs = [...new Set(weights.flatMap((w) => w.uses.map((u) => u.a)))];
  const stats = await accumulateStats(cal, weights.map((w) => w.k), (x) => {
    let outs: tf.Tensor[];
    try {
      // execute() runs graphs without control flow, synchronously (inside onCpuBackend: the
      // global backend is never left switched across an await, issue 13 item 4).
      const r = model.execute(x, refs);
      outs = Array.isArray(r) ? r : [r];
    } catch (e) {
      if (/executeAsync/.test(oneLine(e))) {
        throw graphError(e, nodes, 'calibration runs graphs without control flow only (this one needs executeAsync); convert it without calibration (--range minmax, no --bias-correction, --rounding nearest)');
      }
      throw graphError(e, nodes, 'running the graph on the calibration inputs failed');
    }
    const rows = tf.tidy(() => weights.map((w) => w.uses.map((u) => aRows(outs[refs.indexOf(u.a)], u.transposeA, w.k))));
    tf.dispose(outs.filter((t) => t !== x));
    return rows;
  }, 32, (batch) => onCpuBackend(batch));
  return new Map(weights.map((w, i) => [w.name, stats[i]]));
}

/** [K, N] row-major values of a weight stored [N, K] (or as it is). */
function asKN(values: Float32Array, w: GraphWeight): Float32Array {
  if (!w.transposed) return values;
  const out = new Float32Array(values.length);
  for (let n = 0; n < w.n; n++) for (let k = 0; k < w.k; k++) out[k * w.n + n] = values[n * w.k + k];
  return out;
}

/** Inverse of asKN. */
function fromKN(values: Float32Array, w: GraphWeight): Float32Array {
  if (!w.transposed) return values;
  const out = new Float32Array(values.length);
  for (let n = 0; n < w.n; n++) for (let k = 0; k < w.k; k++) out[n * w.k + k] = values[k * w.n + n];
  return out;
}

export interface GraphQuantResult {
  quantized: Map<string, QuantizedEntry>;
  biasDelta: Map<string, Float64Array>;
  reports: TensorReport[];
}

/** Quantizes the matmul weights of a GraphModel (the outputs are written by convert.ts). */
export async function quantizeGraphModel(
  files: ModelFiles, s: GraphQuantSettings, cal: CalibrationSet | null,
  ctx: { progress: (f: number, label: string) => void; calibrationCache?: CalibrationCache },
): Promise<GraphQuantResult> {
  const nodes = graphNodes(files.modelTopology);
  const manifest = new Map(files.weights.map((w) => [w.name, w]));
  const weights = graphMatMulWeights(nodes, manifest);
  for (const name of Object.keys(s.layerBits)) {
    if (!weights.some((w) => w.name === name)) {
      throw new ConversionError(`--layer-bits: no quantized weight named '${name}' (quantized weights: ${weights.map((w) => w.name).join(', ') || 'none'})`);
    }
  }
  let stats = new Map<string, InputStats>();
  if (cal !== null && weights.length > 0) {
    ctx.progress(0.05, 'calibration');
    const key = ctx.calibrationCache && CalibrationCache.key(files.json, files.weights.map((w) => w.values), cal,
      weights.map((w) => ({ key: w.name, k: w.k })));
    const cached = key ? ctx.calibrationCache?.get(key) : undefined;
    if (cached) stats = cached;
    else {
      let model: tfconv.GraphModel<tf.io.IOHandlerSync> | null = null;
      try {
        model = onCpuBackend(() => loadFloatGraph(files, nodes));
        stats = await graphStats(model, weights, cal, nodes);
      } finally {
        model?.dispose();
      }
      if (key) ctx.calibrationCache?.set(key, stats);
    }
  }
  const quantized = new Map<string, QuantizedEntry>();
  const biasDelta = new Map<string, Float64Array>();
  const reports: TensorReport[] = [];
  for (const [i, w] of weights.entries()) {
    ctx.progress(0.2 + (0.75 * i) / weights.length, w.name);
    await new Promise((r) => setImmediate(r));
    const entry = manifest.get(w.name) as WeightEntry;
    const st = stats.get(w.name);
    if (st && !(st.mean.every(Number.isFinite) && st.diag.every(Number.isFinite))) {
      throw new ConversionError(`the calibration inputs give non-finite activations at the input of '${w.uses[0].node}'`);
    }
    const bits = s.layerBits[w.name] ?? s.weightBits;
    const canCorrect = s.biasCorrection && st !== undefined && w.bias !== null;
    const q = quantizeTensor({
      values: asKN(entry.values as Float32Array, w), k: w.k, n: w.n, bits, range: s.range,
      channel: () => ({ stats: st, centered: canCorrect }),
      extraPlanes: s.multipoint && s.budget !== null ? Math.floor((s.budget - s.weightBits) * w.n + 1e-9) : 0,
      maxBits: Math.min(16, bits + 8), rounding: s.rounding, gptq: s.gptq,
    });
    quantized.set(w.name, {
      weight: q.weight, layout: { batch: 1, k: w.k, n: w.n, transposed: w.transposed }, deq: fromKN(q.deq, w),
    });
    if (canCorrect) {
      const bias = w.bias as string;
      const delta = biasDelta.get(bias) ?? new Float64Array(w.n);
      biasDelta.set(bias, delta);
      for (let n = 0; n < w.n; n++) delta[n] += q.meanShift[n];
    }
    reports.push({
      layer: w.uses[0].node, className: w.uses[0].op, weight: w.name, role: 'kernel', shape: [w.k, w.n],
      ...tensorSummary(q, bits), biasCorrected: canCorrect,
    });
  }
  return { quantized, biasDelta, reports };
}
