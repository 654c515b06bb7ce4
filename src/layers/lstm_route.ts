/**
 * Routes stock tf.layers.lstm cells to the fused PbqLSTMStep kernel under every pbq backend,
 * with no change to the model: LSTMCell.prototype.call is wrapped once (at import), and the
 * wrapper runs the fused kernel only when the active backend has it registered (a pbq backend)
 * and the cell is one the kernel serves: inference (no training flag, no recording gradient
 * tape — the kernel has no gradient), no dropout, tanh activation, hardSigmoid or sigmoid
 * recurrent activation, 2-D float32 inputs. Everything else — other backends, training,
 * tf.grad/optimizer.minimize over layer.apply, other activations — runs the original code,
 * whose matmuls are still pbq's quantized kernels. PBQ_FUSED_LSTM=false turns the route off.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { PbqLSTMStep as LSTM_STEP, RecurrentActivation } from '../kernel_names';

export const FUSED_LSTM_FLAG = 'PBQ_FUSED_LSTM';

interface LstmCellLike {
  dropout: number;
  recurrentDropout: number;
  activation: object;
  recurrentActivation: object;
  useBias: boolean;
  kernel: { read(): tf.Tensor };
  recurrentKernel: { read(): tf.Tensor };
  bias: { read(): tf.Tensor } | null;
}

type CellCall = (this: LstmCellLike, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];

function activationName(activation: object): string {
  return (activation.constructor as { className?: string }).className ?? '';
}

/** The recurrent activation the kernel supports for this cell, or undefined. */
function fusableActivation(cell: LstmCellLike, inputs: tf.Tensor[], kwargs: Record<string, unknown>): RecurrentActivation | undefined {
  if (!tf.env().getBool(FUSED_LSTM_FLAG) || tf.getKernel(LSTM_STEP, tf.getBackend()) === undefined) return undefined;
  if (kwargs.training || isTapeRecording() || cell.dropout > 0 || cell.recurrentDropout > 0) return undefined;
  if (activationName(cell.activation) !== 'tanh') return undefined;
  const recurrent = activationName(cell.recurrentActivation);
  if (recurrent !== 'hardSigmoid' && recurrent !== 'sigmoid') return undefined;
  if (inputs.length !== 3 || inputs.some((t) => t.rank !== 2 || t.dtype !== 'float32')) return undefined;
  return recurrent;
}

/** True while tf.grad / tf.variableGrads / optimizer.minimize record the ops for a gradient. */
function isTapeRecording(): boolean {
  return (tf.engine() as unknown as { isTapeOn(): boolean }).isTapeOn();
}

let installed = false;

/** Wraps LSTMCell.prototype.call (idempotent). */
export function installFusedLstm(): void {
  if (installed) return;
  installed = true;
  tf.env().registerFlag(FUSED_LSTM_FLAG, () => true);
  const proto = Object.getPrototypeOf(tfl.layers.lstmCell({ units: 1 })) as { call: CellCall };
  const original = proto.call;
  proto.call = function (this: LstmCellLike, inputs, kwargs) {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    const recurrentActivation = fusableActivation(this, list, kwargs ?? {});
    if (recurrentActivation === undefined) return original.call(this, inputs, kwargs);
    const [x, h, c] = list;
    const named: tf.NamedTensorMap = {
      x, h, c, kernel: this.kernel.read(), recurrentKernel: this.recurrentKernel.read(),
    };
    if (this.useBias && this.bias) named.bias = this.bias.read();
    const [hNew, cNew] = tf.engine().runKernel(LSTM_STEP, named, { recurrentActivation }) as tf.Tensor[];
    return [hNew, hNew, cNew];
  };
}
