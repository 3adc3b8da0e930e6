import { createHash } from 'node:crypto';
import { escapeHtml } from '../../lib/escape-html.js';

/**
 * The frame of every hosted page: no JavaScript, no external asset, one
 * inline style allowed by its hash, readable on a phone, visible focus.
 */
const STYLE = `
body { margin: 0; font: 1.05rem/1.5 system-ui, sans-serif; color: #111; background: #f4f4f5;
  overflow-wrap: anywhere; }
main { max-width: 26rem; margin: 3rem auto; padding: 2rem; background: #fff; border-radius: 0.5rem;
  box-shadow: 0 1px 3px rgba(0, 0, 0, 0.15); }
h1 { font-size: 1.5rem; margin-top: 0; }
label { display: block; margin-top: 1rem; font-weight: 600; }
input { display: block; box-sizing: border-box; width: 100%; margin-top: 0.25rem; padding: 0.6rem;
  font: inherit; border: 1px solid #555; border-radius: 0.25rem; }
button { margin-top: 1.5rem; padding: 0.7rem 1.2rem; font: inherit; font-weight: 600; color: #fff;
  background: #1d4ed8; border: 0; border-radius: 0.25rem; cursor: pointer; }
a { color: #1d4ed8; }
:focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }
.alert { padding: 0.75rem; border: 1px solid #b91c1c; border-radius: 0.25rem; color: #7f1d1d; background: #fef2f2; }
`;

const STYLE_HASH = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;

/**
 * The pages' Content-Security-Policy: nothing runs, nothing loads, forms
 * post only to restauth, and the redirect a form's answer leads to (browsers
 * apply form-action to it) only to `redirectOrigin`, the allowed app.
 */
export function pageCsp(redirectOrigin: string | null = null): string {
  return [
    "default-src 'none'",
    `style-src ${STYLE_HASH}`,
    `form-action 'self'${redirectOrigin ? ` ${redirectOrigin}` : ''}`,
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * The pages' Referrer-Policy, in their header and their `<meta>` alike (the `<meta>` wins). Their
 * URLs carry tokens: `same-origin` sends a Referer to restauth only, never to another site, nor down
 * a redirect to one (a browser judges the policy again at each hop). `no-referrer`, used before,
 * made Chromium send `Origin: null` with the page's own form, as a sandboxed frame's would; the
 * form's POST is checked by its real `Origin` now (http/form-from-own-page.ts).
 */
export const REFERRER_POLICY = 'same-origin';

/** The policy for a page whose form leads nowhere but restauth itself. */
export const PAGE_CSP = pageCsp();

export function layout(appName: string, title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="${REFERRER_POLICY}">
<title>${escapeHtml(title)} · ${escapeHtml(appName)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
${body}
</main>
</body>
</html>
`;
}
