/** Hand-written SVG line charts (no dependencies) for the results plots. */

export interface Series {
  name: string;
  points: Array<[number, number]>;
  color?: string;
  dash?: boolean;
}

export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** horizontal reference lines, e.g. float32 */
  hlines?: Array<{ y: number; label: string }>;
  xTicks?: number[];
  /** a fixed x axis (default: the points' extent) */
  xRange?: [number, number];
  /** clamp the y axis to this range (a value outside is drawn at the edge as an open triangle with its value) */
  yRange?: [number, number];
  logY?: boolean;
  /** legend corner: top/bottom, left/right (default top right) */
  legend?: 'tl' | 'tr' | 'bl' | 'br';
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];
const W = 420;
const H = 300;
const M = { l: 58, r: 12, t: 30, b: 44 };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v: number) => (Number.isInteger(v) || Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));

function niceTicks(lo: number, hi: number, n = 5): number[] {
  const span = hi - lo || 1;
  const step0 = span / n;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= step0) ?? step0;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * span; v += step) out.push(+v.toPrecision(12));
  return out;
}

/**
 * Log-axis ticks: 1, 2, 5 × 10^k inside [lo, hi]; also 1.5, 3, 7 × 10^k when that gives fewer than
 * 3; a linear step when even those are fewer than 3 (a range narrower than about a factor 2).
 */
export function logTicks(lo: number, hi: number): number[] {
  const pick = (mantissas: number[]) => {
    const out: number[] = [];
    for (let k = Math.floor(Math.log10(lo)); k <= Math.ceil(Math.log10(hi)); k++) {
      for (const m of mantissas) {
        const v = +(m * 10 ** k).toPrecision(12);
        if (v >= lo && v <= hi) out.push(v);
      }
    }
    return out;
  };
  const coarse = pick([1, 2, 5]);
  if (coarse.length >= 3) return coarse;
  const fine = pick([1, 1.5, 2, 3, 5, 7]);
  return fine.length >= 3 ? fine : niceTicks(lo, hi);
}

/** Whether a value lies outside the panel's y range (drawn at the edge, marked). */
function clipped(v: number, y0: number, y1: number): boolean {
  return !Number.isFinite(v) || v < y0 || v > y1;
}

function panelSvg(p: Panel, ox: number, oy: number): string {
  const xs = p.series.flatMap((s) => s.points.map((q) => q[0]));
  const ysAll = [...p.series.flatMap((s) => s.points.map((q) => q[1])), ...(p.hlines ?? []).map((h) => h.y)]
      .filter((v) => Number.isFinite(v));
  const [x0, x1] = p.xRange ?? [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = p.yRange ?? [Math.min(...ysAll), Math.max(...ysAll)];
  if (y0 === y1) { y0 -= 1; y1 += 1; }
  if (!p.yRange && p.logY) { y0 /= 1.08; y1 *= 1.08; } // a margin of the same height at both ends
  else if (!p.yRange) { const pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad; }
  const tY = (v: number) => (p.logY ? Math.log(v) : v);
  const [ly0, ly1] = [tY(y0), tY(y1)];
  const px = (x: number) => ox + M.l + ((x - x0) / (x1 - x0 || 1)) * (W - M.l - M.r);
  const py = (y: number) => {
    const c = Math.min(Math.max(Number.isFinite(y) ? y : y1, y0), y1);
    return oy + M.t + (1 - (tY(c) - ly0) / (ly1 - ly0)) * (H - M.t - M.b);
  };
  const parts: string[] = [];
  parts.push(`<rect x="${ox + M.l}" y="${oy + M.t}" width="${W - M.l - M.r}" height="${H - M.t - M.b}" fill="#fff" stroke="#999"/>`);
  parts.push(`<text x="${ox + W / 2}" y="${oy + 18}" text-anchor="middle" font-weight="bold">${esc(p.title)}</text>`);
  const yTicks = p.logY ? logTicks(y0, y1) : niceTicks(y0, y1);
  for (const v of yTicks) {
    parts.push(`<line x1="${ox + M.l}" x2="${ox + W - M.r}" y1="${py(v)}" y2="${py(v)}" stroke="#eee"/>`);
    parts.push(`<text x="${ox + M.l - 4}" y="${py(v) + 4}" text-anchor="end" font-size="10">${fmt(v)}</text>`);
  }
  for (const v of p.xTicks ?? niceTicks(x0, x1, Math.min(8, x1 - x0 || 1))) {
    parts.push(`<text x="${px(v)}" y="${oy + H - M.b + 14}" text-anchor="middle" font-size="10">${fmt(v).replace(/\.0+$/, '')}</text>`);
  }
  parts.push(`<text x="${ox + M.l + (W - M.l - M.r) / 2}" y="${oy + H - 8}" text-anchor="middle" font-size="11">${esc(p.xLabel)}</text>`);
  parts.push(`<text transform="translate(${ox + 14},${oy + M.t + (H - M.t - M.b) / 2}) rotate(-90)" text-anchor="middle" font-size="11">${esc(p.yLabel)}</text>`);
  for (const h of p.hlines ?? []) {
    parts.push(`<line x1="${ox + M.l}" x2="${ox + W - M.r}" y1="${py(h.y)}" y2="${py(h.y)}" stroke="#000" stroke-dasharray="2,3"/>`);
    parts.push(`<text x="${ox + W - M.r - 4}" y="${py(h.y) - 4}" text-anchor="end" font-size="10">${esc(h.label)}</text>`);
  }
  p.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const pts = s.points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`);
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1.8"${s.dash ? ' stroke-dasharray="5,3"' : ''} points="${pts.join(' ')}"/>`);
    s.points.forEach(([, y], j) => {
      const [cx, cy] = pts[j].split(',').map(Number);
      if (!clipped(y, y0, y1)) {
        parts.push(`<circle cx="${cx}" cy="${cy}" r="2.4" fill="${color}"/>`);
        return;
      }
      // Off the axis: an open triangle pointing out at the edge, and the value (a broken-axis mark).
      const up = !(y < y0);
      const tip = up ? cy - 6 : cy + 6;
      parts.push(`<path class="clipped" d="M${cx - 4},${cy} L${cx + 4},${cy} L${cx},${tip} Z" fill="#fff" stroke="${color}" stroke-width="1.5"/>`);
      parts.push(`<text class="clipped" x="${cx + 6}" y="${up ? cy + 10 : cy - 4}" font-size="9" fill="${color}">${fmt(y)}</text>`);
    });
    const pos = p.legend ?? 'tr';
    const n = p.series.length;
    const ly = pos[0] === 't' ? oy + M.t + 14 + i * 13 : oy + H - M.b - 8 - (n - 1 - i) * 13;
    const lx = pos[1] === 'l' ? ox + M.l + 8 : ox + W - M.r - 120;
    parts.push(`<line x1="${lx}" x2="${lx + 18}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2"${s.dash ? ' stroke-dasharray="5,3"' : ''}/>`);
    parts.push(`<text x="${lx + 22}" y="${ly}" font-size="10">${esc(s.name)}</text>`);
  });
  return parts.join('\n');
}

/** Panels laid out in a grid of `cols` columns, with an overall title and a footnote. */
export function svgChart(title: string, panels: Panel[], cols: number, note = ''): string {
  const rows = Math.ceil(panels.length / cols);
  const width = cols * W;
  const height = rows * H + 34 + (note ? 22 : 0);
  const body = panels.map((p, i) => panelSvg(p, (i % cols) * W, 34 + Math.floor(i / cols) * H)).join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fafafa"/>
<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>
${body}
${note ? `<text x="8" y="${height - 8}" font-size="10" fill="#555">${esc(note)}</text>` : ''}
</svg>
`;
}
