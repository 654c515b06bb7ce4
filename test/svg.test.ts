/** The hand-written SVG charts (tools/demo/svg.ts): every point drawn, in the plot area or marked at its edge. */
import { logTicks, Panel, svgChart } from '../tools/demo/svg';

/** [cx, cy] of the dots, and the clipped marks' labels, of a chart. */
function marks(svg: string): { dots: Array<[number, number]>; clipped: string[] } {
  const dots = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])] as [number, number]);
  const clipped = [...svg.matchAll(/<text class="clipped"[^>]*>([^<]*)</g)].map((m) => m[1]);
  return { dots, clipped };
}

const panel = (over: Partial<Panel>): Panel => ({
  title: 't', xLabel: 'x', yLabel: 'y',
  series: [{ name: 's', points: [[1, 54.8], [2, 9.9], [4, 5.9], [8, 5.74]] }],
  ...over,
});

describe('svg charts', () => {
  it('a log axis shows every point inside the plot area, with 1-2-5 ticks', () => {
    const svg = svgChart('', [panel({ logY: true })], 1);
    const { dots, clipped } = marks(svg);
    expect(clipped).toEqual([]);
    expect(dots).toHaveLength(4);
    // Plot area of the first panel: x 58..408, y 64..290 (34 title + 30 top margin; 334 - 44 bottom).
    for (const [x, y] of dots) {
      expect(x).toBeGreaterThanOrEqual(58);
      expect(x).toBeLessThanOrEqual(408);
      expect(y).toBeGreaterThanOrEqual(64);
      expect(y).toBeLessThanOrEqual(290);
    }
    // Higher perplexity is drawn higher up, in order.
    expect(dots.map((d) => d[1])).toEqual([...dots.map((d) => d[1])].sort((a, b) => a - b));
    expect(logTicks(5.3, 59.2)).toEqual([10, 20, 50]);
    expect(logTicks(3.1, 16)).toEqual([5, 7, 10, 15]);
    expect(logTicks(5.3, 9.5)).toEqual([6, 7, 8, 9]);
    expect(logTicks(0.8, 120)).toEqual([1, 2, 5, 10, 20, 50, 100]);
  });

  it('a value outside a fixed range is drawn at the edge as a marked, labelled point', () => {
    const svg = svgChart('', [panel({ yRange: [5, 17] })], 1);
    const { dots, clipped } = marks(svg);
    expect(dots).toHaveLength(3);
    expect(clipped).toEqual(['54.8']);
    expect(svg).toMatch(/<path class="clipped" d="M[\d.]+,64 L[\d.]+,64 L[\d.]+,58 Z"/); // at the top edge, pointing up
  });
});
