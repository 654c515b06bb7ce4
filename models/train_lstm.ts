/** npm run train:lstm — character-level LSTM(256) LM on Brown (see train_rnn_lm.ts). */
import {trainRnnLm} from './train_rnn_lm';
trainRnnLm({name: 'lstm-lm', cell: 'lstm', units: 256, embedDim: 32, seqLen: 64, batch: 64,
  steps: 900, lr: 0.003, seed: 1234}).catch((e) => { console.error(e); process.exit(1); });
