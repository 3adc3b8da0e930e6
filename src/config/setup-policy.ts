import tls from 'node:tls';
import { ConfigError } from './errors.js';
import type { Config } from './schema.js';
import { sourceOfKey, type ValueSources } from './sources.js';
import { isPlainObject } from '../lib/is-plain-object.js';
import { isDeepLinkScheme, isWebScheme } from '../lib/redirect-schemes.js';
import { fixedGlobHost, isNonLoopbackIpGlob, parsedGlobHost, redirectGlobProblem } from './redirect-globs.js';
import { isLocalHost } from './local-host.js';
import { isOldDefaultMinimum, tlsMinimumProblem } from './tls-minimum.js';
import { isMatchableWebHost } from '../lib/redirect-hosts.js';
import { quotedSetting } from './url-password.js';
import { cleartextSmtp, nodemailerSmtpOptions, uncheckedCertificates } from '../mail/smtp-options.js';

/**
 * A weak setup refuses to start outside development mode (DESIGN,
 * Principles): settings that work, but send passwords, tokens or links in
 * clear, or let anyone pose as a client address. Each problem names the key;
 * development mode (RESTAUTH_DEV=1, --dev) turns the refusals into warnings.
 * The jwt secret has its own check (secret-policy.ts).
 */
export interface SetupProblem {
  /** The key as the schema spells it ("email.host"), with where it was set when known. */
  key: string;
  problem: string;
}

/** Transports that are not SMTP to a host restauth names (nodemailer's well-known services pick their own TLS). */
const NOT_PLAIN_SMTP = ['sendmail', 'streamTransport', 'jsonTransport', 'SES'];

/**
 * The SMTP connection's weak points, read from the options as nodemailer acts on them (smtp-options.ts):
 * an `email.url`'s query counts as the object's, and is read with nodemailer's rules (`?ignoreTLS=1`
 * is on, `?secure=true` after smtp:// is not), so a url cannot turn TLS off, or seem to turn it on,
 * without this seeing it.
 */
function mailProblems(email: Record<string, unknown>): SetupProblem[] {
  if (NOT_PLAIN_SMTP.some((key) => key in email)) return [];
  const smtp = nodemailerSmtpOptions(email);
  const host = typeof smtp['host'] === 'string' && smtp['host'] !== '' ? smtp['host'] : 'localhost';
  const url = typeof email['url'] === 'string' ? email['url'] : null;
  const proxy = typeof smtp['proxy'] === 'string' ? URL.parse(smtp['proxy']) : null;
  const proxyKey = url !== null && new URL(url).searchParams.has('proxy') ? 'email.url' : 'email.proxy';
  const problems: SetupProblem[] = [];
  // The proxy's own password (Proxy-Authorization) is sent before any TLS to the mail server.
  const credentials = proxy !== null && (proxy.username !== '' || proxy.password !== '');
  if (proxy?.protocol === 'http:' && credentials && !isLocalHost(proxy.hostname)) {
    problems.push({
      key: proxyKey,
      problem: `names the mail proxy ${proxy.hostname} over http:// with a password: the password travels in clear to it. Use an https:// proxy`,
    });
  }
  // Through a proxy elsewhere, "localhost" is the proxy's, and the way to it is the network.
  const remoteProxy = proxy !== null && !isLocalHost(proxy.hostname);
  if (isLocalHost(host) && !remoteProxy) return problems;
  const cleartext = smtp['service'] === undefined ? cleartextSmtp(smtp) : null;
  if (cleartext !== null) {
    problems.push({
      key: url === null ? 'email.host' : 'email.url',
      problem:
        `names the mail server ${host}, reached without TLS (${cleartext}): its password and every mail's links and codes could be read on the way. ` +
        'Use smtps:// or "secure": true (port 465), or "requireTLS": true (STARTTLS, port 587)',
    });
  }
  const oldVersion = tlsMinimumProblem(smtpTls(smtp));
  if (oldVersion !== null) {
    const option = 'minVersion' in smtpTls(smtp) ? 'minVersion' : 'secureProtocol';
    const inUrl = url !== null && new URL(url).searchParams.has(`tls.${option}`);
    problems.push({
      key: inUrl ? 'email.url' : `email.tls.${option}`,
      problem: `sets ${oldVersion}: mail to ${host} could be read by anyone on the way. Remove it (Node's floor is TLS 1.2)`,
    });
  }
  if (uncheckedCertificates(smtp)) {
    const inUrl = url !== null && new URL(url).searchParams.has('tls.rejectUnauthorized');
    problems.push({
      key: inUrl ? 'email.url' : 'email.tls.rejectUnauthorized',
      problem: `${inUrl ? 'sets tls.rejectUnauthorized to' : 'is'} ${JSON.stringify(smtpTls(smtp)['rejectUnauthorized'])}, which turns the check off: anyone on the way can pose as the mail server ${host} (or its proxy) with any certificate. Remove it (give tls.ca for a private CA)`,
    });
  }
  return problems;
}

function smtpTls(smtp: Record<string, unknown>): Record<string, unknown> {
  return isPlainObject(smtp['tls']) ? smtp['tls'] : {};
}

/** Why `value` (a URL setting) is weak, or null: http to a host other than this machine. */
function cleartextUrl(value: string): string | null {
  const url = new URL(value);
  if (url.protocol === 'https:' || (url.protocol === 'http:' && isLocalHost(url.hostname))) return null;
  return `is ${quotedSetting(value)}: links in mails and redirects carrying tokens would travel in clear. Use https://`;
}

function urlProblems(config: Config): SetupProblem[] {
  const problems: SetupProblem[] = [];
  for (const key of ['publicUrl', 'siteUrl'] as const) {
    const value = config[key];
    const weakness = value === null ? null : cleartextUrl(value);
    if (weakness !== null) problems.push({ key, problem: weakness });
  }
  // Without publicUrl the links in mails lead to http://host:port, wrong for anyone but this machine.
  const mailsLinks = config.email !== null && config.dialects.gotrue.enabled;
  if (config.publicUrl === null && mailsLinks && !isLocalHost(config.host)) {
    problems.push({
      key: 'publicUrl',
      problem: `is not set while mails are sent and restauth listens on ${config.host}: links in mails would lead to http://${config.host}:${config.port}. Set it to restauth's public https:// address`,
    });
  }
  config.redirectAllowList.forEach((entry, index) => {
    const key = `redirectAllowList[${index}]`;
    const prefix = entry.endsWith('*') ? entry.slice(0, -1) : null;
    const url = new URL(prefix ?? entry);
    // "https://app.example.com*" admits https://app.example.com.evil.test: a prefix must end inside the path.
    // A deep link's scheme is the app's own (the phone opens no host), so "com.example.app://*" names one app.
    const deepLink = isDeepLinkScheme(url.protocol);
    if (prefix !== null && !deepLink && !/^[a-z][a-z0-9+.-]*:\/\/[^/]+\//i.test(prefix)) {
      problems.push({
        key,
        problem: `is ${quotedSetting(entry)}: a prefix must name a whole host and end at a path ("https://app.example.com/*"), or it admits other hosts`,
      });
      return;
    }
    // A target is compared as the URL parser writes it (lower-case host, no default port, punycode, no
    // "*"): a prefix written otherwise ("https://App.example.com/*", GoTrue's "/**") matched nothing, and
    // every redirect_to it was meant for silently led to siteUrl instead.
    if (prefix !== null && (prefix.includes('*') || url.href !== prefix)) {
      const written = `${new URL(prefix.replace(/\*+$/u, '')).href}*`;
      problems.push({
        key,
        problem: `is ${quotedSetting(entry)}, which no redirect_to matches: a prefix is compared as the URL parser writes it and ends in a single * (${quotedSetting(written)})`,
      });
      return;
    }
    if (!deepLink && !isMatchableWebHost(url.hostname)) {
      problems.push({ key, problem: unmatchableHost(entry, url.hostname) });
      return;
    }
    const weakness = deepLink ? null : cleartextUrl(url.href);
    if (weakness !== null)
      problems.push({ key, problem: weakness.replace(quotedSetting(url.href), quotedSetting(entry)) });
  });
  config.redirectAllowGlobs.forEach((glob, index) => {
    const host = fixedGlobHost(glob);
    if (/^http:/iu.test(glob) && (host === null || !isLocalHost(host))) {
      problems.push({
        key: `redirectAllowGlobs[${index}]`,
        problem: `is ${quotedSetting(glob)}: links in mails and redirects carrying tokens would travel in clear. Use https://`,
      });
    }
    const parsed = parsedGlobHost(glob);
    const hostname = /^https?:/iu.test(glob) && host !== null ? URL.parse(`https://${host}`)?.hostname : null;
    const unmatchable = hostname && !isMatchableWebHost(hostname) ? hostname : null;
    if (unmatchable !== null || isNonLoopbackIpGlob(glob)) {
      problems.push({
        key: `redirectAllowGlobs[${index}]`,
        problem: unmatchableHost(glob, unmatchable ?? 'of IP addresses only'),
      });
    } else if (parsed !== null) {
      problems.push({
        key: `redirectAllowGlobs[${index}]`,
        problem: `is ${quotedSetting(glob)}, which no redirect_to matches: its host is matched as the URL parser writes it, ${parsed}`,
      });
    }
  });
  return problems;
}

/** An allow-list entry whose host RedirectPolicy refuses before any entry, as GoTrue does. */
const unmatchableHost = (entry: string, host: string): string =>
  `is ${quotedSetting(entry)}, which no redirect_to matches: its host ${host} is an IP address other than loopback, or not a plain name, and GoTrue and restauth refuse such a redirect host whatever the list says`;

/** Entries of trustProxy that trust every address: any client could then write its own address. */
const EVERY_ADDRESS = new Set(['0.0.0.0/0', '::/0', '0.0.0.0/0.0.0.0']);

function proxyProblems(config: Config): SetupProblem[] {
  if (!Array.isArray(config.trustProxy)) return [];
  return config.trustProxy.flatMap((entry, index) =>
    EVERY_ADDRESS.has(entry)
      ? [
          {
            key: `trustProxy[${index}]`,
            problem: `is ${entry}: every client would be trusted as a proxy and could write its own address into X-Forwarded-For (rate limits, audit log). Name your proxies' addresses, or a number of hops`,
          },
        ]
      : [],
  );
}

/**
 * NODE_TLS_REJECT_UNAUTHORIZED=0 in the process's environment (Node reads it, and only "0"): no TLS
 * certificate restauth meets is checked, unless an option sets the check again: the mail server's and
 * its proxy's, and every other https:// server restauth calls. A line copied from a debugging session
 * turned it all off without a word from restauth.
 */
export function tlsEnvironmentProblems(
  processEnv: NodeJS.ProcessEnv,
  defaultMinVersion: string = tls.DEFAULT_MIN_VERSION,
): SetupProblem[] {
  const problems: SetupProblem[] = [];
  if (processEnv['NODE_TLS_REJECT_UNAUTHORIZED'] === '0') {
    problems.push({
      key: 'NODE_TLS_REJECT_UNAUTHORIZED (environment)',
      problem:
        "is 0: Node checks no server's TLS certificate (the mail server's, its proxy's and the database's among them), so anyone on the way can pose as any of them. Unset it (give email.tls.ca for a private CA)",
    });
  }
  // --tls-min-v1.0 or --tls-min-v1.1 (on the command line or in NODE_OPTIONS) lowers every connection's floor.
  if (isOldDefaultMinimum(defaultMinVersion)) {
    problems.push({
      key: 'node --tls-min-v1.x (NODE_OPTIONS or the command line)',
      problem: `lowers Node's TLS floor to ${defaultMinVersion} for every connection (mail, database, identity providers): versions below 1.2 can be broken or downgraded to. Remove the option`,
    });
  }
  return problems;
}

/** Every weak setting of `config`, each naming its key (and its source, when `sources` are given). */
export function setupProblems(config: Config, sources?: ValueSources): SetupProblem[] {
  const problems = [
    ...(config.email === null ? [] : mailProblems(config.email)),
    ...urlProblems(config),
    ...proxyProblems(config),
  ];
  return withSources(problems, sources);
}

/** Each problem's key with where it was set (`jwt.secret (RESTAUTH_JWT_SECRET)`), when `sources` are given. */
export function withSources(problems: SetupProblem[], sources?: ValueSources): SetupProblem[] {
  if (sources === undefined) return problems;
  return problems.map(({ key, problem }) => {
    const source = sourceOfKey(sources, key);
    return { key: source === 'default' ? key : `${key} (${source})`, problem };
  });
}

export function formatProblem({ key, problem }: SetupProblem): string {
  return `${key} ${problem}`;
}

function isUrl(value: string, protocols: readonly string[]): boolean {
  try {
    return protocols.includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

/** A web address, or a deep link written with `//` (an app's scheme, never javascript: or data:). */
function isAllowListUrl(value: string): boolean {
  try {
    const { protocol } = new URL(value);
    return (
      isWebScheme(protocol) || (isDeepLinkScheme(protocol) && value.toLowerCase().startsWith(`${protocol}//`))
    );
  } catch {
    return false;
  }
}

/** The SMTP options nodemailer cannot act on (checkUrls): each would fail every mail, or the start. */
function smtpOptionProblems(email: Record<string, unknown>): string[] {
  let smtp: Record<string, unknown>;
  try {
    smtp = nodemailerSmtpOptions(email);
  } catch {
    // Its parser (url.parse) refuses some URLs the WHATWG one takes ("smtp://xn--a.com").
    return ['email.url must be a URL nodemailer can read: its parser refused it'];
  }
  if (NOT_PLAIN_SMTP.some((key) => key in email)) return [];
  // nodemailer's socks:// needs a module restauth does not ship: every mail failed, retried, then
  // was given up, the start saying nothing. The value is not shown (it may hold the proxy's password).
  const proxy = smtp['proxy'];
  if (proxy !== undefined && (typeof proxy !== 'string' || !isUrl(proxy, ['http:', 'https:']))) {
    return [
      'email.proxy (or ?proxy= in email.url) must be an http:// or https:// URL: restauth has no SOCKS client',
    ];
  }
  return [];
}

/**
 * URL settings that are not URLs stop the start naming the key, development
 * mode or not: they would otherwise throw on the first request that reads them.
 */
export function checkUrls(config: Config, where: string): void {
  const bad: string[] = [];
  const web = ['http:', 'https:'];
  for (const key of ['publicUrl', 'siteUrl'] as const) {
    const value = config[key];
    if (value !== null && !isUrl(value, web))
      bad.push(`${key} must be an http:// or https:// URL (got ${quotedSetting(value)})`);
  }
  config.redirectAllowList.forEach((entry, index) => {
    if (!isAllowListUrl(entry.endsWith('*') ? entry.slice(0, -1) : entry)) {
      bad.push(
        `redirectAllowList[${index}] must be an http:// or https:// URL, a mobile app's deep link (com.example.app://callback), or a prefix of one ending in * (got ${quotedSetting(entry)}); javascript:, data: and the like never qualify`,
      );
    }
  });
  config.redirectAllowGlobs.forEach((glob, index) => {
    const problem = redirectGlobProblem(glob);
    if (problem !== null)
      bad.push(`redirectAllowGlobs[${index}] (GOTRUE_URI_ALLOW_LIST's globs): ${problem}`);
  });
  const url = config.email?.['url'];
  if (typeof url === 'string' && !isUrl(url, ['smtp:', 'smtps:'])) {
    bad.push('email.url must be an smtp:// or smtps:// URL');
  } else if (config.email) {
    bad.push(...smtpOptionProblems(config.email));
  }
  // nodemailer reads auth as { user, pass }: a string ("user:password") is a credential it ignores,
  // so it is refused here, unquoted, rather than printed by `restauth config` and never used.
  const auth = config.email?.['auth'];
  if (auth !== undefined && auth !== null && !isPlainObject(auth)) {
    bad.push('email.auth must be an object such as {"user": "...", "pass": "..."} (its value is not shown)');
  }
  if (bad.length > 0) throw new ConfigError(bad.map((line) => `${where}: ${line}`).join('\n'));
}

/** Outside development mode a ConfigError listing every problem; in it, one warning each. */
export function enforceSetupPolicy(
  problems: readonly SetupProblem[],
  development: boolean,
  warn: (message: string) => void,
): void {
  if (problems.length === 0) return;
  if (development) {
    for (const problem of problems) {
      warn(`${formatProblem(problem)}; accepted because development mode is on (RESTAUTH_DEV / --dev).`);
    }
    return;
  }
  throw new ConfigError(
    [
      'weak setup, refusing to start:',
      ...problems.map((problem) => `  ${formatProblem(problem)}.`),
      'Fix these, or set RESTAUTH_DEV=1 (or --dev) to accept them for local development only.',
    ].join('\n'),
  );
}
