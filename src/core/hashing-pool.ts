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

interface HashingThread {
  worker: Worker;
  idleTimer: NodeJS.Timeout | null;
}

/**
 * Password hashing on threads of its own, one job per thread at a time, instead of libuv's thread
 * pool: that pool (4 threads unless UV_THREADPOOL_SIZE says otherwise) also runs every file-system
 * call and WebCrypto job, so there a verify could wait behind another request's fdatasync, and on
 * a machine of more than four cores the hashes, capped at four, would hold the file store's
 * commits behind them. The caller bounds how many jobs run at once (ConcurrencyLimiter): the pool
 * starts a thread per job running, up to that bound, and lets one idle for a minute go.
 */
export class HashingPool {
  private readonly idle: HashingThread[] = [];
  private readonly paths = { argon2: require.resolve('@node-rs/argon2'), bcrypt: require.resolve('bcrypt') };
  private closed = false;

  run(job: HashJob): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error('the hashing pool is closed'));
    const thread = this.idle.pop() ?? this.start();
    if (thread.idleTimer) clearTimeout(thread.idleTimer);
    thread.idleTimer = null;
    // Referenced while it works: a command-line use (restauth users add) waits for its hash.
    thread.worker.ref();
    return new Promise((resolve, reject) => {
      const settle = (answer: { ok: boolean; value?: unknown; message?: string }) => {
        thread.worker.off('error', fail);
        thread.worker.off('exit', fail);
        this.release(thread);
        if (answer.ok) resolve(answer.value);
        else reject(new HashJobError(answer.message));
      };
      const fail = (error: unknown) => {
        thread.worker.off('message', settle);
        thread.worker.off('error', fail);
        thread.worker.off('exit', fail);
        void thread.worker.terminate();
        reject(error instanceof Error ? error : new Error(`a hashing thread exited (${String(error)})`));
      };
      thread.worker.once('message', settle);
      thread.worker.once('error', fail);
      thread.worker.once('exit', fail);
      thread.worker.postMessage(job);
    });
  }

  /** Ends every idle thread (a thread at work ends with its job's process). */
  async close(): Promise<void> {
    this.closed = true;
    const threads = this.idle.splice(0);
    await Promise.all(
      threads.map((thread) => {
        if (thread.idleTimer) clearTimeout(thread.idleTimer);
        return thread.worker.terminate();
      }),
    );
  }

  private start(): HashingThread {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      // Not the parent's flags (tsx's loader): the thread runs plain CommonJS.
      execArgv: [],
      workerData: { ...this.paths, nice: HASHING_NICE },
    });
    const thread: HashingThread = { worker, idleTimer: null };
    // A thread that ends or fails while idle is never handed a job (the job of a busy one fails in run).
    const forget = () => {
      if (thread.idleTimer) clearTimeout(thread.idleTimer);
      const index = this.idle.indexOf(thread);
      if (index !== -1) this.idle.splice(index, 1);
    };
    worker.on('exit', forget);
    worker.on('error', forget);
    return thread;
  }

  private release(thread: HashingThread): void {
    if (this.closed) {
      void thread.worker.terminate();
      return;
    }
    thread.worker.unref();
    // Its 'exit' takes it off the idle list.
    thread.idleTimer = setTimeout(() => void thread.worker.terminate(), IDLE_MS).unref();
    this.idle.push(thread);
  }
}
