/** pbq's WebAssembly SIMD engine (AssemblyScript entry; built by `npm run build:wasm`). */
export { quantizeRows } from './quantize';
export { packWeights } from './pack';
export { gemv, gemm, finish } from './matmul';
export { buildTables, packPlanes, gemvTables } from './tables';
