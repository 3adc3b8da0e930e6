/**
 * Makes an answer that skips some work take as long as one that does it.
 * It keeps the durations the work last took and, where the work is skipped,
 * waits for one of them drawn at random, so both answers' times follow one
 * distribution, whatever the store, the disk or the machine's load make it.
 * (A sign-up for a taken address answers like a new one when confirmation is
 * on: without this it came back without the account's write, 20-40 ms sooner.)
 */
export class DurationSampler {
  private readonly samples: number[] = [];
  private next = 0;

  constructor(
    private readonly options: {
      /** How many recent durations are kept. */
      size: number;
      /** Milliseconds waited before any duration was recorded (a process just started). */
      initial: number;
      random?: () => number;
      wait?: (ms: number) => Promise<void>;
    },
  ) {}

  /** Records how long the work took, in milliseconds. */
  record(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    // eslint-disable-next-line no-restricted-syntax -- an array index this class computes, never a client string
    this.samples[this.next] = ms;
    this.next = (this.next + 1) % this.options.size;
  }

  /** Waits as long as the work took once recently (a random one of the kept durations). */
  async waitAsRecorded(): Promise<void> {
    const random = this.options.random ?? Math.random;
    const ms =
      this.samples.length === 0
        ? this.options.initial
        : this.samples[Math.floor(random() * this.samples.length)]!;
    await (this.options.wait ?? sleep)(ms);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.round(ms)));
}
