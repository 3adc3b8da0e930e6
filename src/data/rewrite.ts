/**
 * json-server's routes.json rewrites (express-urlrewrite): `"/api/*": "/$1"`,
 * `"/:resource/:id/show": "/:resource/:id"`. Each rule is compiled once; the
 * first that matches the path rewrites it, the query string is kept.
 */
interface Rule {
  pattern: RegExp;
  /** One entry per capture group, in order: the parameter's name, or null for a `*`. */
  names: Array<string | null>;
  target: string;
}

function escape(text: string): string {
  return text.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}

function compile(from: string, target: string): Rule {
  const names: Array<string | null> = [];
  let source = '';
  for (const token of from.split(/(\*|:[A-Za-z_][A-Za-z0-9_]*)/)) {
    if (token === '*') {
      names.push(null);
      source += '(.*)';
    } else if (token.startsWith(':')) {
      names.push(token.slice(1));
      source += '([^/?#]+)';
    } else source += escape(token);
  }
  return { pattern: new RegExp(`^${source}$`), names, target };
}

export function createRewriter(routes: Record<string, string>): ((url: string) => string) | null {
  const rules = Object.entries(routes).map(([from, to]) => compile(from, to));
  if (rules.length === 0) return null;
  return (url) => {
    const queryAt = url.indexOf('?');
    const path = queryAt === -1 ? url : url.slice(0, queryAt);
    const query = queryAt === -1 ? '' : url.slice(queryAt);
    for (const rule of rules) {
      const match = rule.pattern.exec(path);
      if (!match) continue;
      let target = rule.target.replace(/\$(\d+)/g, (_, n: string) => match[Number(n)] ?? '');
      rule.names.forEach((name, index) => {
        if (name !== null) target = target.replaceAll(`:${name}`, match[index + 1] ?? '');
      });
      // The target may carry its own query (e.g. "/posts?author=:name"); then join the two.
      if (query && target.includes('?')) return `${target}&${query.slice(1)}`;
      return target + query;
    }
    return url;
  };
}
