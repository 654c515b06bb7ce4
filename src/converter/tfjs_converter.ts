/**
 * tfjs-converter, found on first use: an optional peer dependency, needed for GraphModels only.
 * Node requires it; a page that loads tf.min.js by script tag has it on the global `tf`; an app
 * bundle hands its copy over with `pbq.useTfjsConverter(tfconv)` (pbq's bundles do not import it,
 * so apps without GraphModels do not carry it).
 */
import type * as tfconv from '@tensorflow/tfjs-converter';
import { ConversionError } from './errors';

type TfjsConverter = typeof tfconv;

let handedOver: TfjsConverter | undefined;

function looksLikeConverter(m: unknown): m is TfjsConverter {
  const c = m as Partial<TfjsConverter> | null | undefined;
  return c != null && typeof c.loadGraphModel === 'function' && typeof c.loadGraphModelSync === 'function';
}

/** Hands pbq the app's `@tensorflow/tfjs-converter` module (`import * as tfconv from '@tensorflow/tfjs-converter'`). */
export function useTfjsConverter(module: TfjsConverter): void {
  if (!looksLikeConverter(module)) {
    throw new ConversionError('useTfjsConverter(module) takes the @tensorflow/tfjs-converter module (with loadGraphModel and loadGraphModelSync)');
  }
  handedOver = module;
}

export function tfjsConverter(): TfjsConverter {
  if (handedOver) return handedOver;
  const globalTf = (globalThis as { tf?: unknown }).tf;
  if (looksLikeConverter(globalTf)) return globalTf;
  try {
    // Through eval: bundlers leave it alone (the browser builds reach the module as above).
    const found = (eval('require') as NodeRequire)('@tensorflow/tfjs-converter') as unknown;
    if (looksLikeConverter(found)) return found;
  } catch {
    // not installed, or no require (a browser)
  }
  throw new ConversionError('GraphModels need @tensorflow/tfjs-converter: npm install @tensorflow/tfjs-converter@4.22 ' +
    "(in a bundled app also call pbq.useTfjsConverter(tfconv) with import * as tfconv from '@tensorflow/tfjs-converter')");
}
