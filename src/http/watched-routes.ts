import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { readRoutesFile } from '../config/formats/json-server.js';
import { createRewriter } from '../data/rewrite.js';

type Rewriter = (url: string) => string;

/**
 * json-server's routes.json rewrites, read again when the file changes under
 * --watch (as json-server restarted on it). A file that does not load (not
 * valid JSON, not an object of strings) is reported and the rules in force stay.
 */
export class WatchedRoutes {
  private rewriter: Rewriter | null;
  private rules: Readonly<Record<string, string>>;
  private watcher: FSWatcher | null = null;

  constructor(routes: Readonly<Record<string, string>>) {
    this.rules = routes;
    this.rewriter = createRewriter(routes);
  }

  /**
   * The rules in force: what GET /__rules and the home page show. Read at each
   * request, never copied at start, so a reload is seen everywhere at once.
   */
  current(): Readonly<Record<string, string>> {
    return this.rules;
  }

  rewrite(url: string): string {
    return this.rewriter === null ? url : this.rewriter(url);
  }

  watch(file: string, log: { info(message: string): void; warn(message: string): void }): void {
    const name = basename(file);
    // The folder: an editor may replace the file rather than write into it.
    this.watcher = watch(dirname(file), (_event, changed) => {
      if (changed !== null && changed !== name) return;
      readRoutesFile(file, file).then(
        (routes) => {
          this.rewriter = createRewriter(routes);
          this.rules = routes;
          log.info(`restauth: ${file} changed: routes reloaded`);
        },
        (error: unknown) =>
          log.warn(`restauth: ${file} changed but is not used: ${(error as Error).message}`),
      );
    });
    this.watcher.on('error', (error) =>
      log.warn(`restauth: cannot watch ${file} any more: ${error.message}`),
    );
  }

  close(): void {
    this.watcher?.close();
  }
}
