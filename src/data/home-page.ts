import { createHash } from 'node:crypto';
import { escapeHtml } from '../lib/escape-html.js';

/**
 * `GET /`: what json-server's home page showed (the resources, the custom
 * routes), plus how to get and send a token. Rendered on the server with
 * every name escaped (json-server's page put db.json's keys into innerHTML),
 * no script at all, and a CSP that allows only its own inline style.
 */
export interface HomeResource {
  name: string;
  /** Records in a collection, 'object' for a singular resource, null when reading it needs a token. */
  size: number | 'object' | null;
}

/** A route that gives a token, as a curl-like line: `POST /auth/login {"username": ..., "password": ...}`. */
export interface AuthRoute {
  label: string;
  method: string;
  path: string;
  body: Record<string, string>;
}

export interface HomePage {
  resources: HomeResource[];
  routes: Readonly<Record<string, string>>;
  authRoutes: readonly AuthRoute[];
}

const STYLE = `
body { margin: 0; font: 1rem/1.5 system-ui, sans-serif; color: #111; background: #f4f4f5; overflow-wrap: anywhere; }
main { max-width: 44rem; margin: 2rem auto; padding: 1.5rem 2rem; background: #fff; border-radius: 0.5rem;
  box-shadow: 0 1px 3px rgba(0, 0, 0, 0.15); }
h1 { font-size: 1.5rem; margin-top: 0; } h2 { font-size: 1.15rem; margin-top: 1.5rem; }
code, pre { font-family: ui-monospace, monospace; background: #f4f4f5; padding: 0.1rem 0.3rem; border-radius: 0.2rem; }
pre { padding: 0.6rem; overflow-x: auto; }
sup { color: #555; margin-left: 0.3rem; }
a { color: #1d4ed8; }
:focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }
`;

/** Nothing loads or runs but the page's own style. */
export const HOME_PAGE_CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function sizeOf(size: HomeResource['size']): string {
  if (size === null) return 'needs a token';
  if (size === 'object') return 'object';
  return `${size}x`;
}

function resourceList(resources: HomeResource[]): string {
  if (resources.length === 0) return '<p>No resources found</p>';
  const items = resources.map(({ name, size }) => {
    const path = `/${encodeURIComponent(name)}`;
    return `<li><a href="${escapeHtml(path)}">/${escapeHtml(name)}</a> <sup>${sizeOf(size)}</sup></li>`;
  });
  return `<ul id="resources">\n${items.join('\n')}\n</ul>`;
}

function routeTable(routes: Readonly<Record<string, string>>): string {
  const rows = Object.entries(routes).map(
    ([from, to]) =>
      `<tr><td><code>${escapeHtml(from)}</code></td><td>⇢ <code>${escapeHtml(to)}</code></td></tr>`,
  );
  if (rows.length === 0) return '';
  return `<h2>Custom routes</h2>\n<table id="routes">\n${rows.join('\n')}\n</table>`;
}

function authentication(routes: readonly AuthRoute[]): string {
  if (routes.length === 0) return '';
  const lines = routes.map(
    ({ label, method, path, body }) =>
      `<dt>${escapeHtml(label)}</dt><dd><code>${escapeHtml(`${method} ${path} ${JSON.stringify(body)}`)}</code></dd>`,
  );
  return `<h2>Authentication</h2>
<dl id="authentication">
${lines.join('\n')}
</dl>
<p>Then send the access token the answer holds with every request:
<code>Authorization: Bearer &lt;access token&gt;</code>. Collections marked
<em>needs a token</em> answer <code>401</code> without one.</p>`;
}

export function renderHomePage(page: HomePage): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>restauth</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>restauth</h1>
<p>A json-server compatible REST API behind restauth's tokens. Any HTTP method works:
<code>GET</code> <code>POST</code> <code>PUT</code> <code>PATCH</code> <code>DELETE</code>.</p>
<h2>Resources</h2>
${resourceList(page.resources)}
${routeTable(page.routes)}
${authentication(page.authRoutes)}
</main>
</body>
</html>
`;
}
