// Secrets never reach a run's log: output is cut into lines and every secret value in a line is
// replaced by "***" before the line is kept, shown or streamed. Working line by line means a secret
// split across two writes of a process is still caught; a line longer than the cap is cut (and
// each part masked), so one endless line cannot hold memory.

export const MASK = '***';
const MAX_LINE = 64 * 1024;

export class LineMasker {
  private pending = '';
  private readonly secrets: string[];

  /** Values shorter than 3 characters are not masked: masking "a" would garble every line. */
  constructor(
    secrets: readonly string[],
    private readonly emit: (line: string) => void,
    private readonly maxLine = MAX_LINE,
  ) {
    this.secrets = [...new Set(secrets.filter((s) => s.length >= 3))].sort((a, b) => b.length - a.length);
  }

  mask(text: string): string {
    let out = text;
    for (const s of this.secrets) if (out.includes(s)) out = out.split(s).join(MASK);
    return out;
  }

  write(chunk: string): void {
    this.pending += chunk;
    let nl: number;
    while ((nl = this.pending.indexOf('\n')) >= 0) {
      this.emit(this.mask(this.pending.slice(0, nl).replace(/\r$/, '')));
      this.pending = this.pending.slice(nl + 1);
    }
    // An overlong line is emitted in pieces, masked first; the last (longest secret - 1)
    // characters stay behind, so a secret that continues in the next write is still caught.
    const keep = Math.max(0, ...this.secrets.map((s) => s.length - 1));
    while (this.pending.length > this.maxLine) {
      const masked = this.mask(this.pending);
      const cut = Math.min(this.maxLine, Math.max(1, masked.length - keep));
      this.emit(masked.slice(0, cut));
      this.pending = masked.slice(cut);
    }
  }

  /** Emits what is left (a last line without a newline). */
  end(): void {
    if (this.pending) this.emit(this.mask(this.pending));
    this.pending = '';
  }
}
