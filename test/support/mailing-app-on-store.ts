import { after, before } from 'node:test';
import { createTestApp, type TestApp } from './app.js';
import { listen, startMailingApp, stopMailingApp } from './gotrue.js';
import { suiteStore } from './postgres.js';
import type { SmtpSink } from './smtp-sink.js';

/** A suite's app (restauth.json's format) and its store. */
export interface AppOnStore {
  t: TestApp;
  store: Awaited<ReturnType<typeof suiteStore>>;
}

/** The same, listening for a real HTTP client (auth-js). */
export interface ListeningAppOnStore extends AppOnStore {
  /** The listening app's `/auth/v1` URL, for gotrueClient. */
  url: string;
}

/** A suite's app started by startMailingApp (fast hashing, mail to a sink of its own), and its store. */
export interface MailingAppOnStore extends AppOnStore {
  sink: SmtpSink;
}

export type ListeningMailingApp = MailingAppOnStore & ListeningAppOnStore;

/**
 * A suite's set-up on both stores: a store of `kind`, `start` on its config; filled in before the suite's
 * tests, `stop`ped and its store dropped after them. Call it in a describe.
 */
function onSuiteStore<App extends AppOnStore>(
  kind: 'file' | 'postgres',
  start: (storeConfig: Record<string, unknown>) => Promise<Omit<App, 'store'>>,
  stop: (app: App) => Promise<void>,
): App {
  const app = {} as App;
  before(async () => {
    app.store = await suiteStore(kind);
    Object.assign(app, await start(app.store.config));
  });
  after(async () => {
    await stop(app);
    await app.store.drop();
  });
  return app;
}

/** Listens before the suite's tests on a free port (or the configured one). */
function listening<App extends AppOnStore>(app: App): App & { url: string } {
  const listened = app as App & { url: string };
  before(async () => {
    listened.url = await listen(app.t);
  });
  return listened;
}

/** createTestApp with restauth.json's `config` on a suite store of `kind` (see onSuiteStore). */
export function appOnStore(kind: 'file' | 'postgres', config: Record<string, unknown>): AppOnStore {
  return onSuiteStore<AppOnStore>(
    kind,
    async (storeConfig) => ({
      t: await createTestApp({ format: 'restauth', config: { ...storeConfig, ...config } }),
    }),
    (app) => app.t.close(),
  );
}

/** appOnStore, listening. */
export function listeningAppOnStore(
  kind: 'file' | 'postgres',
  config: Record<string, unknown>,
): ListeningAppOnStore {
  return listening(appOnStore(kind, config));
}

/** startMailingApp with `config` on a suite store of `kind` (see onSuiteStore). */
export function mailingAppOnStore(
  kind: 'file' | 'postgres',
  config: Record<string, unknown>,
): MailingAppOnStore {
  return onSuiteStore<MailingAppOnStore>(
    kind,
    (storeConfig) => startMailingApp({ ...storeConfig, ...config }),
    (app) => stopMailingApp(app.t, app.sink),
  );
}

/** mailingAppOnStore, listening. */
export function listeningMailingApp(
  kind: 'file' | 'postgres',
  config: Record<string, unknown>,
): ListeningMailingApp {
  return listening(mailingAppOnStore(kind, config));
}
