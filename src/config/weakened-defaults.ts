import type { Config } from './schema.js';
import { withSources, type SetupProblem } from './setup-policy.js';
import type { ValueSources } from './sources.js';
import { isWideHostGlob } from './redirect-globs.js';
import { quotedSetting } from './url-password.js';
import { nodemailerSmtpOptions } from '../mail/smtp-options.js';

/**
 * Protections on by default that a setting turns off. Each has a documented use (a client that
 * keeps no cookies, a provider that sends no nonce), so none refuses the start; but a line in an
 * old config file, a copied example or a GoTrue variable left over from another deployment turned
 * one off without a word at the start. Each is now a warning naming the key, where it was set, and
 * what it lets an attacker do.
 */

/** More seconds of clock skew than any machine's clock is off by: past it, expired tokens pass. */
const MAX_SENSIBLE_CLOCK_TOLERANCE = 300;

export function weakenedDefaults(config: Config, sources?: ValueSources): SetupProblem[] {
  const found: SetupProblem[] = [];
  if (!config.identities.oauthBrowserBinding) {
    found.push({
      key: 'identities.oauthBrowserBinding',
      problem:
        "is false: an OAuth callback is taken from any browser, so a link to an attacker's own flow signs " +
        "a victim in as the attacker, or links the attacker's provider account to the victim's (login and link CSRF)",
    });
  }
  if (config.identities.implicitLinking) {
    found.push({
      key: 'identities.implicitLinking',
      problem:
        "is true: linkIdentity's implicit flow links in whichever browser finishes it, so a forwarded link " +
        "address links the follower's provider account to the starter's account",
    });
  }
  for (const [name, provider] of Object.entries(config.external)) {
    if (provider.enabled === true && provider.skip_nonce_check === true) {
      found.push({
        key: `external.${name}.skip_nonce_check`,
        problem:
          'is true: an id_token without a nonce signs in, so one taken from another app of the same ' +
          'provider client can be replayed here',
      });
    }
  }
  if (config.jwt.clockTolerance > MAX_SENSIBLE_CLOCK_TOLERANCE) {
    found.push({
      key: 'jwt.clockTolerance',
      problem: `is ${config.jwt.clockTolerance} s: an access token is accepted that long after it expired`,
    });
  }
  // A load test's RESTAUTH_RATE_LIMITS=off, copied into a deployment, turned these off with the rest.
  if (config.rateLimits.passwordGuesses.max === 0) {
    found.push({
      key: 'rateLimits.passwordGuesses.max',
      problem:
        "is 0: one account's password can be guessed without bound, from any number of addresses " +
        '(no per-account limit on wrong passwords)',
    });
  }
  if (config.rateLimits.verify.max === 0) {
    found.push({
      key: 'rateLimits.verify.max',
      problem: 'is 0: a client can try one-time codes (email and phone OTPs) without bound',
    });
  }
  config.redirectAllowGlobs.forEach((glob, index) => {
    if (isWideHostGlob(glob)) {
      found.push({
        key: `redirectAllowGlobs[${index}]`,
        problem: `is ${quotedSetting(glob)}: its host wildcard also matches domains anyone can register, so a mailed session can be sent there (GoTrue admits it alike). Name your own domain after the wildcard ("https://*.example.com/**"), not a public suffix such as vercel.app or co.uk`,
      });
    }
  });
  if (config.email !== null) found.push(...mailLogging(config.email));
  return withSources(found, sources);
}

/**
 * nodemailer's `logger: true` with `debug: true` (in the object or the url's query, as nodemailer reads
 * them) writes every message it sends to standard output, past restauth's own log: each reset link,
 * sign-in link and one-time code, readable by whoever reads the output. A debugging aid, so a warning.
 */
function mailLogging(email: Record<string, unknown>): SetupProblem[] {
  const smtp = nodemailerSmtpOptions(email);
  if (!smtp['logger'] || !smtp['debug']) return [];
  const query = typeof email['url'] === 'string' ? new URL(email['url']).searchParams : null;
  return [
    {
      key: query?.has('debug') || query?.has('logger') ? 'email.url' : 'email.debug',
      problem:
        "turns on nodemailer's debug log with its logger: every mail sent, its reset and sign-in links " +
        'and one-time codes included, is written to standard output',
    },
  ];
}
