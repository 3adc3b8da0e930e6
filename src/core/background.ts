/**
 * Work a use case does after its answer (the mail of a flow whose answer must
 * not depend on the account). Each piece is tracked until it settles, so
 * shutdown can finish it and a test can await it instead of sleeping.
 */
export class BackgroundWork {
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly onError: (error: unknown) => void) {}

  /** Starts `work` now; a failure goes to `onError` (the caller's, else the default one). */
  run(work: () => Promise<void>, onError: (error: unknown) => void = this.onError): void {
    const task: Promise<void> = work()
      .catch(onError)
      .finally(() => this.pending.delete(task));
    this.pending.add(task);
  }

  /** Resolves once every piece started so far, and any it started in turn, has settled. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending);
  }
}
