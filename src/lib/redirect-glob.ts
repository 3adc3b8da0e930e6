import { loadRe2js } from './re2.js';

/** A compiled GoTrue allow-list glob: whether a whole text matches it. */
export interface RedirectGlob {
  readonly source: string;
  matches(text: string): boolean;
}

/** Characters RE2 reads as syntax: escaped wherever a glob means them literally. */
const REGEX_SYNTAX = /[\\^$.|?*+()[\]{}-]/gu;
const literal = (text: string): string => text.replace(REGEX_SYNTAX, '\\$&');

/** A character that is not one of GoTrue's separators ('.' and '/'): what `*` and `?` match. */
const NON_SEPARATOR = '[^./]';

/**
 * Compiles an entry of GoTrue's GOTRUE_URI_ALLOW_LIST as GoTrue does (gobwas/glob's
 * `glob.MustCompile(uri, '.', '/')`, internal/conf/configuration.go): `*` any run without '.' or
 * '/', `**` any run, `?` one character other than those, `[abc]` `[a-z]` `[!abc]` `[!a-z]` one
 * character in (or, with `!`, of any kind but) the class, `{a,b}` alternatives, `\` the next
 * character as written. The regular expression runs on RE2 (time linear in the text): a config's
 * `**a**a**a**` against a 2,000-character redirect_to cannot hold the event loop. A glob gobwas
 * refuses (an unclosed `[` or `{`) throws, as GoTrue does not start on one.
 */
export function compileRedirectGlob(source: string): RedirectGlob {
  const regex = new GlobReader(lowerCaseOrigin(source)).read();
  const compiled = loadRe2js().compile(`^(?s:${regex})$`);
  return { source, matches: (text) => compiled.matches(text) };
}

/**
 * The glob with its scheme and host in lower case: a redirect_to is matched as the URL parser writes
 * it, host in lower case, so GoTrue's "https://App.example.com/*" (which matches the text as sent)
 * would otherwise match nothing here, and every redirect_to meant for it lead to the site URL.
 */
function lowerCaseOrigin(source: string): string {
  const origin = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/iu.exec(source)?.[0] ?? '';
  return origin.toLowerCase() + source.slice(origin.length);
}

class GlobReader {
  private at = 0;
  private depth = 0;

  constructor(private readonly source: string) {}

  read(): string {
    const regex = this.sequence();
    if (this.at < this.source.length) throw this.error(`unexpected ${this.source[this.at]}`);
    return regex;
  }

  /** Items up to the end, or inside `{...}` up to its `,` or `}`. */
  private sequence(): string {
    let regex = '';
    while (this.at < this.source.length) {
      const char = this.source[this.at]!;
      if (this.depth > 0 && (char === ',' || char === '}')) break;
      this.at += 1;
      if (char === '*') {
        if (this.source[this.at] === '*') {
          this.at += 1;
          regex += '.*';
        } else regex += `${NON_SEPARATOR}*`;
      } else if (char === '?') regex += NON_SEPARATOR;
      else if (char === '[') regex += this.characterClass();
      else if (char === '{') regex += this.alternatives();
      else if (char === '\\') {
        // gobwas drops a trailing lone backslash.
        if (this.at < this.source.length) regex += literal(this.source[this.at++]!);
      } else regex += literal(char);
    }
    return regex;
  }

  private alternatives(): string {
    this.depth += 1;
    const choices = [this.sequence()];
    while (this.source[this.at] === ',') {
      this.at += 1;
      choices.push(this.sequence());
    }
    if (this.source[this.at] !== '}') throw this.error('a { without its }');
    this.at += 1;
    this.depth -= 1;
    return `(?:${choices.join('|')})`;
  }

  /** After `[`: `!` once, then either one range `a-z` or a list of characters (`\` escapes one), then `]`. */
  private characterClass(): string {
    const negated = this.source[this.at] === '!';
    if (negated) this.at += 1;
    const chars = [...this.source.slice(this.at)];
    let body: string;
    if (chars.length >= 3 && chars[1] === '-') {
      body = `${literal(chars[0]!)}-${literal(chars[2]!)}`;
      this.at += chars[0]!.length + 1 + chars[2]!.length;
    } else {
      body = '';
      while (this.at < this.source.length && this.source[this.at] !== ']') {
        if (this.source[this.at] === '\\') this.at += 1;
        const char = this.source.codePointAt(this.at);
        if (char === undefined) break;
        const text = String.fromCodePoint(char);
        body += literal(text);
        this.at += text.length;
      }
    }
    if (this.source[this.at] !== ']' || body === '')
      throw this.error('a [ without its ] or with nothing in it');
    this.at += 1;
    return `[${negated ? '^' : ''}${body}]`;
  }

  private error(reason: string): Error {
    return new Error(`${JSON.stringify(this.source)} is not a glob GoTrue compiles: ${reason}`);
  }
}
