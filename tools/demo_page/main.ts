/**
 * The demo page's script (bundled by build.ts with tfjs and pbq's browser entry). Every change of
 * a control re-runs, in order and for the newest setting only: the digit's prediction, the
 * held-back accuracy, the timings of pbq and of the stock float32 backend, and the LM's
 * perplexity; the plots keep every setting seen. `window.pbqDemo` lets a test wait for that
 * and read what the page computed from.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import * as tfl from '@tensorflow/tfjs-layers';
import * as pbq from '../../src/browser';
import { evaluateLm, evaluateMnist, LmEvalSet, MnistEvalSet, useFastCpuSliceKernels } from '../../models/eval';
import { Panel, svgChart } from '../demo/svg';
import { boundingBox, centerByMass, fitBox, SIDE } from './digits';
import { decode, encode, generate, statefulCopy } from './lm';
import { DemoSetting, parseAccumulator } from './settings';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

/** The pbq backends that can run in this page ('pbq-webgl', 'pbq-cpu', and any base available), the default first. */
function pbqBackends(): string[] {
  return pbq.availableBases().map((b) => `pbq-${b}`);
}

/** The stock float32 backend a pbq backend is compared with: its base, when registered here. */
function floatBackendOf(backend: string): string {
  const base = backend.replace(/^pbq-/, '');
  return tf.findBackendFactory(base) ? base : 'cpu';
}

function readSetting(): DemoSetting {
  return {
    backend: $<HTMLSelectElement>('base').value,
    weightBits: Number($<HTMLInputElement>('weight-bits').value),
    activationBits: Number($<HTMLInputElement>('activation-bits').value),
    accumulator: $<HTMLSelectElement>('accumulator').value,
  };
}

async function useBackend(name: string): Promise<void> {
  if (tf.getBackend() === name) return;
  if (!(await tf.setBackend(name))) throw new Error(`backend '${name}' could not start here`);
}

async function applySetting(s: DemoSetting): Promise<void> {
  await useBackend(s.backend);
  pbq.configure({ weightBits: s.weightBits, activationBits: s.activationBits, accumulator: parseAccumulator(s.accumulator) });
}

// ---------------------------------------------------------------------------------------------
// Data and models (fetched from the page's own folder)
// ---------------------------------------------------------------------------------------------

interface Models { pbq: tfl.LayersModel; float: tfl.LayersModel }

let digits: MnistEvalSet;
let lmSet: LmEvalSet;
let vocab: string[];
const mlp = new Map<string, tfl.LayersModel>();  // per backend: each keeps its weights where it runs
const lm = new Map<string, tfl.LayersModel>();
const generators = new Map<string, tfl.LayersModel>();

async function fetchJson<T>(url: string): Promise<T> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json() as Promise<T>;
}

async function loadData(): Promise<void> {
  const meta = await fetchJson<{ n: number; labels: number[] }>('data/digits.json');
  const images = new Uint8Array(await (await fetch('data/digits.u8')).arrayBuffer());
  digits = { images, labels: Uint8Array.from(meta.labels), n: meta.n };
  const text = await fetchJson<{ seqLen: number; vocab: string[]; ids: number[] }>('data/lm.json');
  lmSet = { ids: Int32Array.from(text.ids), seqLen: text.seqLen, vocab: text.vocab };
  vocab = text.vocab;
}

/** The model loaded under `backend` (its weights live there). */
async function modelOn(cache: Map<string, tfl.LayersModel>, url: string, backend: string): Promise<tfl.LayersModel> {
  let m = cache.get(backend);
  if (!m) {
    await useBackend(backend);
    m = await tfl.loadLayersModel(url);
    cache.set(backend, m);
  }
  return m;
}

async function models(cache: Map<string, tfl.LayersModel>, url: string, s: DemoSetting): Promise<Models> {
  return { float: await modelOn(cache, url, floatBackendOf(s.backend)), pbq: await modelOn(cache, url, s.backend) };
}

// ---------------------------------------------------------------------------------------------
// The digit
// ---------------------------------------------------------------------------------------------

/** The MLP's current input (784 values in [0, 1]) and where it came from. */
let input: Float32Array | null = null;
let inputSource = '';

function digitInput(i: number): Float32Array {
  return Float32Array.from(digits.images.subarray(i * 784, (i + 1) * 784), (v) => v / 255);
}

/** Shows a 28×28 input on the drawing pad (scaled up). */
function showOnPad(x: Float32Array): void {
  const small = document.createElement('canvas');
  small.width = small.height = SIDE;
  const ctx = small.getContext('2d') as CanvasRenderingContext2D;
  const img = ctx.createImageData(SIDE, SIDE);
  for (let i = 0; i < 784; i++) {
    const v = Math.round(255 * x[i]);
    img.data.set([v, v, v, 255], 4 * i);
  }
  ctx.putImageData(img, 0, 0);
  const pad = $<HTMLCanvasElement>('pad');
  const p = pad.getContext('2d') as CanvasRenderingContext2D;
  p.imageSmoothingEnabled = false;
  p.fillStyle = '#000';
  p.fillRect(0, 0, pad.width, pad.height);
  p.drawImage(small, 0, 0, pad.width, pad.height);
}

/** The pad's drawing as an MNIST-style input (digits.ts), or null when nothing is drawn. */
function padInput(): Float32Array | null {
  const pad = $<HTMLCanvasElement>('pad');
  const ctx = pad.getContext('2d', { willReadFrequently: true }) as CanvasRenderingContext2D;
  const rgba = ctx.getImageData(0, 0, pad.width, pad.height).data;
  const gray = new Uint8ClampedArray(pad.width * pad.height);
  for (let i = 0; i < gray.length; i++) gray[i] = rgba[4 * i];
  const box = boundingBox(gray, pad.width, pad.height);
  if (!box) return null;
  const [x0, y0, x1, y1] = box;
  const fit = fitBox(x1 - x0 + 1, y1 - y0 + 1);
  const small = document.createElement('canvas');
  small.width = small.height = SIDE;
  const sctx = small.getContext('2d', { willReadFrequently: true }) as CanvasRenderingContext2D;
  sctx.imageSmoothingEnabled = true;
  sctx.imageSmoothingQuality = 'high';
  sctx.drawImage(pad, x0, y0, x1 - x0 + 1, y1 - y0 + 1, fit.x, fit.y, fit.w, fit.h);
  const px = sctx.getImageData(0, 0, SIDE, SIDE).data;
  return centerByMass(Float32Array.from({ length: 784 }, (_, i) => px[4 * i] / 255));
}

function setupPad(): void {
  const pad = $<HTMLCanvasElement>('pad');
  const ctx = pad.getContext('2d', { willReadFrequently: true }) as CanvasRenderingContext2D;
  let drawing = false;
  let last: [number, number] | null = null;
  const at = (e: PointerEvent): [number, number] => {
    const r = pad.getBoundingClientRect();
    return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
  };
  pad.addEventListener('pointerdown', (e) => {
    if (inputSource.startsWith('held-back')) clearPad();
    drawing = true;
    last = at(e);
    pad.setPointerCapture(e.pointerId);
  });
  pad.addEventListener('pointermove', (e) => {
    if (!drawing || !last) return;
    const p = at(e);
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = 20;
    ctx.lineCap = ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo(last[0], last[1]);
    ctx.lineTo(p[0], p[1]);
    ctx.stroke();
    last = p;
  });
  const end = () => {
    if (!drawing) return;
    drawing = false;
    last = null;
    input = padInput();
    inputSource = 'drawn';
    $('digit-source').textContent = 'Your drawing (scaled to 20×20 and centred by mass, as MNIST).';
    delete $('digit-source').dataset.index;
    schedule(['digit', 'time']);
  };
  pad.addEventListener('pointerup', end);
  pad.addEventListener('pointercancel', end);
}

function clearPad(): void {
  const pad = $<HTMLCanvasElement>('pad');
  const ctx = pad.getContext('2d') as CanvasRenderingContext2D;
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, pad.width, pad.height);
}

function pickHeldBack(i = Math.floor(Math.random() * digits.n)): void {
  input = digitInput(i);
  inputSource = `held-back #${i}`;
  showOnPad(input);
  const el = $('digit-source');
  el.textContent = `Held-back digit #${i} of ${digits.n} (label ${digits.labels[i]}).`;
  el.dataset.index = String(i);
  schedule(['digit', 'time']);
}

function predict(model: tfl.LayersModel, x: Float32Array): Float32Array {
  return tf.tidy(() => (model.predict(tf.tensor2d(x, [1, 784])) as tf.Tensor).dataSync() as Float32Array);
}

function showPrediction(probs: Float32Array | null): void {
  const top = probs ? probs.indexOf(Math.max(...probs)) : -1;
  $('prediction').textContent = probs ? String(top) : '–';
  $('probs').innerHTML = Array.from({ length: 10 }, (_, d) => {
    const p = probs ? probs[d] : 0;
    return `<div class="bar${d === top ? ' top' : ''}" data-digit="${d}"><b>${d}</b><div><span style="width:${(100 * p).toFixed(1)}%"></span></div><span class="p">${probs ? p.toFixed(3) : ''}</span></div>`;
  }).join('');
}

// ---------------------------------------------------------------------------------------------
// Timing, accuracy, perplexity, plots
// ---------------------------------------------------------------------------------------------

/** Median ms of one batch-1 prediction with read-back, on `backend` (after two warm-up runs). */
async function msPerPrediction(model: tfl.LayersModel, backend: string, x: Float32Array, runs = 15): Promise<number> {
  await useBackend(backend);
  predict(model, x);
  predict(model, x);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    predict(model, x);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(runs / 2)];
}

const floatMetrics = new Map<string, { accuracy?: number; perplexity?: number }>();
/** Plot points per series (activation bits and accumulator): weight bits → value. */
const accuracyPoints = new Map<string, Map<number, number>>();
const perplexityPoints = new Map<string, Map<number, number>>();

function seriesName(s: DemoSetting): string {
  return `A${s.activationBits}${s.accumulator === 'exact' ? '' : ` ${$<HTMLSelectElement>('accumulator').selectedOptions[0].text.replace(/,.*$/, '')}`}`;
}

function addPoint(points: Map<string, Map<number, number>>, s: DemoSetting, value: number): void {
  const key = seriesName(s);
  if (!points.has(key)) points.set(key, new Map());
  (points.get(key) as Map<number, number>).set(s.weightBits, value);
}

function drawPlot(id: string, points: Map<string, Map<number, number>>, isAccuracy: boolean, float: number | undefined): void {
  const series = [...points.entries()].map(([name, m]) => ({
    name, points: [...m.entries()].sort((a, b) => a[0] - b[0]) as Array<[number, number]>,
  }));
  if (series.length === 0) return;
  const all = [...series.flatMap((s) => s.points.map((p) => p[1])), ...(float !== undefined ? [float] : [])];
  const panel: Panel = {
    title: isAccuracy ? 'MNIST held-back accuracy' : 'LM perplexity (log scale)',
    xLabel: 'weight bits',
    yLabel: isAccuracy ? 'top-1 accuracy, %' : 'perplexity (lower is better)',
    series,
    xTicks: [1, 2, 3, 4, 5, 6, 7, 8],
    xRange: [1, 8],
    yRange: isAccuracy ? [Math.max(0, Math.min(...all) - 2), 100] : undefined,
    logY: !isAccuracy,
    legend: isAccuracy ? 'br' : 'tr',
    hlines: float !== undefined ? [{ y: float, label: `float32 ${isAccuracy ? float.toFixed(1) + ' %' : float.toFixed(2)}` }] : [],
  };
  $(id).innerHTML = svgChart('', [panel], 1).replace(/^<\?xml[^>]*>\s*/, '');
}

// ---------------------------------------------------------------------------------------------
// The update queue: one run at a time, for the newest setting only
// ---------------------------------------------------------------------------------------------

type Part = 'digit' | 'accuracy' | 'time' | 'lm';
const ALL: Part[] = ['digit', 'accuracy', 'time', 'lm'];
let queued = new Set<Part>();
let version = 0;
let running: Promise<void> = Promise.resolve();
/** What the page last showed, and for which setting (for tests). */
const shown: {
  setting?: DemoSetting; accuracy?: number; correct?: number; perplexity?: number; probs?: number[]; input?: number[];
  /** ms each part of the last update took */
  partMs?: Record<string, number>;
} = {};

function status(text: string, error = false): void {
  const el = $('status');
  el.textContent = text;
  el.classList.toggle('error', error);
}

function schedule(parts: Part[] = ALL): void {
  for (const p of parts) queued.add(p);
  const v = ++version;
  running = running.then(async () => {
    if (v !== version) return; // a newer change will run
    const todo = queued;
    queued = new Set();
    try {
      await refresh(todo, () => v !== version);
      status(`pbq on ${tf.getBackend()}: W${readSetting().weightBits} A${readSetting().activationBits}, ${$<HTMLSelectElement>('accumulator').selectedOptions[0].text}`);
    } catch (e) {
      // e.g. a float accumulator too narrow for this setting: pbq's error says why; no stale numbers stay.
      status(e instanceof Error ? e.message : String(e), true);
      for (const id of ['accuracy', 'accuracy-count', 'perplexity', 'prediction', 'ms-pbq']) $(id).textContent = '—';
      shown.accuracy = shown.correct = shown.perplexity = shown.probs = undefined;
    }
  });
}

async function refresh(parts: Set<Part>, stale: () => boolean): Promise<void> {
  shown.partMs = {};
  let t = performance.now();
  const lap = (name: string) => { const now = performance.now(); (shown.partMs as Record<string, number>)[name] = Math.round(now - t); t = now; };
  const s = readSetting();
  status('computing…');
  $('float-backend').textContent = floatBackendOf(s.backend);
  const m = await models(mlp, 'models/mnist-mlp/model.json', s);
  await applySetting(s);
  shown.setting = s;
  if (parts.has('digit')) {
    const probs = input ? predict(m.pbq, input) : null;
    showPrediction(probs);
    shown.probs = probs ? Array.from(probs) : undefined;
    shown.input = input ? Array.from(input) : undefined;
  }
  lap('digit');
  if (stale()) return;
  if (parts.has('accuracy')) {
    const float = floatMetrics.get(floatBackendOf(s.backend)) ?? {};
    if (float.accuracy === undefined) {
      await useBackend(floatBackendOf(s.backend));
      float.accuracy = await evaluateMnist(m.float, digits, digits.n);
      floatMetrics.set(floatBackendOf(s.backend), float);
      $('float-accuracy').textContent = `${(100 * float.accuracy).toFixed(2)} %`;
      await applySetting(s);
    }
    const accuracy = await evaluateMnist(m.pbq, digits, digits.n);
    shown.accuracy = accuracy;
    shown.correct = Math.round(accuracy * digits.n);
    $('accuracy').textContent = `${(100 * accuracy).toFixed(2)} %`;
    $('accuracy-count').textContent = `${shown.correct} / ${digits.n}`;
    addPoint(accuracyPoints, s, 100 * accuracy);
    drawPlot('plot-accuracy', accuracyPoints, true, 100 * float.accuracy);
  }
  lap('accuracy');
  if (stale()) return;
  if (parts.has('time')) {
    const x = input ?? digitInput(0);
    const msPbq = await msPerPrediction(m.pbq, s.backend, x);
    const msFloat = await msPerPrediction(m.float, floatBackendOf(s.backend), x);
    await applySetting(s);
    $('ms-pbq').textContent = msPbq.toFixed(2);
    $('ms-float').textContent = msFloat.toFixed(2);
  }
  lap('time');
  if (stale()) return;
  if (parts.has('lm')) await refreshLm(s, stale);
  lap('lm');
}

async function refreshLm(s: DemoSetting, stale: () => boolean): Promise<void> {
  const m = await models(lm, 'models/lstm-lm/model.json', s);
  const float = floatMetrics.get(floatBackendOf(s.backend)) ?? {};
  if (float.perplexity === undefined) {
    await useBackend(floatBackendOf(s.backend));
    float.perplexity = await evaluateLm(m.float, lmSet, 8);
    floatMetrics.set(floatBackendOf(s.backend), float);
    $('float-perplexity').textContent = float.perplexity.toFixed(3);
  }
  await applySetting(s);
  const perplexity = await evaluateLm(m.pbq, lmSet, 8);
  shown.perplexity = perplexity;
  $('perplexity').textContent = perplexity.toFixed(3);
  addPoint(perplexityPoints, s, perplexity);
  drawPlot('plot-perplexity', perplexityPoints, false, float.perplexity);
  if (!stale()) await runGeneration(s);
}

const GENERATED_CHARS = 100;

/** Generates text from the prompt at the current setting (the same text for the same setting). */
async function runGeneration(s: DemoSetting): Promise<void> {
  const started = performance.now();
  let gen = generators.get(s.backend);
  if (!gen) {
    gen = await statefulCopy(await modelOn(lm, 'models/lstm-lm/model.json', s.backend));
    generators.set(s.backend, gen);
  }
  const prompt = $<HTMLInputElement>('prompt').value;
  const ids = generate(gen, encode(prompt, vocab), GENERATED_CHARS, 0.6, 7);
  const out = $('generated');
  out.innerHTML = '';
  const b = document.createElement('b');
  b.textContent = prompt;
  out.append(b, document.createTextNode(decode(ids, vocab)));
  $('lm-status').textContent = `${ids.length} characters in ${Math.round(performance.now() - started)} ms`;
}

// ---------------------------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------------------------

function bindControls(): void {
  const slider = (id: string) => {
    const el = $<HTMLInputElement>(id);
    el.addEventListener('input', () => {
      $(`${id}-value`).textContent = el.value;
      schedule();
    });
  };
  slider('weight-bits');
  slider('activation-bits');
  $('accumulator').addEventListener('change', () => schedule());
  $('base').addEventListener('change', () => schedule());
  $('random-digit').addEventListener('click', () => pickHeldBack());
  $('clear').addEventListener('click', () => {
    clearPad();
    input = null;
    inputSource = '';
    $('digit-source').textContent = 'Draw a digit, or pick a held-back one.';
    delete $('digit-source').dataset.index;
    schedule(['digit']);
  });
  $('generate').addEventListener('click', () => {
    running = running.then(() => runGeneration(readSetting())).catch((e) => status(String(e), true));
  });
}

async function start(): Promise<void> {
  // Bit-identical Slice/SplitV for the stock cpu backend (models/eval.ts): its own copy element by
  // element makes a float32 LSTM on 'cpu' take minutes. Before pbq-cpu is created, so it copies them.
  useFastCpuSliceKernels();
  const base = $<HTMLSelectElement>('base');
  base.innerHTML = pbqBackends().map((b) => `<option value="${b}">${b}</option>`).join('');
  status('loading models…');
  await loadData();
  $('digits-n').textContent = String(digits.n);
  $('lm-chars').textContent = String(Math.floor((lmSet.ids.length - 1) / lmSet.seqLen) * lmSet.seqLen);
  setupPad();
  bindControls();
  pickHeldBack(0);
  schedule();
}

const started = start().catch((e) => status(`could not start: ${e instanceof Error ? e.message : e}`, true));

/** For tests: wait until the page has started and every scheduled update has run; read what was shown and computed from. */
(window as unknown as { pbqDemo: object }).pbqDemo = {
  async idle(): Promise<void> {
    await started;
    for (;;) {
      const v = version;
      await running;
      if (v === version && queued.size === 0) return;
    }
  },
  shown: () => JSON.parse(JSON.stringify(shown)),
  backends: pbqBackends,
};

