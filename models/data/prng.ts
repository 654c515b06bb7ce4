/**
 * The project's one seeded PRNG: mulberry32, uniform in [0, 1). Pure (no Node imports), so the
 * browser bundles (the demo page, the test pages) use the same one as the training scripts and
 * the Node tests.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
