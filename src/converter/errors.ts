/** Errors of `pbq convert` / `pbq.loadLayersModel` caused by the input (exit code 2 in the CLI). */
export class ConversionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConversionError';
  }
}

/** One line, no stack: the message of any thrown value. */
export function oneLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.replace(/\s+/g, ' ').trim().slice(0, 500);
}
