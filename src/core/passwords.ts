import type { Options as Argon2Options } from '@node-rs/argon2';
import { ConcurrencyLimiter } from './concurrency-limiter.js';
import { HashingPool, HashJobError, JOBS_PER_THREAD, type HashJob } from './hashing-pool.js';
import { hugePagesUnavailable } from './huge-pages.js';
import { AuthError } from './errors.js';
import { DESCRIPTORS_RETRY_AFTER_S } from '../lib/storage-failure.js';
import { usableCores } from '../lib/usable-cores.js';
import { compileFormatPattern, type FormatPattern } from '../lib/re2.js';
import { assertStorableText } from './validation.js';

export type PasswordAlgorithm = 'argon2id' | 'bcrypt';

export interface PasswordPolicy {
  algorithm: PasswordAlgorithm;
  bcryptRounds: number;
  /**
   * Re-hash a password with the configured algorithm and parameters when a sign-in proves it and its
   * stored hash is of another kind. Off, every hash stays as it was stored: a database GoTrue made keeps
   * GoTrue's bcrypt hashes, so GoTrue could still serve it.
   */
  rehashOnSignIn: boolean;
  minLength: number;
  maxLength: number;
  passwordPattern: string;
  maxQueue: number;
  /** Hashes run at once; 0 = one per core the process may use (its cgroup's CPU quota counted). */
  concurrency: number;
}

/**
 * OWASP's first argon2id recommendation: 19 MiB, 2 iterations, 1 lane.
 * `algorithm: 2` is Algorithm.Argon2id, a const enum isolated modules cannot import.
 */
const ARGON2_OPTIONS = {
  algorithm: 2,
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
} as const satisfies Argon2Options;
const ARGON2_PARAMS = `m=${ARGON2_OPTIONS.memoryCost},t=${ARGON2_OPTIONS.timeCost},p=${ARGON2_OPTIONS.parallelism}`;
/**
 * Hashes of a password no account has, made once with the parameters above and bcrypt's default
 * cost: verifying against one costs what verifying a real hash of the same parameters costs.
 */
const ARGON2_DUMMY_HASH = `$argon2id$v=19$${ARGON2_PARAMS}$W0C5DmtiEH1Xx59o6MXnRw$LD014cAqpwtEQsETQ2xtN3BGaWUXE6c5s3foxqzJeN8`;
const BCRYPT_10_DUMMY_HASH = '$2b$10$TEmAR8dhjMajBg3HPZkFEuSRHUJZ/t1gbq5Fa0G0mQsFsxoh7eWPG';
/** bcrypt silently ignores bytes past 72; refusing longer passwords keeps every byte meaningful. */
const BCRYPT_MAX_BYTES = 72;
const BCRYPT_PREFIX = /^\$2[aby]\$(\d{2})\$/;

function isBcryptHash(hash: string): boolean {
  return BCRYPT_PREFIX.test(hash);
}

/**
 * The most work a stored hash may ask of one verification. Its parameters are in the hash, which
 * restauth did not always make (a GoTrue or postgrest-auth database served, db.json's users taken
 * over from json-server-auth, a row another program wrote), and a verification cannot be stopped
 * once its thread computes it: one user stored as `$2b$30$...` (2^20 times bcrypt 10, a day) or
 * argon2id with t=4294967295 held a hashing thread for as long at each sign-in attempt, so a few
 * attempts at that user's name stopped every sign-in; m=4194304 made each one take 4 GiB. Bounds
 * well above what anyone configures: bcrypt cost 14 (or the configured cost if higher), argon2
 * 256 MiB and 1 GiB of memory passes (RFC 9106's second recommendation, 64 MiB × 3, fits; its first,
 * 2 GiB, does not). A hash past them is refused as one restauth cannot read (the sign-in fails after
 * a dummy verification, as for an unknown user); a new password set stores a bounded hash again.
 */
const MAX_STORED_BCRYPT_COST = 14;
const MAX_STORED_ARGON2_MEMORY_KIB = 256 * 1024;
const MAX_STORED_ARGON2_PASSES_KIB = 1024 * 1024;
const MAX_STORED_ARGON2_LANES = 64;
/** What @node-rs/argon2 2.2 (the argon2 crate) takes for a parameter a hash leaves out. */
const ARGON2_DEFAULTS = { m: 19456, t: 2, p: 1 };

/** Whether verifying `hash` stays within the bounds above (false for argon2 parameters named twice). */
function withinWorkBound(hash: string, bcryptRounds: number): boolean {
  const bcrypt = BCRYPT_PREFIX.exec(hash);
  if (bcrypt) return Number(bcrypt[1]) <= Math.max(MAX_STORED_BCRYPT_COST, bcryptRounds);
  // $argon2id$v=19$m=19456,t=2,p=1$salt$hash. @node-rs/argon2 2.2 takes m, t and p in any order, and a
  // name given twice (its last value counts): a hash naming one twice is not read.
  const segment = hash.split('$').find((part) => /(?:^|,)[mtp]=/.test(part)) ?? '';
  const pairs = segment.split(',').map((pair) => pair.split('=') as [string, string]);
  const params = new Map(pairs);
  if (params.size !== pairs.length) return false;
  // A missing parameter is the library's default (19456, 2, 1), one not a number its refusal (NaN
  // compares false: the library answers it).
  const [m, t, p] = (['m', 't', 'p'] as const).map((name) =>
    params.has(name) ? Number(params.get(name)) : ARGON2_DEFAULTS[name],
  ) as [number, number, number];
  return !(
    m > MAX_STORED_ARGON2_MEMORY_KIB ||
    m * t > MAX_STORED_ARGON2_PASSES_KIB ||
    p > MAX_STORED_ARGON2_LANES
  );
}

/**
 * Hashes and verifies passwords off the event loop, on hashing threads of
 * their own (HashingPool: @node-rs/argon2, and native bcrypt, whose prebuilt
 * binaries took 8-10% less CPU per hash than @node-rs/bcrypt 1.10.8 at cost
 * 10 and 12), one thread per core (each with its next job lined up behind
 * the one it computes), shedding load with 503 when too many wait. Verifies bcrypt hashes whatever the configured algorithm, so
 * imported users can log in, and, when the policy asks for it, says when a
 * hash should be upgraded to the configured algorithm.
 */
export class PasswordHasher {
  private readonly limiter: ConcurrencyLimiter;
  private readonly pool: HashingPool;
  private verified = 0;
  private readonly pattern: FormatPattern;
  private dummyHash: Promise<string> | undefined;

  /** When a refused hash was last reported: at most once a minute, as attempts at its user's name may come fast. */
  private lastWorkBoundWarning: number | null = null;

  /** Whether huge pages were looked at: once, after the first argon2 job (see hashArgon2). */
  private hugePagesChecked = false;

  /**
   * `warn` tells the operator of a stored hash refused for the work it asks (the user cannot sign in),
   * and of argon2 hashing without transparent huge pages (each login then costs about twice the CPU).
   */
  constructor(
    private readonly policy: PasswordPolicy,
    private readonly warn: (message: string) => void = () => {},
  ) {
    // One per core the process may use: a container's CPU quota counted (usableCores), not the host's cores.
    const threads = policy.concurrency > 0 ? policy.concurrency : usableCores();
    this.pool = new HashingPool(threads);
    // Each thread holds the job it computes and the next (JOBS_PER_THREAD), which then needs no turn of
    // the event loop to start. The jobs lined up on threads come out of the waiting allowance: as many
    // jobs are admitted before load is shed as with `threads` running and `maxQueue` waiting.
    const lined = Math.min(threads * (JOBS_PER_THREAD - 1), policy.maxQueue);
    this.limiter = new ConcurrencyLimiter(threads + lined, policy.maxQueue - lined);
    this.pattern = compileFormatPattern(policy.passwordPattern);
  }

  get algorithm(): PasswordAlgorithm {
    return this.policy.algorithm;
  }

  /** Throws weak_password / validation_failed when a new password breaks the policy. */
  assertAcceptable(password: string): void {
    assertStorableText(password, 'Password');
    const length = [...password].length;
    if (length < this.policy.minLength) {
      throw new AuthError('weak_password', `Password should be at least ${this.policy.minLength} characters`);
    }
    if (length > this.policy.maxLength) {
      throw new AuthError(
        'validation_failed',
        `Password should be at most ${this.policy.maxLength} characters`,
      );
    }
    if (this.policy.algorithm === 'bcrypt' && Buffer.byteLength(password) > BCRYPT_MAX_BYTES) {
      throw new AuthError('validation_failed', `Password should be at most ${BCRYPT_MAX_BYTES} bytes`);
    }
    if (!this.pattern.test(password)) {
      throw new AuthError('weak_password', 'Password does not match the required format');
    }
  }

  hash(password: string): Promise<string> {
    return this.limiter.run(
      () =>
        this.runJob(
          this.policy.algorithm === 'bcrypt'
            ? { op: 'bcrypt-hash', password, rounds: this.policy.bcryptRounds }
            : { op: 'argon2-hash', password, options: ARGON2_OPTIONS },
        ) as Promise<string>,
    );
  }

  /**
   * False for a wrong password and for a hash restauth cannot read (never throws on bad hashes);
   * throws only when the hashing thread itself failed.
   */
  async verify(password: string, hash: string): Promise<boolean> {
    const known = isBcryptHash(hash) || hash.startsWith('$argon2');
    const readable = known && withinWorkBound(hash, this.policy.bcryptRounds);
    if (known && !readable) this.reportOverBound(hash);
    // A hash restauth cannot read (GoTrue's '' for a user without a password), or will not (past the
    // work bound), costs a verification all the same, of the dummy hash: answered at once, its speed
    // would tell the account exists.
    const against = readable ? hash : await this.prepare();
    const matched = await this.limiter.run(async () => {
      this.verified++;
      try {
        // $2y$ (PHP's name) is the same algorithm as $2b$, which the native library only knows by that name.
        const job = isBcryptHash(against)
          ? ({ op: 'bcrypt-verify', password, hash: against.replace(/^\$2y\$/, '$2b$') } as const)
          : ({ op: 'argon2-verify', password, hash: against } as const);
        return (await this.runJob(job)) === true;
      } catch (error) {
        if (error instanceof HashJobError) return false;
        throw error;
      }
    });
    return readable && matched;
  }

  /**
   * Runs a job on the pool; after the first argon2 job, says once whether its memory gets huge pages.
   * Not before: a process's THP can be turned off by the addon's own loading (MIMALLOC_ALLOW_THP=0).
   */
  private async runJob(job: HashJob): Promise<unknown> {
    try {
      return await this.pool.run(job);
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'ERR_WORKER_INIT_FAILED') throw error;
      // The system refused the thread what it needs (descriptors, memory, a thread: many connections
      // at once, `ulimit -n` low): a moment's exhaustion, as a full queue is, not a fault of the code.
      this.warn(`a hashing thread could not start (${(error as Error).message}): password checks wait`);
      throw new AuthError('over_capacity', undefined, {
        retryAfter: DESCRIPTORS_RETRY_AFTER_S,
        cause: error,
      });
    } finally {
      if (!this.hugePagesChecked && job.op.startsWith('argon2')) {
        this.hugePagesChecked = true;
        const reason = hugePagesUnavailable();
        if (reason !== null) {
          this.warn(
            `transparent huge pages are ${reason}: each argon2id verification costs about twice the CPU, ` +
              'which about halves the logins a second this machine can serve',
          );
        }
      }
    }
  }

  private reportOverBound(hash: string): void {
    const now = Date.now();
    // Either way: after the clock was set back, `now - last` is negative, and read as "less than a
    // minute" it would silence the warning for the whole jump.
    if (this.lastWorkBoundWarning !== null && Math.abs(now - this.lastWorkBoundWarning) < 60_000) return;
    this.lastWorkBoundWarning = now;
    // The parameters only (`$2b$30$`, `$argon2id$v=19$m=...,t=...,p=...$`): never the salt or digest.
    const parameters = hash.slice(0, hash.lastIndexOf('$', hash.lastIndexOf('$') - 1) + 1);
    this.warn(
      `a stored password hash (${isBcryptHash(hash) ? hash.slice(0, 7) : parameters}) asks more work than ` +
        'restauth verifies (bcrypt cost 14 or the configured cost, argon2 256 MiB and 1 GiB of passes): ' +
        "its user's sign-in is refused until a new password is set",
    );
  }

  /** How many verifications this hasher has computed, real and dummy alike. */
  get verifications(): number {
    return this.verified;
  }

  /** Ends the hashing threads (the services' close). */
  close(): Promise<void> {
    return this.pool.close();
  }

  /**
   * Spends the same work as a real verification, for a user that does not
   * exist, so response time does not tell who has an account.
   */
  async verifyDummy(password: string): Promise<void> {
    await this.verify(password, await this.prepare());
  }

  /** Makes the dummy hash ahead of time, so even the first unknown-user login takes one verification. */
  prepare(): Promise<string> {
    this.dummyHash ??= (() => {
      // The default parameters' dummy hashes are made already: nothing to hash at start-up.
      if (this.policy.algorithm === 'argon2id') return Promise.resolve(ARGON2_DUMMY_HASH);
      if (this.policy.bcryptRounds === 10) return Promise.resolve(BCRYPT_10_DUMMY_HASH);
      return this.hash('restauth-dummy-password-for-timing');
    })();
    return this.dummyHash;
  }

  /**
   * True when a sign-in should replace the stored hash: re-hashing is configured and the hash is not of
   * the configured algorithm and parameters.
   */
  needsRehash(hash: string): boolean {
    if (!this.policy.rehashOnSignIn) return false;
    const bcryptMatch = BCRYPT_PREFIX.exec(hash);
    if (this.policy.algorithm === 'bcrypt') {
      return !bcryptMatch || Number(bcryptMatch[1]) !== this.policy.bcryptRounds;
    }
    return !(hash.startsWith('$argon2id$') && hash.includes(`$${ARGON2_PARAMS}$`));
  }
}
