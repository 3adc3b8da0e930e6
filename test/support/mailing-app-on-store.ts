import { after, before } from 'node:test';
import type { TestApp } from './app.js';
import { listen, startMailingApp, stopMailingApp } from './gotrue.js';
import { suiteStore } from './postgres.js';
import type { SmtpSink } from './smtp-sink.js';

/** A suite's app (startMailingApp's), its mail sink and its store. */
export interface MailingAppOnStore {
  t: TestApp;
  sink: SmtpSink;
  store: Awaited<ReturnType<typeof suiteStore>>;
}

/** The same, listening for a real HTTP client (auth-js). */
export interface ListeningMailingApp extends MailingAppOnStore {
  /** The listening app's `/auth/v1` URL, for gotrueClient. */
  url: string;
}

/**
 * A suite's set-up on both stores: a store of `kind`, startMailingApp on it with `config` (fast hashing,
 * mail to a sink of its own); filled in before the suite's tests, closed and its store dropped after
 * them. Call it in a describe.
 */
export function mailingAppOnStore(
  kind: 'file' | 'postgres',
  config: Record<string, unknown>,
): MailingAppOnStore {
  const app = {} as MailingAppOnStore;
  before(async () => {
    app.store = await suiteStore(kind);
    Object.assign(app, await startMailingApp({ ...app.store.config, ...config }));
  });
  after(async () => {
    await stopMailingApp(app.t, app.sink);
    await app.store.drop();
  });
  return app;
}

/** mailingAppOnStore, listening on a free port (or the configured one) before the suite's tests. */
export function listeningMailingApp(
  kind: 'file' | 'postgres',
  config: Record<string, unknown>,
): ListeningMailingApp {
  const app = mailingAppOnStore(kind, config) as ListeningMailingApp;
  before(async () => {
    app.url = await listen(app.t);
  });
  return app;
}
