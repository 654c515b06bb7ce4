/**
 * Linear memory the engine's module runs on. The module imports its memory and owns no data, so
 * it can run on its own `OwnHeap` or on another module's memory and allocator (e.g.
 * tfjs-backend-wasm's `_malloc`/`_free`), reading and writing that module's tensors in place.
 */

export interface Heap {
  readonly memory: WebAssembly.Memory;
  /** Address of `bytes` bytes, never 0, aligned at least to 8 (the kernels need no more). */
  malloc(bytes: number): number;
  free(ptr: number): void;
}

const ALIGN = 16;
const PAGE = 65536;

interface Span {
  ptr: number;
  size: number;
}

/**
 * A first-fit allocator over a WebAssembly.Memory of its own: a sorted free list with
 * coalescing, memory grown on demand (never shrunk). Small and only as fast as the engine
 * needs: it allocates packed weights once and reuses its per-call buffers.
 */
export class OwnHeap implements Heap {
  readonly memory = new WebAssembly.Memory({ initial: 1 });
  private top = ALIGN; // address 0 stays unused, so 0 means "none"
  private spans: Span[] = []; // free spans, sorted by address, never adjacent
  private sizes = new Map<number, number>();

  malloc(bytes: number): number {
    if (!(bytes >= 0) || !Number.isFinite(bytes)) throw new Error(`pbq-wasm: cannot allocate ${bytes} bytes`);
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    const i = this.spans.findIndex((s) => s.size >= size);
    let ptr: number;
    if (i >= 0) {
      const span = this.spans[i];
      ptr = span.ptr;
      if (span.size === size) this.spans.splice(i, 1);
      else {
        span.ptr += size;
        span.size -= size;
      }
    } else {
      ptr = this.top;
      this.reserve(ptr + size);
      this.top = ptr + size;
    }
    this.sizes.set(ptr, size);
    return ptr;
  }

  free(ptr: number): void {
    const size = this.sizes.get(ptr);
    if (size === undefined) throw new Error(`pbq-wasm: free of ${ptr}, which is not allocated`);
    this.sizes.delete(ptr);
    let i = 0;
    while (i < this.spans.length && this.spans[i].ptr < ptr) i++;
    const span: Span = { ptr, size };
    this.spans.splice(i, 0, span);
    const next = this.spans[i + 1];
    if (next && span.ptr + span.size === next.ptr) {
      span.size += next.size;
      this.spans.splice(i + 1, 1);
    }
    const prev = this.spans[i - 1];
    if (prev && prev.ptr + prev.size === span.ptr) {
      prev.size += span.size;
      this.spans.splice(i, 1);
    }
    const last = this.spans[this.spans.length - 1];
    if (last && last.ptr + last.size === this.top) {
      this.top = last.ptr;
      this.spans.pop();
    }
  }

  /** Bytes allocated now (for leak tests). */
  get allocatedBytes(): number {
    let total = 0;
    for (const s of this.sizes.values()) total += s;
    return total;
  }

  private reserve(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end > have) this.memory.grow(Math.ceil((end - have) / PAGE));
  }
}
