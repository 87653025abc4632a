// Work done after the answer has gone: whatever depends on whether an account exists, in the
// flows that must answer the same either way. A failure is logged, never seen by the client.
// The app waits for what is still running when it closes.
export class Background {
  private readonly running = new Set<Promise<void>>()

  constructor(private readonly log: { error(obj: object, msg: string): void }) {}

  run(what: string, task: () => Promise<void>): void {
    // setImmediate: after this turn of the event loop, in which the answer is written.
    const p: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
      .then(task)
      .catch((err: unknown) => this.log.error({ err, task: what }, 'background work of a mail flow failed'))
      .finally(() => this.running.delete(p))
    this.running.add(p)
  }

  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running])
  }
}
