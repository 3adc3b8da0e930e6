import { AuthError } from '../core/errors.js';
import { isDeepLinkScheme, isWebScheme } from '../lib/redirect-schemes.js';
import type { RedirectGlob } from '../lib/redirect-glob.js';
import { isMatchableWebHost } from '../lib/redirect-hosts.js';
import { hasEncodedTraversal } from '../lib/redirect-paths.js';

/**
 * Hosts of a site URL on which GoTrue ignores the port (RFC 8252 7.3: a native app's loopback port
 * varies), and names under .localhost, which browsers resolve to loopback (RFC 6761). GoTrue's
 * 0.0.0.0 and [::] are left out: they are not loopback addresses, and browsers are closing them off.
 */
const LOOPBACK_NAMES: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '[::1]']);
const isLoopbackName = (hostname: string): boolean =>
  LOOPBACK_NAMES.has(hostname) || hostname.endsWith('.localhost');

/** The URL as the parser writes it, without its fragment: what GoTrue matches (it cuts at "#"). */
const withoutFragment = (url: URL): string => url.href.split('#', 1)[0]!;

/**
 * Decides where a `redirect_to` may lead: the site URL's origin, or an entry
 * of the allow-list (an exact URL, or a prefix written with a trailing `*`).
 * http(s) URLs qualify by either; a mobile app's deep link (a scheme of its own) only by an
 * entry that lists it, as GoTrue admits them; a scheme that runs code or shows other content
 * (javascript:, data:, ...) never, so a link can never run `javascript:`. A prefix must end at a
 * path boundary of its own writing ("https://app.example.com/*" does not admit "https://app.example.com.evil").
 */
export class RedirectPolicy {
  private readonly site: URL | null;

  constructor(
    private readonly siteUrl: string | null,
    private readonly allowList: readonly string[],
    /** Refuse a target that is not allowed (400) instead of falling back to the site URL as GoTrue does. */
    private readonly refuseDisallowed = false,
    /** GoTrue's allow-list globs (redirectAllowGlobs), compiled. */
    private readonly globs: readonly RedirectGlob[] = [],
  ) {
    this.site = siteUrl ? new URL(siteUrl) : null;
  }

  /** The site URL, where verified links lead when no redirect_to is given. */
  get defaultTarget(): string | null {
    return this.siteUrl;
  }

  isAllowed(target: string): boolean {
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      return false;
    }
    const web = isWebScheme(url.protocol);
    if (!web && !isDeepLinkScheme(url.protocol)) return false;
    if (url.username || url.password) return false;
    if (web && this.isOnSite(url)) return true;
    if (web && !isMatchableWebHost(url.hostname)) return false;
    const whole = withoutFragment(url);
    if (this.allowList.some((entry) => !entry.endsWith('*') && whole === new URL(entry).href)) return true;
    // Below here an entry admits many paths, so none may be written to climb out of it once decoded.
    if (hasEncodedTraversal(url.pathname)) return false;
    return (
      this.allowList.some((entry) => entry.endsWith('*') && whole.startsWith(entry.slice(0, -1))) ||
      this.matchesGlob(whole, url)
    );
  }

  /**
   * GoTrue matches its globs against the redirect_to without its fragment (IsRedirectURLValid), as
   * written; here against the URL as the parser writes it (as a browser will go to it): the host then
   * ends at the first "/" or ":", so "https://*.acme.test/**" cannot be met by
   * "https://evil.test?.acme.test/", which GoTrue's text match admits. A bare origin also matches
   * without the "/" the parser adds, so "https://*.vercel.app" still admits "https://x.vercel.app".
   */
  private matchesGlob(whole: string, url: URL): boolean {
    if (this.globs.length === 0) return false;
    const bare = url.pathname === '/' && url.search === '' && whole.endsWith('/') ? whole.slice(0, -1) : null;
    return this.globs.some((glob) => glob.matches(whole) || (bare !== null && glob.matches(bare)));
  }

  /** The site's origin; on a loopback site any port, as GoTrue allows (IsRedirectURLValid). */
  private isOnSite(url: URL): boolean {
    if (this.site === null) return false;
    if (url.origin === this.site.origin) return true;
    return (
      isLoopbackName(this.site.hostname) &&
      url.protocol === this.site.protocol &&
      url.hostname === this.site.hostname
    );
  }

  /**
   * The redirect_to of a request, checked: null when absent or not allowed (links then lead to the
   * site URL, as GoTrue's do), or 400 bad_redirect when not allowed and refusing is configured.
   */
  check(target: string | undefined | null): string | null {
    if (target === undefined || target === null || target === '') return null;
    if (this.isAllowed(target)) return target;
    if (this.refuseDisallowed) throw new AuthError('bad_redirect');
    return null;
  }
}
