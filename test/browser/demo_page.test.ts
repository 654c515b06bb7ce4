/**
 * The demo page (`npm run demo`) as a visitor uses it, in headless Chromium: built into a folder,
 * served by the demo's plain static server on 127.0.0.1, loaded with every request outside that
 * server refused (none may happen). The sliders are moved with the keyboard, a digit is drawn with
 * the mouse, the base and accumulator are switched; each time the accuracy, prediction and
 * perplexity the page shows must equal what pbq computes for that setting in Node (the CPU
 * engine, the oracle of the GLSL products). Screenshots (desktop and phone width) are written
 * to .cache/artifacts/.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { Page } from 'puppeteer-core';
import * as pbq from '../../src/index';
import { evaluateLm, evaluateMnist, loadLmEvalSet, loadMnistEvalSet, LmEvalSet, MnistEvalSet } from '../../models/eval';
import { subsetLm, subsetMnist } from '../../tools/demo/suite';
import { buildDemo, DIGITS, LM_WINDOWS, REPO_ROOT } from '../../tools/demo_page/build';
import { parseAccumulator } from '../../tools/demo_page/settings';
import { serveStatic, StaticServer } from '../../tools/demo_page/serve';
import { CACHE_DIR, closeBrowser, launchBrowser } from '../../tools/harness/browser';

const OUT = path.join(CACHE_DIR, 'demo_page');
const ARTIFACTS = path.join(CACHE_DIR, 'artifacts');

let server: StaticServer;
let page: Page;
const outside: string[] = [];
const pageErrors: string[] = [];
let mlp: tfl.LayersModel;
let lm: tfl.LayersModel;
let digits: MnistEvalSet;
let text: LmEvalSet;

beforeAll(async () => {
  await buildDemo(OUT);
  server = await serveStatic(OUT, 0);
  const browser = await launchBrowser();
  page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  await page.setRequestInterception(true);
  page.on('request', (req) => {
    const url = req.url();
    if (url.startsWith(server.url) || url.startsWith('data:') || url.startsWith('blob:')) req.continue().catch(() => undefined);
    else {
      outside.push(url);
      req.abort('blockedbyclient').catch(() => undefined);
    }
  });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
  await page.goto(server.url, { waitUntil: 'load' });
  await page.waitForFunction(() => 'pbqDemo' in window);
  await idle();

  await tf.setBackend('pbq');
  mlp = await tfl.loadLayersModel(`file://${path.join(REPO_ROOT, 'models', 'mnist-mlp', 'model.json')}`);
  lm = await tfl.loadLayersModel(`file://${path.join(REPO_ROOT, 'models', 'lstm-lm', 'model.json')}`);
  digits = subsetMnist(loadMnistEvalSet(path.join(REPO_ROOT, 'models', 'mnist-mlp')), DIGITS);
  text = subsetLm(loadLmEvalSet(path.join(REPO_ROOT, 'models', 'lstm-lm')), LM_WINDOWS);
}, 600_000);

afterAll(async () => {
  mlp?.dispose();
  lm?.dispose();
  pbq.resetConfig();
  await page?.close().catch(() => undefined);
  await closeBrowser();
  await server?.close();
});

async function idle(): Promise<void> {
  await page.evaluate(() => (window as unknown as { pbqDemo: { idle(): Promise<void> } }).pbqDemo.idle());
}

const textOf = (sel: string) => page.$eval(sel, (e) => (e.textContent ?? '').trim());

interface Shown { weightBits: number; activationBits: number; accumulator: string; backend: string; accuracy: string; count: string; prediction: string; probs: number[]; perplexity: string; digit: string | undefined }

/** What the page shows now (the DOM, not its internals). */
async function shownNow(): Promise<Shown> {
  return {
    weightBits: Number(await textOf('#weight-bits-value')),
    activationBits: Number(await textOf('#activation-bits-value')),
    accumulator: await page.$eval('#accumulator', (e) => (e as HTMLSelectElement).value),
    backend: await page.$eval('#base', (e) => (e as HTMLSelectElement).value),
    accuracy: await textOf('#accuracy'),
    count: await textOf('#accuracy-count'),
    prediction: await textOf('#prediction'),
    probs: await page.$$eval('#probs .bar .p', (els) => els.map((e) => Number(e.textContent))),
    perplexity: await textOf('#perplexity'),
    digit: await page.$eval('#digit-source', (e) => (e as HTMLElement).dataset.index),
  };
}

/** Node's held-back accuracy and perplexity per setting (a setting seen twice is computed once). */
const nodeMetrics = new Map<string, { correct: number; perplexity: number }>();

/** pbq in Node at the setting the page shows: accuracy on its digits, the digit's probabilities, the LM perplexity. */
async function computeInNode(s: Shown, input: Float32Array): Promise<{ correct: number; probs: Float32Array; perplexity: number }> {
  pbq.configure({ weightBits: s.weightBits, activationBits: s.activationBits, accumulator: parseAccumulator(s.accumulator) });
  const key = `W${s.weightBits}A${s.activationBits} ${s.accumulator}`;
  if (!nodeMetrics.has(key)) {
    const accuracy = await evaluateMnist(mlp, digits, digits.n);
    nodeMetrics.set(key, { correct: Math.round(accuracy * digits.n), perplexity: await evaluateLm(lm, text, LM_WINDOWS) });
  }
  const probs = tf.tidy(() => (mlp.predict(tf.tensor2d(input, [1, 784])) as tf.Tensor).dataSync() as Float32Array);
  return { ...(nodeMetrics.get(key) as { correct: number; perplexity: number }), probs };
}

function heldBack(i: number): Float32Array {
  return Float32Array.from(digits.images.subarray(i * 784, (i + 1) * 784), (v) => v / 255);
}

/**
 * The MLP's numbers must match exactly (as shown): the GLSL products give the CPU engine's
 * integers and one feed-forward pass only rounds differently in float32's last bit. The LSTM's
 * state is float32 computed by GLSL on pbq-webgl (tanh, the cell update) and by JavaScript in
 * Node; a state that lands on the other side of an activation code's rounding boundary changes
 * that code, and the recurrence carries the difference on: on pbq-webgl the perplexity is
 * compared within 0.5 % (0.04 % measured); on pbq-cpu, the same JavaScript, to the digits shown.
 */
function expectShownEqualsNode(s: Shown, node: { correct: number; probs: Float32Array; perplexity: number }): void {
  expect(s.count).toBe(`${node.correct} / ${digits.n}`);
  expect(s.accuracy).toBe(`${(100 * node.correct / digits.n).toFixed(2)} %`);
  expect(s.prediction).toBe(String(node.probs.indexOf(Math.max(...node.probs))));
  s.probs.forEach((p, d) => expect(Math.abs(p - node.probs[d])).toBeLessThanOrEqual(0.0005 + 1e-6)); // shown to 3 decimals
  const lmTolerance = s.backend === 'pbq-cpu' ? 0.0005 + 1e-6 : 0.005 * node.perplexity;
  expect(Math.abs(Number(s.perplexity) - node.perplexity)).toBeLessThanOrEqual(lmTolerance);
}

describe('the demo page', () => {
  it('loads from its folder alone and lists the pbq backends registered in the page', async () => {
    expect(outside).toEqual([]);
    expect(pageErrors).toEqual([]);
    const options = await page.$$eval('#base option', (els) => els.map((e) => (e as HTMLOptionElement).value));
    expect(options).toEqual(['pbq-webgl', 'pbq-cpu']);
    expect(await page.evaluate(() => (window as unknown as { pbqDemo: { backends(): string[] } }).pbqDemo.backends())).toEqual(options);
    expect(await textOf('#status')).toMatch(/^pbq on pbq-webgl: W4 A8/);
    expect(await textOf('#generated')).toMatch(/^the president said that .{100,}/s);
  });

  it('after moving the sliders, shows the accuracy, prediction and perplexity pbq computes for that setting', async () => {
    await page.focus('#weight-bits');
    await page.keyboard.press('ArrowLeft');           // 4 -> 3
    await page.focus('#activation-bits');
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('ArrowLeft');           // 8 -> 6
    await idle();
    const s = await shownNow();
    expect([s.weightBits, s.activationBits, s.accumulator, s.backend, s.digit]).toEqual([3, 6, 'exact', 'pbq-webgl', '0']);
    expectShownEqualsNode(s, await computeInNode(s, heldBack(0)));
  });

  it('classifies a digit drawn with the mouse, as pbq does its 28x28 input', async () => {
    const box = await page.$eval('#pad', (e) => { const r = e.getBoundingClientRect(); return { x: r.left, y: r.top, w: r.width }; });
    await page.mouse.move(box.x + box.w * 0.5, box.y + box.w * 0.2);
    await page.mouse.down();
    for (let i = 1; i <= 12; i++) await page.mouse.move(box.x + box.w * (0.5 - 0.01 * i), box.y + box.w * (0.2 + 0.05 * i));
    await page.mouse.up();
    await idle();
    const input = await page.evaluate(() => (window as unknown as { pbqDemo: { shown(): { input: number[] } } }).pbqDemo.shown().input);
    expect(input).toHaveLength(784);
    expect(Math.max(...input)).toBeGreaterThan(0.9);
    const s = await shownNow();
    expect(s.digit).toBeUndefined();
    const node = await computeInNode(s, Float32Array.from(input));
    expectShownEqualsNode(s, node);
    expect(s.prediction).toBe('1');
  });

  it('plots every setting seen and reads at phone width; screenshots in .cache/artifacts/', async () => {
    // A8 (W4 at the start) and A6 (W3 after the sliders) at least, a series each.
    const points = await page.$$eval('#plot-accuracy svg circle, #plot-accuracy svg path.clipped', (els) => els.length);
    expect(points).toBeGreaterThanOrEqual(2);
    const legend = await page.$$eval('#plot-accuracy svg text', (els) => els.map((e) => e.textContent));
    expect(legend).toEqual(expect.arrayContaining(['A8', 'A6']));
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const partMs = await page.evaluate(() => (window as unknown as { pbqDemo: { shown(): { partMs: object } } }).pbqDemo.shown().partMs);
    fs.writeFileSync(path.join(ARTIFACTS, 'demo_page_last_update_ms.json'), JSON.stringify(partMs) + '\n');
    await page.screenshot({ path: path.join(ARTIFACTS, 'demo_page.png') as `${string}.png`, fullPage: true });
    await page.setViewport({ width: 390, height: 844 }); // (isMobile would reload the page)
    await new Promise((r) => setTimeout(r, 300));
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: path.join(ARTIFACTS, 'demo_page_phone.png') as `${string}.png`, fullPage: true });
    await page.setViewport({ width: 1280, height: 900 });
    expect(outside).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
  it('switches the base and the accumulator, and the numbers follow', async () => {
    const input = Float32Array.from(await page.evaluate(() => (window as unknown as { pbqDemo: { shown(): { input: number[] } } }).pbqDemo.shown().input));
    await page.select('#base', 'pbq-cpu');
    await idle();
    let s = await shownNow();
    expect([s.backend, await textOf('#float-backend')]).toEqual(['pbq-cpu', 'cpu']);
    expectShownEqualsNode(s, await computeInNode(s, input));
    await page.select('#accumulator', 'int:21:wrap');
    await idle();
    s = await shownNow();
    expect(s.accumulator).toBe('int:21:wrap');
    expectShownEqualsNode(s, await computeInNode(s, input));
  });

});
