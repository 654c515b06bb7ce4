/**
 * GraphModel fixtures written from code (there is no Python/TensorFlow here): a small GraphDef
 * builder that emits a `graph-model` model.json (GraphDef JSON as tensorflowjs_converter writes
 * it: every constant in the weights manifest, attributes in the protobuf JSON form) plus one
 * shard, and the same network as a bundled Sequential LayersModel:
 *
 *   Dense            MatMul → BiasAdd → activation (or one _FusedMatMul with fuse: true);
 *                    on a 3-D input: Reshape to 2-D, the matmul, Reshape back
 *   Embedding        Cast → GatherV2
 *   LSTM             unrolled over a fixed T (Unpack along time, per step
 *                    MatMul(x_t, W) + MatMul(h, U) → BiasAdd → Split → gates → c, h;
 *                    zero initial state by Shape/StridedSlice/Pack/Fill; Pack of every h)
 *
 *   npx ts-node --transpile-only test/graph_fixtures.ts models/mnist-mlp /tmp/mlp-graph [--fuse] [--steps 64]
 */
import * as fs from 'fs';
import * as path from 'path';
import { readModelFiles, WeightEntry } from '../src/converter/model_io';

type Dtype = 'float32' | 'int32';
type AttrValue = Record<string, unknown>;

export interface GraphNodeDef {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, AttrValue>;
}

const DT: Record<Dtype, string> = { float32: 'DT_FLOAT', int32: 'DT_INT32' };

function shapeAttr(shape: number[]): AttrValue {
  return { dim: shape.map((d) => ({ size: String(d) })) };
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

export const attr = {
  bool: (b: boolean): AttrValue => ({ b }),
  type: (t: Dtype): AttrValue => ({ type: DT[t] }),
  int: (i: number): AttrValue => ({ i: String(i) }),
  float: (f: number): AttrValue => ({ f }),
  str: (s: string): AttrValue => ({ s: b64(s) }),
  strList: (s: string[]): AttrValue => ({ list: { s: s.map(b64) } }),
  shape: (shape: number[]): AttrValue => ({ shape: shapeAttr(shape) }),
};

/** Builds a GraphDef and its weights; every Const's values go to the manifest. */
export class GraphBuilder {
  readonly nodes: GraphNodeDef[] = [];
  readonly weights: Array<{ name: string; shape: number[]; dtype: Dtype; values: Float32Array | Int32Array }> = [];
  private names = new Set<string>();

  private add(node: GraphNodeDef): string {
    if (this.names.has(node.name)) throw new Error(`graph fixture: duplicate node name ${node.name}`);
    this.names.add(node.name);
    this.nodes.push(node);
    return node.name;
  }

  placeholder(name: string, shape: number[], dtype: Dtype = 'float32'): string {
    return this.add({ name, op: 'Placeholder', attr: { dtype: attr.type(dtype), shape: attr.shape(shape) } });
  }

  constant(name: string, values: ArrayLike<number>, shape: number[], dtype: Dtype = 'float32'): string {
    const v = dtype === 'int32' ? Int32Array.from(values) : Float32Array.from(values);
    this.weights.push({ name, shape, dtype, values: v });
    return this.add({
      name, op: 'Const',
      attr: { value: { tensor: { dtype: DT[dtype], tensorShape: shapeAttr(shape) } }, dtype: attr.type(dtype) },
    });
  }

  scalar(name: string, value: number, dtype: Dtype = 'float32'): string {
    return this.constant(name, [value], [], dtype);
  }

  op(name: string, op: string, input: string[], attrs: Record<string, AttrValue> = {}, typed = true): string {
    return this.add({ name, op, input, attr: { ...(typed ? { T: attr.type('float32') } : {}), ...attrs } });
  }

  /** model.json (graph-model) and its one shard. */
  artifacts(generatedBy = 'pbq test/graph_fixtures.ts'): { modelJson: Record<string, unknown>; shard: Buffer } {
    const parts = this.weights.map((w) => Buffer.from(w.values.buffer, w.values.byteOffset, w.values.byteLength));
    return {
      modelJson: {
        format: 'graph-model', generatedBy, convertedBy: 'pbq graph fixture generator',
        modelTopology: { node: this.nodes, library: {}, versions: { producer: 1482 } },
        weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: this.weights.map(({ name, shape, dtype }) => ({ name, shape, dtype })) }],
      },
      shard: Buffer.concat(parts),
    };
  }

  write(dir: string): string {
    const { modelJson, shard } = this.artifacts();
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(modelJson));
    fs.writeFileSync(path.join(dir, 'group1-shard1of1.bin'), shard);
    return dir;
  }
}

/** Keras activations as graph ops (tfjs-layers' formulas, in its operation order). */
function activation(g: GraphBuilder, name: string, kind: string, x: string): string {
  switch (kind) {
    case 'linear':
      return x;
    case 'relu':
      return g.op(`${name}/Relu`, 'Relu', [x]);
    case 'tanh':
      return g.op(`${name}/Tanh`, 'Tanh', [x]);
    case 'sigmoid':
      return g.op(`${name}/Sigmoid`, 'Sigmoid', [x]);
    case 'softmax':
      return g.op(`${name}/Softmax`, 'Softmax', [x]);
    case 'hard_sigmoid':
    case 'hardSigmoid': {
      // tfjs-layers: clipByValue(add(0.5, mul(0.2, x)), 0, 1)
      const y = g.op(`${name}/hs/mul`, 'Mul', [hsConst(g, 'slope', 0.2), x]);
      const z = g.op(`${name}/hs/add`, 'AddV2', [hsConst(g, 'offset', 0.5), y]);
      return g.op(`${name}/hs/clip`, 'ClipByValue', [z, hsConst(g, 'zero', 0), hsConst(g, 'one', 1)]);
    }
    default:
      throw new Error(`graph fixture: activation '${kind}' not supported`);
  }
}

/** Shared scalar constants of hardSigmoid. */
function hsConst(g: GraphBuilder, what: string, v: number): string {
  const name = `hard_sigmoid/${what}`;
  if (!g.nodes.some((n) => n.name === name)) g.scalar(name, v);
  return name;
}

function dense(g: GraphBuilder, name: string, x: string, rank: number, w: WeightEntry, bias: WeightEntry | undefined,
  act: string, fuse: boolean, reshapeTo?: number[]): string {
  const K = w.shape[0];
  let input = x;
  if (rank > 2) input = g.op(`${name}/Reshape`, 'Reshape', [x, g.constant(`${name}/Reshape/shape`, [-1, K], [2], 'int32')], { Tshape: attr.type('int32') });
  const kernel = g.constant(`${name}/kernel`, w.values, w.shape);
  const b = bias ? g.constant(`${name}/bias`, bias.values, bias.shape) : null;
  const fusable: Record<string, string> = { relu: 'Relu', linear: '' };
  let y: string;
  if (fuse && b && act in fusable) {
    const ops = ['BiasAdd', ...(fusable[act] ? [fusable[act]] : [])];
    y = g.op(`${name}/MatMul`, '_FusedMatMul', [input, kernel, b], {
      transpose_a: attr.bool(false), transpose_b: attr.bool(false), num_args: attr.int(1), fused_ops: attr.strList(ops), epsilon: attr.float(0),
    });
  } else {
    y = g.op(`${name}/MatMul`, 'MatMul', [input, kernel], { transpose_a: attr.bool(false), transpose_b: attr.bool(false) });
    if (b) y = g.op(`${name}/BiasAdd`, 'BiasAdd', [y, b], { data_format: attr.str('NHWC') });
    y = activation(g, name, act, y);
  }
  if (rank > 2 && reshapeTo) {
    y = g.op(`${name}/Reshape_1`, 'Reshape', [y, g.constant(`${name}/Reshape_1/shape`, reshapeTo, [reshapeTo.length], 'int32')], { Tshape: attr.type('int32') });
  }
  return y;
}

/** The zero state [batch, units], batch taken from `like` (rank ≥ 1). */
function zeroState(g: GraphBuilder, name: string, like: string, units: number): string {
  const shape = g.op(`${name}/Shape`, 'Shape', [like], { out_type: attr.type('int32') }, false);
  const i0 = g.constant(`${name}/begin`, [0], [1], 'int32');
  const i1 = g.constant(`${name}/end`, [1], [1], 'int32');
  const batch = g.op(`${name}/batch`, 'StridedSlice', [shape, i0, i1, i1], {
    Index: attr.type('int32'), T: attr.type('int32'), shrink_axis_mask: attr.int(1), begin_mask: attr.int(0), end_mask: attr.int(0),
    ellipsis_mask: attr.int(0), new_axis_mask: attr.int(0),
  }, false);
  const dims = g.op(`${name}/dims`, 'Pack', [batch, g.scalar(`${name}/units`, units, 'int32')], { N: attr.int(2), axis: attr.int(0), T: attr.type('int32') }, false);
  return g.op(`${name}/zeros`, 'Fill', [dims, g.scalar(`${name}/zero`, 0)], { index_type: attr.type('int32') });
}

function lstm(g: GraphBuilder, name: string, x: string, ids: string, steps: number, cfg: Record<string, unknown>,
  W: WeightEntry, U: WeightEntry, b: WeightEntry | undefined): string {
  const units = cfg.units as number;
  const act = (cfg.activation as string) ?? 'tanh';
  const recAct = (cfg.recurrent_activation as string) ?? 'hard_sigmoid';
  if (act !== 'tanh') throw new Error('graph fixture: LSTM activation must be tanh');
  const kernel = g.constant(`${name}/kernel`, W.values, W.shape);
  const recurrent = g.constant(`${name}/recurrent_kernel`, U.values, U.shape);
  const bias = b ? g.constant(`${name}/bias`, b.values, b.shape) : null;
  const unstack = g.op(`${name}/unstack`, 'Unpack', [x], { num: attr.int(steps), axis: attr.int(1) });
  const axis = g.scalar(`${name}/split_axis`, 1, 'int32');
  let h = zeroState(g, `${name}/h0`, ids, units);
  let c = zeroState(g, `${name}/c0`, ids, units);
  const hs: string[] = [];
  for (let t = 0; t < steps; t++) {
    const s = `${name}/step_${t}`;
    const xt = t === 0 ? unstack : `${unstack}:${t}`;
    const xw = g.op(`${s}/MatMul`, 'MatMul', [xt, kernel], { transpose_a: attr.bool(false), transpose_b: attr.bool(false) });
    const hu = g.op(`${s}/MatMul_1`, 'MatMul', [h, recurrent], { transpose_a: attr.bool(false), transpose_b: attr.bool(false) });
    let z = g.op(`${s}/add`, 'AddV2', [xw, hu]);
    if (bias) z = g.op(`${s}/BiasAdd`, 'BiasAdd', [z, bias], { data_format: attr.str('NHWC') });
    const split = g.op(`${s}/split`, 'Split', [axis, z], { num_split: attr.int(4) });
    const i = activation(g, `${s}/i`, recAct, split);
    const f = activation(g, `${s}/f`, recAct, `${split}:1`);
    const cc = g.op(`${s}/cand`, 'Tanh', [`${split}:2`]);
    const o = activation(g, `${s}/o`, recAct, `${split}:3`);
    c = g.op(`${s}/c`, 'AddV2', [g.op(`${s}/fc`, 'Mul', [f, c]), g.op(`${s}/ic`, 'Mul', [i, cc])]);
    h = g.op(`${s}/h`, 'Mul', [o, g.op(`${s}/tanh_c`, 'Tanh', [c])]);
    hs.push(h);
  }
  if (cfg.return_sequences === false) return h;
  return g.op(`${name}/stack`, 'Pack', hs, { N: attr.int(steps), axis: attr.int(1) });
}

export interface FixtureOptions {
  /** Dense layers as _FusedMatMul (BiasAdd + relu/linear fused), as tensorflowjs_converter does. */
  fuse?: boolean;
  /** Time steps of an unrolled LSTM (default 64, the bundled LMs' window). */
  steps?: number;
}

/**
 * The GraphModel of a Sequential LayersModel folder (Dense, Embedding, LSTM), written to `out`.
 * Returns the input and output node names.
 */
export function graphFromLayersModel(modelDir: string, out: string, options: FixtureOptions = {}): { input: string; output: string } {
  const files = readModelFiles(modelDir);
  const topo = files.modelTopology as { class_name: string; config: { layers: Array<{ class_name: string; config: Record<string, unknown> }> } };
  if (topo.class_name !== 'Sequential') throw new Error('graph fixture: Sequential models only');
  const byName = new Map(files.weights.map((w) => [w.name, w]));
  const weight = (layer: string, what: string) => byName.get(`${layer}/${what}`);
  const g = new GraphBuilder();
  const layers = topo.config.layers;
  const first = layers[0].config.batch_input_shape as Array<number | null>;
  const steps = options.steps ?? 64;
  const inputShape = first.map((d, i) => (i === 0 ? -1 : d ?? steps));
  const input = g.placeholder('input', inputShape);
  let x = input;
  let shape = inputShape.slice();
  for (const { class_name: cls, config } of layers) {
    const name = config.name as string;
    if (cls === 'Dense') {
      const w = weight(name, 'kernel') as WeightEntry;
      const reshapeTo = shape.length > 2 ? [...shape.slice(0, -1), w.shape[1]] : undefined;
      x = dense(g, name, x, shape.length, w, config.use_bias === false ? undefined : weight(name, 'bias'), config.activation as string, Boolean(options.fuse), reshapeTo);
      shape = [...shape.slice(0, -1), w.shape[1]];
    } else if (cls === 'Embedding') {
      const e = weight(name, 'embeddings') as WeightEntry;
      const emb = g.constant(`${name}/embeddings`, e.values, e.shape);
      const ids = g.op(`${name}/Cast`, 'Cast', [x], { SrcT: attr.type('float32'), DstT: attr.type('int32') }, false);
      x = g.op(`${name}/GatherV2`, 'GatherV2', [emb, ids, g.scalar(`${name}/axis`, 0, 'int32')], {
        Tparams: attr.type('float32'), Tindices: attr.type('int32'), Taxis: attr.type('int32'), batch_dims: attr.int(0),
      }, false);
      shape = [...shape, e.shape[1]];
    } else if (cls === 'LSTM') {
      x = lstm(g, name, x, input, steps, config, weight(name, 'kernel') as WeightEntry, weight(name, 'recurrent_kernel') as WeightEntry,
        config.use_bias === false ? undefined : weight(name, 'bias'));
      shape = config.return_sequences === false ? [shape[0], config.units as number] : [shape[0], shape[1], config.units as number];
    } else {
      throw new Error(`graph fixture: layer class ${cls} not supported`);
    }
  }
  const output = g.op('Identity', 'Identity', [x]);
  g.write(out);
  return { input, output };
}

if (require.main === module) {
  const [src, out, ...rest] = process.argv.slice(2);
  const steps = rest.includes('--steps') ? Number(rest[rest.indexOf('--steps') + 1]) : undefined;
  const r = graphFromLayersModel(src, out, { fuse: rest.includes('--fuse'), steps });
  process.stdout.write(`wrote ${out}/model.json (input ${r.input}, output ${r.output})\n`);
}
