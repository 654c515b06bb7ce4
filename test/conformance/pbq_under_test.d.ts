/** Module alias resolved by test/conformance/build.ts to src/index.ts (or the stand-in). */
declare module 'pbq-backend-under-test' {
  export function configure(partial: {weightBits?: number; activationBits?: number}): unknown;
  export function getConfig(): {weightBits: number; activationBits: number};
  export function setWasmPaths(prefixOrFile: string): void;
  export function useWebGPU(module: unknown): void;
}
