/** Progress on stderr: a bar redrawn in place on a TTY, one line per step otherwise. */
export class Progress {
  total = 0;
  private doneSteps = 0;
  private readonly t0 = Date.now();
  private readonly tty = Boolean(process.stderr.isTTY);

  constructor(private readonly label: string) {}

  step(what: string): void {
    this.doneSteps++;
    const s = ((Date.now() - this.t0) / 1000).toFixed(0);
    if (this.tty) {
      const width = 24;
      const frac = this.total ? Math.min(1, this.doneSteps / this.total) : 0;
      const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
      const cols = process.stderr.columns || 100;
      const line = `[${bar}] ${this.doneSteps}/${this.total} ${s}s ${this.label}: ${what}`;
      process.stderr.write('\r\x1b[K' + line.slice(0, cols - 1));
    } else {
      process.stderr.write(`[${this.label} ${this.doneSteps}/${this.total}, ${s}s] ${what}\n`);
    }
  }

  /** A message that does not advance the count. */
  note(what: string): void {
    if (this.tty) process.stderr.write('\r\x1b[K');
    process.stderr.write(`${what}\n`);
  }

  done(): void {
    if (this.tty) process.stderr.write('\r\x1b[K');
    process.stderr.write(`${this.label}: ${this.doneSteps} steps in ${((Date.now() - this.t0) / 1000).toFixed(0)} s\n`);
  }
}
