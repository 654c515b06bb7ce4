/** Human-readable form of a ConversionReport. */
import type { ConversionReport } from './convert';

function kb(bytes: number): string {
  return bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(2)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
}

function pad(cells: string[][]): string {
  const widths = cells[0].map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  return cells.map((r) => r.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')).join('\n');
}

export function formatReport(r: ConversionReport): string {
  const s = r.settings;
  const lines: string[] = [];
  lines.push(`pbq convert: ${r.input} -> ${r.output}`);
  const tt0 = r.totals;
  const planes = tt0.avgBits === s.weightBits && tt0.maxBits === s.weightBits
    ? `W${s.weightBits}` : `W${s.weightBits} (stored: ${tt0.avgBits.toFixed(2)} bits/weight on average, widest channel ${tt0.maxBits} planes)`;
  lines.push(`  ${planes} A${s.activationBits}, range ${s.range}` +
    `${s.biasCorrection ? ', bias correction' : ''}${s.multipoint ? `, multipoint budget ${s.budget}` : ''}` +
    `${s.rounding === 'gptq' && s.gptq ? `, GPTQ rounding (dampening ${s.gptq.dampening}, ${s.gptq.order} order)` : ''}` +
    `${Object.keys(s.layerBits).length ? `, layer bits ${Object.entries(s.layerBits).map(([k, v]) => `${k}=${v}`).join(',')}` : ''}` +
    `; calibration: ${r.calibration ? `${r.calibration.samples} samples from ${r.calibration.source}` : 'none'}`);
  const rows = [['tensor', 'class', 'shape', 'bits', 'range min', 'range max', 'SQNR dB', 'out err', 'bias corr', 'rounding', 'float', 'pbq']];
  for (const t of r.tensors) {
    rows.push([
      `${t.layer}/${t.role}`, t.className, `${t.shape[0]}x${t.shape[1]}`,
      t.avgBits === t.bits && t.maxBits === t.bits ? String(t.bits) : `${t.avgBits.toFixed(2)} (max ${t.maxBits})`,
      t.rangeMin.toPrecision(4), t.rangeMax.toPrecision(4), t.sqnrDb.toFixed(2),
      t.outputRelError === null ? '-' : `${(100 * t.outputRelError).toFixed(3)}%`,
      t.biasCorrected ? 'yes' : 'no', t.gptqDampening ? `gptq λ=${t.gptqDampening.join('/')}` : t.rounding,
      kb(t.bytesBefore), kb(t.bytesAfter),
    ]);
  }
  lines.push(pad(rows));
  if (r.correctedBiases.length) lines.push(`  bias corrected (float): ${r.correctedBiases.join(', ')}`);
  if (r.passthrough.length) lines.push(`  float (untouched): ${r.passthrough.map((p) => `${p.name} [${p.shape.join('x')}]`).join(', ')}`);
  const tt = r.totals;
  lines.push(`  quantized weights: ${kb(tt.quantizedFloatBytes)} float32 -> ${kb(tt.quantizedPackedBytes)} planes ` +
    `(${tt.avgBits.toFixed(2)} bits/weight avg, max ${tt.maxBits}); model.pbq ${kb(tt.pbqFileBytes)} (input shards ${kb(tt.inputWeightBytes)}); ` +
    `${r.seconds.toFixed(1)} s`);
  return lines.join('\n');
}
