import { loadRe2js } from '../lib/re2.js';

/**
 * json-server's routes.json rewrites (express-urlrewrite): `"/api/*": "/$1"`,
 * `"/:resource/:id/show": "/:resource/:id"`, and rules that match the query
 * string, `"/articles\\?_id=:id": "/posts/:id"` (an escaped `?`). Each rule is
 * compiled once; the first that matches rewrites the URL. A rule on the path
 * keeps the request's query string; a rule on the query string consumes it,
 * as json-server's did. `GET /__rules` (the rules as JSON) is never rewritten.
 */
/** A compiled rule's matcher: its groups as RegExp.exec gives them (an unmatched one empty), or null. */
interface Pattern {
  exec(text: string): ReadonlyArray<string | null | undefined> | null;
}

interface Rule {
  pattern: Pattern;
  /** One entry per capture group, in order: the parameter's name, or null for a `*`. */
  names: Array<string | null>;
  target: string;
  /** The rule names a query string (`\?` in it): it is matched against the whole URL. */
  matchesQuery: boolean;
}

/** json-server answers the rules at this path, before any rewrite. */
export const RULES_PATH = '/__rules';

function escape(text: string): string {
  return text.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}

function compile(from: string, target: string): Rule {
  const names: Array<string | null> = [];
  const matchesQuery = from.includes('\\?');
  // A parameter stops at the next segment, and in a query string at the next parameter too.
  const parameter = matchesQuery ? '([^/?#&]+)' : '([^/?#]+)';
  let source = '';
  for (const token of from.split(/(\\.|\*|:[A-Za-z_][A-Za-z0-9_]*)/)) {
    if (token === '*') {
      names.push(null);
      source += '(.*)';
    } else if (token.startsWith(':')) {
      names.push(token.slice(1));
      source += parameter;
    } else if (token.startsWith('\\')) source += escape(token.slice(1));
    else source += escape(token);
  }
  return { pattern: matcher(`^${source}$`, names.length), names, target, matchesQuery };
}

/**
 * A rule with one wildcard or parameter matches in linear time on the native engine. With two or more
 * (three stars, or `/:a-:b`) the groups can split the URL many ways, and a backtracking engine tries
 * each before it fails: a rule of three stars and a trailing `/x` took 16.5 s on a 4 KB URL not ending
 * in `/x`, stalling every request. Those rules match on RE2 (linear whatever the URL), with the same
 * groups (leftmost-first).
 */
function matcher(source: string, groups: number): Pattern {
  if (groups < 2) return new RegExp(source);
  const RE2JS = loadRe2js();
  const compiled = RE2JS.compile(source);
  return {
    exec(text) {
      const found = compiled.matcher(text);
      if (!found.matches()) return null;
      return Array.from({ length: groups + 1 }, (_, index) => found.group(index));
    },
  };
}

export function createRewriter(routes: Record<string, string>): ((url: string) => string) | null {
  const rules = Object.entries(routes).map(([from, to]) => compile(from, to));
  if (rules.length === 0) return null;
  return (url) => {
    const queryAt = url.indexOf('?');
    const path = queryAt === -1 ? url : url.slice(0, queryAt);
    const query = queryAt === -1 ? '' : url.slice(queryAt);
    if (path === RULES_PATH) return url;
    for (const rule of rules) {
      const match = rule.pattern.exec(rule.matchesQuery ? url : path);
      if (!match) continue;
      let target = rule.target.replace(/\$(\d+)/g, (_, n: string) => match[Number(n)] ?? '');
      rule.names.forEach((name, index) => {
        if (name !== null) target = target.replaceAll(`:${name}`, match[index + 1] ?? '');
      });
      if (rule.matchesQuery) return target;
      // The target may carry its own query (e.g. "/posts?author=:name"); then join the two.
      if (query && target.includes('?')) return `${target}&${query.slice(1)}`;
      return target + query;
    }
    return url;
  };
}
