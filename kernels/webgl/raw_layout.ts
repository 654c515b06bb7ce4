/**
 * Where the raw passes (raw_program.ts) put things, and which of it is compiled into a shader:
 * rows placed in 2D textures, the fragment grid of a product, the batch index tables. Only what
 * a weight fixes (K, N, planes) is compiled in; what varies per call (batch, M, the grid) is a
 * uniform, so a new batch size or sequence step compiles no new program.
 */

/**
 * Placement of equal-length rows in a 2D texture: `perLine` rows side by side per texture line,
 * so a row never wraps and its texels are (x0 + j, y) with x0, y computed once per row.
 * `perLine` depends on the row length only (not on the row count), so the placement GLSL of an
 * activation texture is the same for every batch size: with fewer rows than perLine every row is
 * on line 0 and the texture is just `rows · rowLength` wide.
 */
export interface RowPlacement { rowLength: number; rows: number; perLine: number; width: number; height: number }

/** What a shader compiles in of a placement (the rest is the texture's size). */
export type PlacementShape = Pick<RowPlacement, 'rowLength' | 'perLine'>;

export function placeRows(rowLength: number, rows: number, maxSize: number): RowPlacement | undefined {
  if (rowLength > maxSize) return undefined;
  const perLine = Math.max(1, Math.floor(maxSize / rowLength));
  const height = Math.ceil(rows / perLine);
  if (height > maxSize) return undefined;
  return { rowLength, rows, perLine, width: Math.min(rows, perLine) * rowLength, height };
}

/** Index of the first component of texel j of `row` in an RGBA image (4 values per texel) under `p`. */
export function placedTexel(p: RowPlacement, row: number, j: number): number {
  return (Math.floor(row / p.perLine) * p.width + (row % p.perLine) * p.rowLength + j) * 4;
}

/** The static part of a placement, for a program's parameters. */
export function placementShape(p: RowPlacement): PlacementShape {
  return { rowLength: p.rowLength, perLine: p.perLine };
}

/** GLSL `ivec2 name(int row)`: the texel of column 0 of a row under a placement. */
export function placementGLSL(name: string, p: PlacementShape): string {
  return `ivec2 ${name}(int row) { return ivec2((row % ${p.perLine}) * ${p.rowLength}, row / ${p.perLine}); }`;
}

/** GLSL of a pass over placed rows: `int j` (texel in the row) and `int rr` (row) of the fragment. */
export function placedFragmentGLSL(p: PlacementShape): string {
  return `ivec2 px = ivec2(gl_FragCoord.xy);
      int j = px.x % ${p.rowLength};
      int rr = px.y * ${p.perLine} + px.x / ${p.rowLength};`;
}

/**
 * The 2D target of a pass with one fragment per (row, channel group): `count` = rows·groups
 * fragments laid out row-major, `width` per line. SwiftShader splits a draw across its threads
 * by screen area, so a 1-pixel-high target (a batch-1 product: one row of groups) runs on one
 * thread; a square-ish grid uses them all (measured: tools/bench/README.md). The shader reads
 * `width` and `count` from uniforms (productCoordsGLSL).
 */
export interface FragmentGrid { width: number; height: number; count: number }

export function fragmentGrid(count: number, maxSize: number): FragmentGrid | undefined {
  const width = Math.min(maxSize, Math.max(1, Math.ceil(Math.sqrt(count))));
  const height = Math.ceil(count / width);
  return height > maxSize ? undefined : { width, height, count };
}

/**
 * GLSL `ivec3 productCoords()` of a product pass on its grid: fragment i is channel group
 * g = i % groups of output row i / groups = ob·M + m; returns (ob, m, g), g = −1 past the end.
 * Uniforms: shapeM (M), fragments (grid.count), gridWidth (grid.width): productUniforms().
 * With `singleRow` (one output row: batch 1) ob = m = 0 are constants, so the compiler knows
 * that every fragment reads the same activation row (SwiftShader then fetches it once per SIMD
 * group instead of once per lane: the codes product ran 1.5x slower without this).
 */
export function productCoordsGLSL(groups: number, singleRow: boolean): string {
  const coords = singleRow ? 'return ivec3(0, 0, i);' : `int row = i / ${groups};
      int ob = row / shapeM;
      return ivec3(ob, row - ob * shapeM, i - row * ${groups});`;
  return `uniform int shapeM;
    uniform int fragments;
    uniform int gridWidth;
    ivec3 productCoords() {
      ivec2 px = ivec2(gl_FragCoord.xy);
      int i = px.y * gridWidth + px.x;
      if (i >= fragments) return ivec3(0, 0, -1);
      ${coords}
    }`;
}

/** The uniforms productCoordsGLSL declares. */
export const PRODUCT_COORD_UNIFORMS = [
  { name: 'shapeM', type: 'int' }, { name: 'fragments', type: 'int' }, { name: 'gridWidth', type: 'int' },
] as const;

/** The start of a product's main(): ob, m, g of the fragment (writes 0 and returns past the end; writeD: productDeclarations). */
export const PRODUCT_COORDS = `ivec3 pc = productCoords();
      if (pc.z < 0) { writeD(vec4(0.0)); return; }
      int ob = pc.x;
      int m = pc.y;
      int g = pc.z;`;

/**
 * How a raw pass finds the matrix of output batch `ob` in an operand of `count` matrices: always
 * matrix 0, the identity, or a lookup in a uniform table of `size` ivec4 (a power of two, so the
 * number of distinct programs stays small: at most log2(MAX_INDEX_TABLE) + 3 per operand).
 */
export type BatchIndexMode = { kind: 'zero' } | { kind: 'identity' } | { kind: 'table'; size: number };

/** Largest batch index table of a raw pass, in ivec4 (a larger output batch goes to the sampler product). */
export const MAX_INDEX_TABLE = 128;

export function batchIndexMode(index: Int32Array, count: number): BatchIndexMode {
  if (count === 1) return { kind: 'zero' };
  if (index.every((v, i) => v === i)) return { kind: 'identity' };
  let size = 1;
  while (size * 4 < index.length) size *= 2;
  return { kind: 'table', size };
}

/** Whether a raw pass can hold the mode's table. */
export function fitsIndexTable(mode: BatchIndexMode): boolean {
  return mode.kind !== 'table' || mode.size <= MAX_INDEX_TABLE;
}

/** GLSL expression of the matrix index of `ob` (the table is the uniform `name`). */
export function batchIndexExpr(mode: BatchIndexMode, name: string): string {
  return mode.kind === 'zero' ? '0' : mode.kind === 'identity' ? 'ob' : `${name}[ob / 4][ob % 4]`;
}

/** GLSL declaration of the table (empty unless the mode has one). */
export function batchIndexDecl(mode: BatchIndexMode, name: string): string {
  return mode.kind === 'table' ? `uniform ivec4 ${name}[${mode.size}];` : '';
}

/** The uniform a table mode needs (none otherwise). */
export function batchIndexUniforms(mode: BatchIndexMode, name: string): Array<{ name: string; type: 'ivec4' }> {
  return mode.kind === 'table' ? [{ name, type: 'ivec4' }] : [];
}

/** The table's values (size·4 ints; zero past the batch). */
export function batchIndexTable(index: Int32Array, mode: BatchIndexMode): Int32Array | undefined {
  if (mode.kind !== 'table') return undefined;
  const table = new Int32Array(mode.size * 4);
  table.set(index);
  return table;
}

/** Channel groups of a raw product: a fragment computes channels 4g..4g+3, one per lane of a weight texel. */
export function channelGroups(n: number): number {
  return Math.ceil(n / 4);
}

/** What every raw product compiles in (all fixed by the weight and the bit settings). */
export interface RawProductParams {
  activationBits: number;
  /** Planes used (t ≤ storedBits) and planes stored per channel. */
  weightBits: number;
  storedBits: number;
  /** True when channels have their own plane counts (multipoint weights). */
  perChannelPlanes: boolean;
  /** Channel groups of 4 per weight matrix. */
  groups: number;
  /** One output row (outBatch·M = 1): productCoordsGLSL. */
  singleRow: boolean;
  /** Placements of the activation rows and of the weight rows. */
  aPlace: PlacementShape;
  wPlace: PlacementShape;
  /** How output batch ob finds its A and B matrices. */
  aIndex: BatchIndexMode;
  bIndex: BatchIndexMode;
}

/** The uniforms of every raw product: the fragment grid and M (productCoordsGLSL) and the batch tables. */
export function productPassUniforms(p: RawProductParams) {
  return [...PRODUCT_COORD_UNIFORMS, ...batchIndexUniforms(p.aIndex, 'aIdx'), ...batchIndexUniforms(p.bIndex, 'bIdx')];
}

/**
 * GLSL of a product's output: d of the fragment's 4 channels as one RGBA32F texel (`writeD(d)`)
 * of a texture grid.width × grid.height that the epilogue reads with texelFetch (product_operands.ts
 * productTarget; 4 render targets of one float each measured slower on SwiftShader).
 */
export const PRODUCT_OUTPUTS = `layout(location = 0) out vec4 outColor;
    void writeD(vec4 d) { outColor = d; }`;

/** Declarations of a raw product: batch tables, the outputs, and productCoords(). */
export function productDeclarations(p: RawProductParams): string {
  return `${batchIndexDecl(p.aIndex, 'aIdx')}
    ${batchIndexDecl(p.bIndex, 'bIdx')}
    ${PRODUCT_OUTPUTS}
    ${productCoordsGLSL(p.groups, p.singleRow)}`;
}

/** GLSL: `int ai`, `int bi` of output batch ob (after PRODUCT_COORDS). */
export function productMatrices(p: RawProductParams): string {
  return `int ai = ${batchIndexExpr(p.aIndex, 'aIdx')};
      int bi = ${batchIndexExpr(p.bIndex, 'bIdx')};`;
}
