import { GoTrueAdminApi, GoTrueClient, type AuthChangeEvent } from '@supabase/auth-js';
import type { AddressInfo } from 'node:net';
import { createTestApp, type TestApp } from './app.js';
import type { AppOnFilesOptions } from './app-on-files.js';
import { onFreePort } from './free-port.js';
import { serviceTokenOf } from './service-token.js';
import { sinkMailSettings, startSmtpSink, type SinkMail, type SmtpSink } from './smtp-sink.js';

/** Password hashing for tests that do not measure it: bcrypt at its lowest cost. */
export const FAST_HASHING = { algorithm: 'bcrypt', bcryptRounds: 4 } as const;

/**
 * The GoTrue suites' app: restauth.json with fast hashing and mail over real
 * SMTP to a sink of its own; `config` adds to (or replaces) those settings.
 */
export async function startMailingApp(
  config: Record<string, unknown> = {},
  env?: NodeJS.ProcessEnv,
  options: Pick<AppOnFilesOptions, 'clockStoppedAt'> = {},
): Promise<{ t: TestApp; sink: SmtpSink }> {
  const sink = await startSmtpSink();
  try {
    const t = await createTestApp({
      format: 'restauth',
      config: { passwords: FAST_HASHING, email: sinkMailSettings(sink), ...config },
      ...(env ? { env } : {}),
      ...options,
    });
    return { t, sink };
  } catch (error) {
    await sink.close();
    throw error;
  }
}

/** Closes what startMailingApp started. */
export async function stopMailingApp(t: TestApp, sink: SmtpSink): Promise<void> {
  await t.close();
  await sink.close();
}

/**
 * Where a test app listens for real HTTP (auth-js talks over fetch, not
 * inject): the configured port when there is one (the links in mails name
 * it), else any free port.
 */
export async function listen(t: TestApp): Promise<string> {
  await t.app.listen({ port: t.config.port === 3000 ? 0 : t.config.port, host: '127.0.0.1' });
  const { port } = t.app.server.address() as AddressInfo;
  return `http://127.0.0.1:${port}/auth/v1`;
}

/**
 * What `start` makes on a port chosen before restauth binds it (the links in its mails, a provider's
 * redirect URI or another server name it), restauth listening there. Another process may take the port
 * meanwhile (EADDRINUSE): then restauth, its sink and `closeRest`'s part are closed, and all is started
 * again on another free port.
 */
export function onFreePortListening<Started extends { t: TestApp; sink: SmtpSink }>(
  start: (port: number) => Promise<Started>,
  closeRest: (started: Started) => Promise<void> = async () => {},
): Promise<Started & { url: string }> {
  return onFreePort(async (port) => {
    const started = await start(port);
    try {
      return { ...started, url: await listen(started.t) };
    } catch (error) {
      await stopMailingApp(started.t, started.sink);
      await closeRest(started);
      throw error;
    }
  });
}

/** An unmodified GoTrueClient with in-memory storage, recording its auth events; the implicit flow unless asked. */
export function gotrueClient(
  url: string,
  options: { flowType?: 'implicit' | 'pkce' } = {},
): { client: GoTrueClient; events: AuthChangeEvent[] } {
  const memory = new Map<string, string>();
  const client = new GoTrueClient({
    url,
    flowType: options.flowType ?? 'implicit',
    autoRefreshToken: false,
    persistSession: true,
    detectSessionInUrl: false,
    storageKey: `restauth-test-${Math.random()}`,
    storage: {
      getItem: (key: string) => memory.get(key) ?? null,
      setItem: (key: string, value: string) => void memory.set(key, value),
      removeItem: (key: string) => void memory.delete(key),
    },
  });
  const events: AuthChangeEvent[] = [];
  client.onAuthStateChange((event) => {
    events.push(event);
  });
  return { client, events };
}

export function adminClient(url: string, serviceToken: string): GoTrueAdminApi {
  return new GoTrueAdminApi({ url, headers: { Authorization: `Bearer ${serviceToken}` } });
}

/** auth-js's admin API on a listening app, with a service-role token of its own key (serviceTokenOf). */
export async function serviceAdminOf(
  app: { url: string; t: Pick<TestApp, 'services'> },
  seconds?: number,
): Promise<GoTrueAdminApi> {
  return adminClient(app.url, await serviceTokenOf(app.t, seconds));
}

/** The 6-digit code and the verification link of a mail. */
export function secretsOf(mail: SinkMail): { code: string; link: string } {
  const code = /Your code: (\d{6})/u.exec(mail.text)?.[1];
  const link = /(https?:\/\/\S+\/verify\?\S+)/u.exec(mail.text)?.[1];
  if (!code || !link) throw new Error(`no code or link in mail "${mail.subject}":\n${mail.text}`);
  return { code, link };
}

/** The next mail to `to` that arrives after `since` mails were received. */
export function nextMail(sink: SmtpSink, to: string, since: number): Promise<SinkMail> {
  return sink.waitForMail((mail) => mail.to === to && sink.mails.indexOf(mail) >= since, 5000);
}
