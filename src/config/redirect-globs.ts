import { getPublicSuffix } from 'tldts';
import { compileRedirectGlob } from '../lib/redirect-glob.js';
import { isDeepLinkScheme, isWebScheme } from '../lib/redirect-schemes.js';
import { quotedSetting } from './url-password.js';

/** A glob's scheme and authority (host and port), up to the first "/" after "://"; null without "://". */
function globParts(glob: string): { scheme: string; authority: string } | null {
  const match = /^([a-z][a-z0-9+.-]*):\/\/([^/]*)/iu.exec(glob);
  return match === null ? null : { scheme: `${match[1]!.toLowerCase()}:`, authority: match[2]! };
}

/** gobwas/glob's wildcards and classes: a host with one of them is not a fixed name. */
const WILDCARD = /[*?[\]{}]/u;

/**
 * Why an entry of redirectAllowGlobs cannot run, or null: a glob gobwas/glob does not compile (GoTrue
 * does not start on one either), or one whose scheme is not written out as http(s) or a deep link's.
 * RedirectPolicy refuses javascript: and the like before any glob; a scheme spelt by wildcards
 * ("**", "http{s,}://") could only mean something other than the operator thought.
 */
export function redirectGlobProblem(glob: string): string | null {
  try {
    compileRedirectGlob(glob);
  } catch (error) {
    return (error as Error).message;
  }
  const parts = globParts(glob);
  if (parts === null || !(isWebScheme(parts.scheme) || isDeepLinkScheme(parts.scheme))) {
    return `${quotedSetting(glob)} must start with http://, https:// or a mobile app's scheme (com.example.app://), written without wildcards`;
  }
  return null;
}

/**
 * Whether a web glob's host wildcard can stand for a domain someone else registers: "**" in the host
 * (it crosses "." and "/": "https://**example.com/**" admits "https://evil.test/?example.com/"),
 * fewer than two whole labels after the label the last wildcard is in ("*.com", "*example.com",
 * "app.example.*"), or those labels being a public suffix, of the ICANN section or the private one
 * ("*.co.uk", "*-team.vercel.app", "*.github.io": anyone can have a name right under them). GoTrue
 * admits these as written, and so does restauth, with a warning.
 */
export function isWideHostGlob(glob: string): boolean {
  const parts = globParts(glob);
  if (parts === null || !isWebScheme(parts.scheme)) return false;
  const host = parts.authority.replace(/:[^.\]]*$/u, '');
  if (host.includes('**')) return true;
  const last = Math.max(...[...'*?[]{}'].map((char) => host.lastIndexOf(char)));
  if (last === -1) return false;
  const tail = host.slice(last + 1);
  const whole = tail.includes('.') ? tail.slice(tail.indexOf('.') + 1) : '';
  if (whole.split('.').filter((label) => label !== '').length < 2) return true;
  return getPublicSuffix(whole, { allowPrivateDomains: true }) === whole.toLowerCase();
}

/**
 * Whether a web glob's host has wildcards yet can only be an IP address other than loopback: its last
 * label is a number, and the URL parser reads any host ending in a number as IPv4 or refuses it
 * ("https://10.*.0.5/**"). RedirectPolicy refuses such hosts before any glob, as GoTrue does.
 */
export function isNonLoopbackIpGlob(glob: string): boolean {
  const parts = globParts(glob);
  if (parts === null || !isWebScheme(parts.scheme)) return false;
  const host = parts.authority.replace(/:[^.\]]*$/u, '');
  return WILDCARD.test(host) && /\.[0-9]+$/u.test(host) && !host.startsWith('127.');
}

/** The host a web glob names when it has no wildcard ("localhost" of "http://localhost:3000/**"), else null. */
export function fixedGlobHost(glob: string): string | null {
  const parts = globParts(glob);
  if (parts === null) return null;
  const host = parts.authority.replace(/:[^.\]]*$/u, '');
  return WILDCARD.test(host) ? null : host;
}

/**
 * How the URL parser writes a web glob's host and port when the glob writes them otherwise, or null:
 * "https://app.example.com:443/*" or "https://bücher.example/*" match no redirect_to, whose host is
 * matched as parsed (no default port, punycode), so every redirect_to meant for them led to siteUrl.
 */
export function parsedGlobHost(glob: string): string | null {
  const parts = globParts(glob);
  if (parts === null || !isWebScheme(parts.scheme) || WILDCARD.test(parts.authority)) return null;
  let parsed: string;
  try {
    parsed = new URL(`${parts.scheme}//${parts.authority}`).host;
  } catch {
    return '(no host: it is not a URL)';
  }
  return parsed === parts.authority.toLowerCase() ? null : parsed;
}
