import { AuthError } from '../core/errors.js';

/**
 * Decides where a `redirect_to` may lead: the site URL's origin, or an entry
 * of the allow-list (an exact URL, or a prefix written with a trailing `*`).
 * Only http(s) URLs qualify, so a link can never run `javascript:` or open
 * another scheme, and a prefix must end at a path boundary of its own
 * writing ("https://app.example.com/*" does not admit "https://app.example.com.evil").
 */
export class RedirectPolicy {
  private readonly siteOrigin: string | null;

  constructor(
    private readonly siteUrl: string | null,
    private readonly allowList: readonly string[],
    /** Refuse a target that is not allowed (400) instead of falling back to the site URL as GoTrue does. */
    private readonly refuseDisallowed = false,
  ) {
    this.siteOrigin = siteUrl ? new URL(siteUrl).origin : null;
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
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return false;
    if (url.username || url.password) return false;
    if (this.siteOrigin !== null && url.origin === this.siteOrigin) return true;
    return this.allowList.some((entry) =>
      entry.endsWith('*') ? url.href.startsWith(entry.slice(0, -1)) : url.href === new URL(entry).href,
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
