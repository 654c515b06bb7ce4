/**
 * A drawn digit to the MLP's input, the way MNIST's digits were made: the strokes' bounding box
 * scaled into a 20×20 box (aspect kept), placed in a 28×28 image so that the centre of mass of the
 * ink is at the centre. The canvas does the resampling; the pure steps are here.
 */
export const SIDE = 28;
export const BOX = 20;

/** [x0, y0, x1, y1] (inclusive) of the pixels above `threshold` in a w×h gray image, or null if blank. */
export function boundingBox(gray: ArrayLike<number>, w: number, h: number, threshold = 10): [number, number, number, number] | null {
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (gray[y * w + x] > threshold) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  return x1 < 0 ? null : [x0, y0, x1, y1];
}

/** Where a bounding box of size w×h goes in the 28×28 image: scaled to fit BOX, centred. */
export function fitBox(w: number, h: number): { x: number; y: number; w: number; h: number } {
  const s = BOX / Math.max(w, h);
  const fw = w * s, fh = h * s;
  return { x: (SIDE - fw) / 2, y: (SIDE - fh) / 2, w: fw, h: fh };
}

/** Centre of mass (x, y) of a side×side image of ink intensities; the centre of the image if blank. */
export function centerOfMass(img: ArrayLike<number>, side = SIDE): [number, number] {
  let m = 0, mx = 0, my = 0;
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const v = img[y * side + x];
      m += v; mx += v * x; my += v * y;
    }
  }
  return m === 0 ? [(side - 1) / 2, (side - 1) / 2] : [mx / m, my / m];
}

/** The image moved by whole pixels (dx right, dy down), zeros shifted in. */
export function shiftImage(img: ArrayLike<number>, dx: number, dy: number, side = SIDE): Float32Array {
  const out = new Float32Array(side * side);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const sx = x - dx, sy = y - dy;
      if (sx >= 0 && sx < side && sy >= 0 && sy < side) out[y * side + x] = img[sy * side + sx];
    }
  }
  return out;
}

/** Shifts a 28×28 image (values in [0, 1]) so that its centre of mass is at the centre pixel. */
export function centerByMass(img: ArrayLike<number>): Float32Array {
  const [cx, cy] = centerOfMass(img);
  const c = (SIDE - 1) / 2;
  return shiftImage(img, Math.round(c - cx), Math.round(c - cy));
}
