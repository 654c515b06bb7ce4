/** tfjs-converter, loaded on first use: an optional peer dependency, needed for GraphModels only. */
import type * as tfconv from '@tensorflow/tfjs-converter';
import { ConversionError } from './errors';

export function tfjsConverter(): typeof tfconv {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return require('@tensorflow/tfjs-converter') as typeof tfconv;
  } catch {
    throw new ConversionError('GraphModels need @tensorflow/tfjs-converter (npm install @tensorflow/tfjs-converter@4.22.0)');
  }
}
