import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createServices, type ServiceOptions, type Services } from '../../src/compose.js';
import type { ConfigLayer } from '../../src/config/layer.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { buildApp } from '../../src/http/app.js';
import type { LazyValidators } from '../../src/http/lazy-validators.js';
import type { Sleep } from '../../src/data/delay.js';
import { serviceLogger } from '../../src/http/logging.js';

/*
 * No node:test here (nor in what it imports): bench/ builds its in-process apps with this, and a module
 * registering a node:test hook makes its process print a TAP summary. Tests use createTestApp (app.ts),
 * which adds the log capture and its secret scan.
 */

export interface TestApp {
  app: FastifyInstance;
  services: Services;
  config: Config;
  /** The temp folder holding the config and data files. */
  dir: string;
  /** Moves the auth clock forward. */
  advance(ms: number): void;
  close(): Promise<void>;
}

const FILE_NAMES = {
  restauth: 'restauth.json',
  'json-data-server': 'config.json',
  'postgrest-auth': 'postgrest-auth.json',
};

/** What an app on files is started with (createTestApp's options). */
export interface AppOnFilesOptions {
  format: keyof typeof FILE_NAMES;
  config?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  /** Settings on top of the file and the environment (as the command line's are). */
  overrides?: ConfigLayer;
  /** Other files to write first, e.g. a db.json fixture. */
  files?: Record<string, string>;
  /** Runs in the folder before the app starts (e.g. to create ./public). */
  prepare?: (dir: string) => Promise<void>;
  /** Receives the services' log lines (default: none are kept). */
  logger?: { info(message: string): void; warn(message: string): void };
  /** Starts on the config file already in `dir` as it is (a restart after a CLI edited it); `config` is ignored. */
  keepConfigFile?: boolean;
  /**
   * The auth clock stands at this time (ms since the epoch) and only advance moves it: a test that
   * counts hits in a rate-limit window must not see the window end because a slow machine took its
   * length between two steps. Apps sharing a store (and its windows) take the same time.
   */
  clockStoppedAt?: number;
  /** A folder to start in (a restart on the files an earlier app left); the caller removes it. */
  dir?: string;
  /**
   * The server's logger, as `restauth serve` has one: requests and the services' lines go to it.
   * createTestApp's default: the file's log capture, at trace, scanned for secrets at the end (log-capture.ts).
   */
  log?: Logger;
  /** How the data API waits out `delay` and `_delay` (record the milliseconds instead of waiting). */
  sleep?: Sleep;
  /** Field indexes the data API keeps per collection (0: every filtered list scans, for comparisons). */
  maxIndexedFields?: number;
  /** Compiles the routes' schemas (default: the app's own, on first use). */
  validators?: LazyValidators;
  /** What requests to OAuth providers go through (a provider's public host routed to a test IdP). */
  providerFetch?: ServiceOptions['providerFetch'];
}

/**
 * A real restauth app on real files in a temp folder, configured the way a
 * user would: by writing the config file in one of the three formats.
 * `log` is the server's logger; `beforeReady` may add hooks to the app.
 */
export async function createAppOnFiles(
  options: AppOnFilesOptions & { log: Logger; beforeReady?: (app: FastifyInstance) => void },
): Promise<TestApp> {
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'restauth-test-')));
  for (const [name, content] of Object.entries(options.files ?? {}))
    await writeFile(join(dir, name), content);
  await options.prepare?.(dir);
  if (!options.keepConfigFile) {
    // Owner-only as `restauth init` writes one: a config file others may read is warned of at the start.
    await writeFile(join(dir, FILE_NAMES[options.format]), JSON.stringify(options.config ?? {}), {
      mode: 0o600,
    });
  }
  // Rate limits are off unless a test turns them on: most tests sign in far more often than a person.
  const env = {
    RESTAUTH_JWT_SECRET: 'test-secret-0123456789abcdef-0123456789',
    RESTAUTH_RATE_LIMITS: 'off',
    ...options.env,
  };
  const config = await loadConfig({ cwd: dir, env, overrides: options.overrides });
  let offset = 0;
  const services = await createServices(config, options.logger ?? serviceLogger(options.log), {
    clock: () => new Date((options.clockStoppedAt ?? Date.now()) + offset),
    ...(options.providerFetch ? { providerFetch: options.providerFetch } : {}),
  });
  const app = await buildApp(services, {
    logger: options.log,
    ...(options.sleep ? { sleep: options.sleep } : {}),
    ...(options.maxIndexedFields === undefined ? {} : { maxIndexedFields: options.maxIndexedFields }),
    ...(options.validators ? { validators: options.validators } : {}),
  });
  options.beforeReady?.(app);
  await app.ready();
  return {
    app,
    services,
    config,
    dir,
    advance: (ms) => {
      offset += ms;
    },
    close: async () => {
      await app.close();
      await services.close();
      if (options.dir === undefined) await rm(dir, { recursive: true, force: true });
    },
  };
}
