/** latest.json, results.md and speedup.svg of a benchmark run. */
import * as fs from 'fs';
import * as path from 'path';
import type { FigureRecord } from './bench';

const fmt = (x: number | null, d = 2) => (x === null ? '–' : x >= 100 ? x.toFixed(0) : x.toFixed(d));
const mib = (b: number | null) => (b === null ? '–' : (b / 2 ** 20).toFixed(b < 2 ** 20 ? 3 : 1));

function markdown(meta: Record<string, unknown>, records: FigureRecord[]): string {
  const lines: string[] = [];
  lines.push(`# pbq benchmark (${meta.date})`, '');
  lines.push(`Run: ${meta.quick ? 'quick' : 'full'}, ${meta.samples} interleaved samples per figure, median; ` +
    `Node ${meta.node}, ${meta.cpus} CPUs; browser: ${JSON.stringify((meta.browser as { renderer?: string } | null)?.renderer ?? null)}` +
    `${browserThreads(meta.browser)}. ` +
    `Speed-ups are against the float32 contender of the same run (browser: webgl-f32, Node: cpu). ` +
    `Weight memory: bytes the contender holds for the weights (pbq: plane textures / arrays plus per-channel data).`, '');
  for (const side of ['browser', 'node'] as const) {
    const mine = records.filter((r) => r.side === side);
    if (!mine.length) continue;
    const ours = side === 'browser' ? 'pbq-glsl' : 'pbq-cpu';
    lines.push(`## ${side === 'browser' ? 'Browser (WebGL 2)' : 'Node'}: ${ours} speed-up vs float32, exact accumulator`, '');
    const shapes = [...new Set(mine.map((r) => r.shape))];
    lines.push('| shape | float32 ms | ' + [8, 16].flatMap((a) => [1, 2, 4, 8].map((w) => `W${w}A${a}`)).join(' | ') + ' |');
    lines.push('|---|---|' + '---|'.repeat(8));
    for (const sh of shapes) {
      const f = mine.find((r) => r.shape === sh && r.speedupVsFloat32 === 1 && r.weightBits === null);
      const cells = [8, 16].flatMap((a) => [1, 2, 4, 8].map((w) => {
        const r = mine.find((x) => x.shape === sh && x.contender === ours && x.weightBits === w && x.activationBits === a && x.accumulator === 'exact');
        return r ? `${fmt(r.speedupVsFloat32, 1)}x (${fmt(r.msMedian)})` : '–';
      }));
      lines.push(`| ${sh} | ${fmt(f?.msMedian ?? null)} | ${cells.join(' | ')} |`);
    }
    lines.push('', 'Cells: speed-up (median ms).', '');
    lines.push(...stockRatioTable(side, mine, 'pbq-wasm', 'wasm'));
    if (side === 'node') lines.push(...stockRatioTable(side, mine, 'pbq-wasm-1t', 'wasm'));
    if (side === 'browser') lines.push(...stockRatioTable(side, mine, 'pbq-webgpu', 'webgpu'));
    lines.push(`### All ${side} figures`, '');
    lines.push('| shape | contender | W | A | accumulator | ms (median) | speed-up vs f32 | weight MiB | weight bytes / f32 | reps×samples |');
    lines.push('|---|---|---|---|---|---|---|---|---|---|');
    for (const r of mine) {
      lines.push(`| ${r.shape} | ${r.contender} | ${r.weightBits ?? '–'} | ${r.activationBits ?? '–'} | ${r.accumulator} | ` +
        `${fmt(r.msMedian, 3)} | ${fmt(r.speedupVsFloat32)} | ${mib(r.weightBytes)} | ${fmt(r.weightBytesVsFloat32, 3)} | ${r.reps}×${r.msSamples.length} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

/** A pbq base against its stock tfjs backend in the same run and side: stock ms / pbq ms, exact accumulator. */
/** The page's wasm threads, when the page reported them (bench_page info). */
function browserThreads(info: unknown): string {
  const i = info as { crossOriginIsolated?: boolean; wasmThreads?: number; pbqWasmThreads?: number } | null;
  if (i?.wasmThreads === undefined) return '';
  return ` (${i.crossOriginIsolated ? 'cross-origin isolated' : 'not isolated'}: stock wasm ${i.wasmThreads} thread(s), pbq-wasm ${i.pbqWasmThreads})`;
}

function stockRatioTable(side: 'browser' | 'node', mine: FigureRecord[], pbqName: string, stockName: string): string[] {
  const shapes = [...new Set(mine.filter((r) => r.contender === pbqName).map((r) => r.shape))];
  if (!shapes.length) return [];
  const settings = [8, 16].flatMap((a) => [1, 2, 4, 8].map((w) => [w, a]));
  const lines = [`### ${side === 'browser' ? 'Browser' : 'Node'}: ${pbqName} vs stock ${stockName} (ratio ${stockName} ms / ${pbqName} ms)`, ''];
  lines.push(`| shape | ${stockName} ms | ` + settings.map(([w, a]) => `W${w}A${a}`).join(' | ') + ' |');
  lines.push('|---|---|' + '---|'.repeat(settings.length));
  for (const sh of shapes) {
    const stock = mine.find((r) => r.shape === sh && r.contender === stockName);
    const cells = settings.map(([w, a]) => {
      const r = mine.find((x) => x.shape === sh && x.contender === pbqName && x.weightBits === w && x.activationBits === a && x.accumulator === 'exact');
      return r && stock ? `${fmt(stock.msMedian / r.msMedian, 1)}x (${fmt(r.msMedian)})` : '–';
    });
    lines.push(`| ${sh} | ${fmt(stock?.msMedian ?? null)} | ${cells.join(' | ')} |`);
  }
  lines.push('', `Cells: ratio (${pbqName} median ms).`, '');
  return lines;
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/** Two panels (browser, Node): speed-up vs weight bits (A8 solid, A16 dashed), one line per shape. */
function svg(records: FigureRecord[]): string {
  const W = 460;
  const H = 340;
  const m = { l: 52, r: 12, t: 30, b: 40 };
  const parts: string[] = [];
  const sides = (['browser', 'node'] as const).filter((s) => records.some((r) => r.side === s));
  const shapes = [...new Set(records.map((r) => r.shape))];
  sides.forEach((side, pi) => {
    const ours = side === 'browser' ? 'pbq-glsl' : 'pbq-cpu';
    const rs = records.filter((r) => r.side === side && r.contender === ours && r.accumulator === 'exact' && r.speedupVsFloat32);
    const ys = rs.map((r) => r.speedupVsFloat32 as number);
    const lo = Math.min(0.5, ...ys);
    const hi = Math.max(2, ...ys) * 1.2;
    const ox = pi * W;
    const x = (bits: number) => ox + m.l + (Math.log2(bits) / 3) * (W - m.l - m.r);
    const y = (v: number) => m.t + (1 - (Math.log(v) - Math.log(lo)) / (Math.log(hi) - Math.log(lo))) * (H - m.t - m.b);
    parts.push(`<text x="${ox + W / 2}" y="18" text-anchor="middle" font-size="13">${side === 'browser' ? 'Browser: pbq-glsl vs webgl f32' : 'Node: pbq-cpu vs cpu f32'}</text>`);
    parts.push(`<line x1="${ox + m.l}" y1="${H - m.b}" x2="${ox + W - m.r}" y2="${H - m.b}" stroke="#000"/>`);
    parts.push(`<line x1="${ox + m.l}" y1="${m.t}" x2="${ox + m.l}" y2="${H - m.b}" stroke="#000"/>`);
    for (const b of [1, 2, 4, 8]) parts.push(`<text x="${x(b)}" y="${H - m.b + 14}" text-anchor="middle" font-size="11">W${b}</text>`);
    parts.push(`<text x="${ox + W / 2}" y="${H - 8}" text-anchor="middle" font-size="11">weight bits (solid A8, dashed A16)</text>`);
    for (let v = 0.25; v <= hi; v *= 2) {
      if (v < lo) continue;
      parts.push(`<line x1="${ox + m.l}" y1="${y(v)}" x2="${ox + W - m.r}" y2="${y(v)}" stroke="#ddd"/>`);
      parts.push(`<text x="${ox + m.l - 4}" y="${y(v) + 4}" text-anchor="end" font-size="10">${v}x</text>`);
    }
    parts.push(`<line x1="${ox + m.l}" y1="${y(1)}" x2="${ox + W - m.r}" y2="${y(1)}" stroke="#888" stroke-dasharray="2,2"/>`);
    shapes.forEach((sh, si) => {
      for (const a of [8, 16]) {
        const pts = [1, 2, 4, 8].map((b) => rs.find((r) => r.shape === sh && r.weightBits === b && r.activationBits === a))
          .filter((r): r is FigureRecord => !!r).map((r) => `${x(r.weightBits as number).toFixed(1)},${y(r.speedupVsFloat32 as number).toFixed(1)}`);
        if (pts.length) {
          parts.push(`<polyline fill="none" stroke="${COLORS[si % COLORS.length]}" stroke-width="1.6" ${a === 16 ? 'stroke-dasharray="5,3"' : ''} points="${pts.join(' ')}"/>`);
        }
      }
    });
  });
  shapes.forEach((sh, si) => {
    parts.push(`<rect x="${10 + (si % 4) * 225}" y="${H + 6 + Math.floor(si / 4) * 16}" width="10" height="10" fill="${COLORS[si % COLORS.length]}"/>`);
    parts.push(`<text x="${24 + (si % 4) * 225}" y="${H + 15 + Math.floor(si / 4) * 16}" font-size="11">${sh}</text>`);
  });
  const totalH = H + 12 + Math.ceil(shapes.length / 4) * 16;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W * Math.max(1, sides.length)}" height="${totalH}" font-family="sans-serif">\n` +
    `<rect width="100%" height="100%" fill="#fff"/>\n${parts.join('\n')}\n</svg>\n`;
}

export function writeReports(outDir: string, meta: Record<string, unknown>, records: FigureRecord[]): void {
  fs.writeFileSync(path.join(outDir, 'latest.json'), JSON.stringify({ meta, records }, null, 1));
  fs.writeFileSync(path.join(outDir, 'results.md'), markdown(meta, records));
  fs.writeFileSync(path.join(outDir, 'speedup.svg'), svg(records));
}
