/** Page entry for wasm_engine.test.ts: the WebAssembly engine vs the TypeScript engine in Chromium. */
import { loadWasmEngine, setWasmPaths, WasmEngine } from '../../../kernels/wasm/engine';
import {
  everyWidthCases, extremeCases, layoutCases, randomShapeCases, runCases, specialRowCases,
} from '../../wasm_engine_cases';

declare global {
  interface Window {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    [k: string]: any;
  }
}

const SUITES = {
  everyWidth: everyWidthCases,
  randomShapes: () => randomShapeCases(60, 777),
  extreme: extremeCases,
  specialRows: specialRowCases,
  layouts: layoutCases,
};

let engine: Promise<WasmEngine> | undefined;

/** The engine, fetched from the served build folder (setWasmPaths with a folder prefix). */
function served(): Promise<WasmEngine> {
  if (!engine) {
    setWasmPaths('/fs/kernels/wasm/build/');
    engine = loadWasmEngine();
  }
  return engine;
}

window.wasmEngineSuite = async (name: keyof typeof SUITES) => runCases(await served(), SUITES[name]());

/** Loads from fetched bytes and from a compiled Module, and runs one small case on each. */
window.wasmEngineSources = async () => {
  const bytes = await (await fetch('/fs/kernels/wasm/build/pbq_simd.wasm')).arrayBuffer();
  const results = [];
  for (const source of [{ bytes }, { module: await WebAssembly.compile(bytes) }]) {
    const e = await loadWasmEngine(source);
    results.push(runCases(e, layoutCases().slice(0, 2)));
    e.dispose();
  }
  return results;
};

/** A missing file gives an error that names the URL. */
window.wasmEngineMissing = async () => {
  try {
    await loadWasmEngine({ path: '/fs/no/such.wasm' });
    return 'loaded';
  } catch (e) {
    return (e as Error).message;
  }
};
