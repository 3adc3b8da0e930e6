/**
 * The SMTP options nodemailer acts on, read as nodemailer reads them. An `email.url`'s query is options
 * too (`?pool=true`, `?ignoreTLS=1`, `?tls.rejectUnauthorized=0`), merged over the object's, with
 * nodemailer's own spelling rules: a number for anything numeric, the scheme's `secure` before any
 * `?secure=`. restauth's own readings of them (a pool or not, TLS or not) were guesses beside that:
 * `?pool=true` made no pool, `smtp://...?secure=true` passed as TLS while nodemailer spoke in clear.
 * Both now read the options from here.
 */
import { createRequire } from 'node:module';

type Options = Record<string, unknown>;

interface NodemailerShared {
  parseConnectionUrl(url: string): Options;
  assign(target: false, ...sources: unknown[]): Options;
}

const require = createRequire(import.meta.url);

/**
 * `email` as nodemailer's SMTP transport and pool take it (their constructors): the url's options over
 * the object's (tls and auth key by key), a well-known `service`'s over both. Loads nodemailer's helpers
 * (only a config with `email` calls this).
 */
export function nodemailerSmtpOptions(email: Options): Options {
  const shared = require('nodemailer/lib/shared/index.js') as NodemailerShared;
  const wellKnown = require('nodemailer/lib/well-known/index.js') as (service: string) => Options | false;
  const fromUrl = typeof email['url'] === 'string' ? shared.parseConnectionUrl(email['url']) : undefined;
  const service = email['service'] ?? fromUrl?.service;
  return shared.assign(false, email, fromUrl, typeof service === 'string' && wellKnown(service));
}

/** Why the SMTP connection `options` (nodemailer's) describe is not encrypted all the way, or null. */
export function cleartextSmtp(options: Options): string | null {
  const secure = options['secure'] === undefined ? Number(options['port']) === 465 : !!options['secure'];
  // restauth hands nodemailer the plain TCP socket it opened: "already secured" is a lie, and
  // nodemailer then neither starts TLS nor asks for STARTTLS.
  if (secure && options['secured']) return 'secured is set, so nodemailer speaks in clear over the socket';
  if (secure) return null;
  if (!options['requireTLS'])
    return 'neither secure nor requireTLS is set (a STARTTLS offer can be stripped)';
  if (options['ignoreTLS']) return 'ignoreTLS is set, so requireTLS is not acted on';
  if (options['opportunisticTLS'])
    return 'opportunisticTLS is set, so a refused STARTTLS goes on in clear (a refusal can be forged)';
  return null;
}

/**
 * Whether the certificate checks are off: Node checks unless `tls.rejectUnauthorized` is set to a
 * falsy value (false, 0, null, an empty `?tls.rejectUnauthorized=`).
 */
export function uncheckedCertificates(options: Options): boolean {
  const tls = options['tls'];
  if (tls === null || typeof tls !== 'object') return false;
  return 'rejectUnauthorized' in tls && !(tls as Options)['rejectUnauthorized'];
}
