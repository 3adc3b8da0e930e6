import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { readRoutesFile } from '../config/formats/json-server.js';
import { parseGuardedRoutes, type GuardedRoutes } from '../data/guards.js';
import { createRewriter } from '../data/rewrite.js';

type Rewriter = (url: string) => string;

/**
 * json-server's routes.json rewrites, read again when the file changes under
 * --watch (as json-server restarted on it), with the access rules its
 * json-server-auth guards give (data/guards.ts). A file that does not load
 * (not valid JSON, not an object of strings, a guard restauth cannot serve)
 * is reported and the rules in force stay; at start it stops the start.
 */
export class WatchedRoutes {
  private rewriter: Rewriter | null;
  private routes: Readonly<Record<string, string>>;
  private guarded: GuardedRoutes;
  private watcher: FSWatcher | null = null;
  private readonly reloadListeners: Array<() => void> = [];

  constructor(
    routes: Readonly<Record<string, string>>,
    /** The configured rules (data.rules): a guard may not contradict them. */
    private readonly explicitRules: Readonly<Record<string, number>>,
    where: string,
  ) {
    this.guarded = parseGuardedRoutes(routes, explicitRules, where);
    this.routes = routes;
    this.rewriter = createRewriter(this.guarded.rewrites);
  }

  /**
   * The routes in force, as written: what GET /__rules and the home page show.
   * Read at each request, never copied at start, so a reload is seen everywhere at once.
   */
  current(): Readonly<Record<string, string>> {
    return this.routes;
  }

  /** The access rules the routes' guards give their collections (`"/posts*": "/664/posts$1"`: posts 664). */
  rules(): Readonly<Record<string, number>> {
    return this.guarded.rules;
  }

  /** Called after the routes file was read again and its rules are in force. */
  onReload(listener: () => void): void {
    this.reloadListeners.push(listener);
  }

  rewrite(url: string): string {
    return this.rewriter === null ? url : this.rewriter(url);
  }

  watch(file: string, log: { info(message: string): void; warn(message: string): void }): void {
    const name = basename(file);
    // The folder: an editor may replace the file rather than write into it.
    this.watcher = watch(dirname(file), (_event, changed) => {
      if (changed !== null && changed !== name) return;
      readRoutesFile(file, file)
        .then((routes) => {
          const guarded = parseGuardedRoutes(routes, this.explicitRules, file);
          this.rewriter = createRewriter(guarded.rewrites);
          this.guarded = guarded;
          this.routes = routes;
          log.info(`restauth: ${file} changed: routes reloaded`);
          for (const listener of this.reloadListeners) listener();
        })
        .catch((error: unknown) =>
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
