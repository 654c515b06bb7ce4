/** npm run train:gru — character-level GRU(128) LM on Brown (see train_rnn_lm.ts). */
import {trainRnnLm} from './train_rnn_lm';
trainRnnLm({name: 'gru-lm', cell: 'gru', units: 128, embedDim: 32, seqLen: 64, batch: 64,
  steps: 900, lr: 0.003, seed: 4321}).catch((e) => { console.error(e); process.exit(1); });
