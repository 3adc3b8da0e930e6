import { isServed } from './context.js';

/**
 * What json-server printed once it listened: its resources as URLs, the
 * custom routes and the home page. The names of the document's resources
 * only, never their content.
 */
export function resourceNames(data: object): string[] {
  return Object.entries(data)
    .filter(([name, value]) => isServed(name) && typeof value === 'object' && value !== null)
    .map(([name]) => name);
}

export function resourceBanner(url: string, data: object, routes: Readonly<Record<string, string>>): string {
  const lines = [
    '',
    '  Resources',
    ...resourceNames(data).map((name) => `  ${url}/${encodeURIComponent(name)}`),
  ];
  const rules = Object.entries(routes);
  if (rules.length > 0) lines.push('', '  Other routes', ...rules.map(([from, to]) => `  ${from} -> ${to}`));
  lines.push('', '  Home', `  ${url}`, '');
  return lines.join('\n');
}
