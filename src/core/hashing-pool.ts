import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** What a hashing thread computes: the libraries' own synchronous calls, run off the event loop. */
export type HashJob =
  | { op: 'argon2-hash'; password: string; options: Record<string, number> }
  | { op: 'argon2-verify'; password: string; hash: string }
  | { op: 'bcrypt-hash'; password: string; rounds: number }
  | { op: 'bcrypt-verify'; password: string; hash: string };

/**
 * How much lower than the event loop a hashing thread runs (nice increment, Linux): while both
 * want a core, the loop's short turns (a cheap request, a hash's answer, the next hash's start)
 * go first, and the hashes take what is left. Raising one's own nice needs no privilege.
 * Measured on a loaded 2-core VM (schedstat, interleaved): the loop waited about a third less for
 * a core each time it woke than with the hashes at nice 0, yet still about twice as long as with
 * no hashing (nice ranks threads only within restauth's autogroup, and a running hash keeps its
 * slice until the scheduler preempts it); nice 19 measured no better than 10.
 * Two stronger orders measured worse (Linux 6.18, EEVDF; argon2id on the file store beside this
 * code, 3 interleaved rounds, 2-core VM under other load): the hashing threads at SCHED_IDLE (no
 * privilege needed; a waking thread preempts one at once; set with chrt, Node has no call for it)
 * logged in 18.4 a second against 30.9, cheap p99 (autocannon's) 122 ms against 46 (load average
 * 14-18), likely because the kernel counts a core running only SCHED_IDLE threads as idle for every
 * process's wake-ups, so the hashes yield to the whole machine, not to the loop alone. The event
 * loop with a 0.1 ms EEVDF slice (sched_setattr) logged in 11.3 a second against 21.4, its wait per
 * wake 3.1 ms against 1.7 (load 25-31): a short slice wins the core at a wake, and likely loses it
 * again within each turn.
 */
export const HASHING_NICE = 10;

/** Idle this long, a hashing thread ends; the next hash starts one again (about 30 ms). */
const IDLE_MS = 60_000;

const require = createRequire(import.meta.url);

/** The library refused the job (a hash it cannot read): not a failure of the pool. */
export class HashJobError extends Error {}

/**
 * One hashing thread: loads the two libraries by absolute path (the process's working directory
 * is the user's data folder, not restauth's), lowers its own priority, then answers each message.
 * Plain CommonJS evaluated in the worker, so it runs the same under tsx and from dist/.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
try {
  // /proc/thread-self names this thread: setpriority on a thread id affects that thread alone (Linux).
  const tid = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop());
  require('node:os').setPriority(tid, workerData.nice);
} catch {
  // not Linux, or not allowed: the thread keeps the loop's priority
}
const argon2 = require(workerData.argon2);
const bcrypt = require(workerData.bcrypt);
parentPort.on('message', (job) => {
  try {
    let value;
    if (job.op === 'argon2-hash') value = argon2.hashSync(job.password, job.options);
    else if (job.op === 'argon2-verify') value = argon2.verifySync(job.hash, job.password);
    else if (job.op === 'bcrypt-hash') value = bcrypt.hashSync(job.password, job.rounds);
    else value = bcrypt.compareSync(job.password, job.hash);
    parentPort.postMessage({ ok: true, value });
  } catch (error) {
    parentPort.postMessage({ ok: false, message: String(error && error.message ? error.message : error) });
  }
});`;

/** A job posted to a thread, waiting for its answer; a thread answers its jobs in the order they were posted. */
interface PostedJob {
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

interface HashingThread {
  worker: Worker;
  /** Posted and not answered yet, oldest first: the one running, then the one lined up behind it. */
  posted: PostedJob[];
  idleTimer: NodeJS.Timeout | null;
}

/**
 * Jobs a thread holds at once: the one it computes and the next, already in its message queue, so
 * it starts that one the moment it answers, without waiting for the event loop to read the answer
 * and post more work (a loop busy with other requests would leave the thread idle meanwhile).
 */
export const JOBS_PER_THREAD = 2;

/**
 * Password hashing on threads of its own instead of libuv's thread pool: that pool (4 threads
 * unless UV_THREADPOOL_SIZE says otherwise) also runs every file-system call and WebCrypto job, so
 * there a verify could wait behind another request's fdatasync, and on a machine of more than four
 * cores the hashes, capped at four, would hold the file store's commits behind them. At most
 * `maxThreads` threads (started as jobs come, each let go after a minute idle) and at most
 * JOBS_PER_THREAD jobs posted to each: the caller bounds how many jobs it runs at once
 * (ConcurrencyLimiter) to maxThreads × JOBS_PER_THREAD.
 */
export class HashingPool {
  private readonly threads = new Set<HashingThread>();
  private readonly paths = { argon2: require.resolve('@node-rs/argon2'), bcrypt: require.resolve('bcrypt') };
  private closed = false;

  constructor(private readonly maxThreads: number) {
    if (maxThreads < 1) throw new RangeError('a hashing pool needs at least one thread');
  }

  run(job: HashJob): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error('the hashing pool is closed'));
    const thread = this.pick();
    if (thread.idleTimer) clearTimeout(thread.idleTimer);
    thread.idleTimer = null;
    // Referenced while it works: a command-line use (restauth users add) waits for its hash.
    thread.worker.ref();
    return new Promise((resolve, reject) => {
      thread.posted.push({ resolve, reject });
      thread.worker.postMessage(job);
    });
  }

  /** Threads running, idle or at work. */
  get size(): number {
    return this.threads.size;
  }

  /** Ends every idle thread (a thread at work ends once it has answered its jobs). */
  async close(): Promise<void> {
    this.closed = true;
    const idle = [...this.threads].filter((thread) => thread.posted.length === 0);
    await Promise.all(idle.map((thread) => this.end(thread)));
  }

  /**
   * An idle thread, else a new one while fewer than maxThreads run, else the thread with the
   * fewest jobs posted (the caller's bound leaves one with room).
   */
  private pick(): HashingThread {
    let least: HashingThread | null = null;
    for (const thread of this.threads) {
      if (thread.posted.length === 0) return thread;
      if (!least || thread.posted.length < least.posted.length) least = thread;
    }
    if (!least || this.threads.size < this.maxThreads) return this.start();
    return least;
  }

  private start(): HashingThread {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      // Not the parent's flags (tsx's loader): the thread runs plain CommonJS.
      execArgv: [],
      workerData: { ...this.paths, nice: HASHING_NICE },
    });
    const thread: HashingThread = { worker, posted: [], idleTimer: null };
    this.threads.add(thread);
    // One listener for the thread's life: its answers come in the order its jobs were posted.
    worker.on('message', (answer: { ok: boolean; value?: unknown; message?: string }) => {
      const job = thread.posted.shift();
      if (thread.posted.length === 0) this.release(thread);
      if (answer.ok) job?.resolve(answer.value);
      else job?.reject(new HashJobError(answer.message));
    });
    // A thread that fails or ends is never handed another job, and the jobs it held fail.
    const fail = (error: unknown) => {
      this.forget(thread);
      void worker.terminate();
      const cause = error instanceof Error ? error : new Error(`a hashing thread exited (${String(error)})`);
      for (const job of thread.posted.splice(0)) job.reject(cause);
    };
    worker.on('error', fail);
    worker.on('exit', fail);
    return thread;
  }

  private release(thread: HashingThread): void {
    if (this.closed) {
      void this.end(thread);
      return;
    }
    thread.worker.unref();
    thread.idleTimer = setTimeout(() => void this.end(thread), IDLE_MS).unref();
  }

  private end(thread: HashingThread): Promise<number> {
    this.forget(thread);
    return thread.worker.terminate();
  }

  private forget(thread: HashingThread): void {
    if (thread.idleTimer) clearTimeout(thread.idleTimer);
    thread.idleTimer = null;
    this.threads.delete(thread);
  }
}
