import { existsSync } from 'node:fs';
import { join } from 'node:path';
// Its types only (reply.sendFile): the plugin is imported when a static folder is there.
import type {} from '@fastify/static';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { DataSettings } from './settings.js';
import { DataError, isDataError } from './errors.js';
import { isRead } from './read-methods.js';
import { bearerToken } from '../lib/bearer-token.js';
import type { DocumentStore } from '../core/ports/documents.js';
import type { Caller, Decision, Operation } from './access.js';
import { isRow } from './collections.js';
import { AUTH_PREFIX, DataContext, isServed } from './context.js';
import { assertStorable } from './limits.js';
import { formFields } from '../lib/form-fields.js';
import { create, destroy, list, show, update, type PluralRequest } from './plural.js';
import { all, type Query } from './query.js';
import { listV1, relationsOf } from './plural-v1.js';
import { singular } from './singular.js';
import { nestedRoute } from './nested.js';
import { delayOf, sleep, type Sleep } from './delay.js';
import { RULES_PATH } from './rewrite.js';
import { jsonpCallback, jsonpScript } from './jsonp.js';
import { assertServableDocument } from './document-check.js';
import { unmatchedRules } from './unmatched-rules.js';
import { privateFiles, type PrivateNames } from './private-files.js';
import { HOME_PAGE_CSP, renderHomePage, type AuthRoute, type HomeResource } from './home-page.js';

/**
 * The json-server compatible REST API over a JSON document (db.json in file
 * mode), behind restauth's tokens and per-collection access rules. Mounted
 * after the auth dialects; their fixed routes win over this catch-all.
 */
export interface DataApiOptions {
  documents: DocumentStore;
  config: DataSettings;
  usersProp: string;
  userIdProp: string;
  /**
   * Verifies a bearer token (AuthService.check): the caller, or null when the
   * token is not honoured (answered 401). Rejects only when it cannot tell
   * (the store unreachable): the app's error reply answers that.
   */
  authenticate(token: string): Promise<Caller | null>;
  /** Largest record the API stores, in bytes of JSON (the app's body limit: what one POST may carry). */
  maxRecordBytes: number;
  /** The server's public address (publicUrl() of the config): Location and Link point there, never at Host. */
  publicUrl: string;
  /** How `delay` and `_delay` wait (tests record the milliseconds asked); default: a timer. */
  sleep?: Sleep;
  /** The routes that give a token, shown on the home page (`GET /`). */
  authRoutes?: () => readonly AuthRoute[];
  /** The document's name in messages (the db.json path); default "db.json". */
  source?: string;
  /**
   * The rewrite rules in force (the routes file as last read, see http/watched-routes.ts), shown by
   * GET /__rules and the home page; default: `config.routes`. A function: a reload under --watch
   * changes them while the server runs.
   */
  routes?: () => Readonly<Record<string, string>>;
  /** The access rules the routes file's json-server-auth guards give (data/guards.ts), as last reloaded. */
  routeRules?: () => Readonly<Record<string, number>>;
  /** The json-server-auth guard the request's URL named (`/664/posts`, taken off before routing), or null. */
  guardOf?: (request: FastifyRequest) => number | null;
  /**
   * Whether a routes.json rule or a json-server-auth guard rewrote the request's URL: such a URL reaches
   * the data routes only, never the home page nor a static file, as in json-server (its static files
   * were served before its rewriter, its home page was one of them, and its router served neither).
   */
  wasRewritten?: (request: FastifyRequest) => boolean;
  /** Field indexes kept per collection (field-index.ts; default 8, 0: filtered lists scan). */
  maxIndexedFields?: number;
  /**
   * restauth's own files and folders (db.json, credentials.json, the audit log, the config file, the
   * state folder): never served from the static folder, whatever path or link leads there.
   */
  privatePaths?: readonly string[];
  /** restauth's own files among others in a folder, by name (the snapshots of db.json): never served either. */
  privateNames?: readonly PrivateNames[];
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
/** The route patterns the data API answers under: a guarded URL (http/guarded-paths.ts) reaches these only. */
export const DATA_API_URLS: ReadonlySet<string> = new Set(['/', '/*']);
const NO_AUTHORIZATION = JSON.stringify('No authorization');

function segmentsOf(url: string): string[] {
  const query = url.indexOf('?');
  const segments = (query === -1 ? url : url.slice(0, query)).split('/').filter(Boolean);
  // Without a '%' there is nothing to decode (most paths): this runs for every data-API request.
  if (!url.includes('%')) return segments;
  try {
    return segments.map(decodeURIComponent);
  } catch {
    throw new DataError('validation_failed', 'Malformed percent-encoding in the path');
  }
}

export const dataApi: FastifyPluginAsync<DataApiOptions> = async (app, options) => {
  assertServableDocument(options.documents.data, options.source ?? 'db.json');
  // A db.json saved by hand under --watch is refused for what refuses the start: no data unreachable.
  options.documents.checkEdits((data) => assertServableDocument(data, options.source ?? 'db.json'));
  const ctx = new DataContext(
    options.documents,
    options.config,
    options.usersProp,
    options.userIdProp,
    options.maxRecordBytes,
    options.publicUrl.replace(/\/+$/u, ''),
    options.routeRules,
    options.maxIndexedFields,
  );
  for (const warning of unmatchedRules(options.config.rules, options.documents.data, options.usersProp))
    app.log.warn(warning);
  const hasStatic = existsSync(options.config.static);
  const isPrivate = privateFiles(options.privatePaths ?? [], options.privateNames ?? []);
  /** A file of the static folder, or 404 for one of restauth's own files (privatePaths). */
  const sendStatic = async (reply: FastifyReply, path: string) => {
    if (await isPrivate(join(options.config.static, path))) return reply.callNotFound();
    return reply.sendFile(path);
  };
  const wait = options.sleep ?? sleep;
  const currentRoutes = options.routes ?? (() => options.config.routes);
  // Closing ends every delay under way: a request waiting out its _delay never holds the shutdown.
  const closing = new AbortController();
  app.addHook('preClose', (done) => {
    closing.abort();
    done();
  });
  // json-server's "no cache for IE" headers on every data answer; a static file keeps its own caching.
  // (nosniff, which json-server's res.jsonp sent, is on every answer of restauth: security-headers.ts.)
  // JSONP reads (jsonp.ts): the callback each one named, once the request has been checked.
  const callbacks = new WeakMap<FastifyRequest, string>();
  app.addHook('onSend', (request, reply, payload, done) => {
    if (!reply.hasHeader('cache-control')) {
      void reply.header('Cache-Control', 'no-cache').header('Pragma', 'no-cache').header('Expires', '-1');
    }
    const callback = callbacks.get(request);
    const json = typeof payload === 'string' || Buffer.isBuffer(payload) ? payload.toString() : null;
    if (callback === undefined || json === null || !/json/u.test(String(reply.getHeader('content-type'))))
      return done(null, payload);
    void reply.type('text/javascript; charset=utf-8');
    done(null, jsonpScript(callback, json));
  });
  if (hasStatic) {
    const fastifyStatic = (await import('@fastify/static')).default;
    // Dotfiles are never served, as json-server's express.static never did: `--static .` holds the .env
    // restauth reads (the JWT secret), the journals of db.json and credentials.json (records, password
    // hashes), its lock and temp files, and a project's .git. @fastify/static's default serves them.
    await app.register(fastifyStatic, { root: options.config.static, serve: false, dotfiles: 'ignore' });
  }

  // Bodies are parsed here, not by Fastify's parser: a "__proto__" key then gets a 400 naming it
  // (JSON.parse makes it an own property, harmless until refused), and depth is checked before any
  // handler sees the body. JSON.parse itself does not recurse, so no depth makes it overflow.
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, text, done) => {
    const source = typeof text === 'string' ? text : text.toString('utf8');
    // An empty JSON body is an empty object, as json-server's body parser reads it.
    if (source.trim() === '') return done(null, {});
    let body: unknown;
    try {
      body = JSON.parse(source);
    } catch {
      return done(new DataError('invalid_json', 'The request body is not valid JSON'), undefined);
    }
    try {
      assertStorable(body);
    } catch (error) {
      return done(error as Error, undefined);
    }
    done(null, body);
  });

  // A form is a record as json-server's urlencoded parser read it: a field given twice is a list. Its
  // fields are checked as a JSON body's are, so a "__proto__" field is refused here too.
  app.removeContentTypeParser('application/x-www-form-urlencoded');
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_request, text, done) => {
      const { fields } = formFields(typeof text === 'string' ? text : text.toString('utf8'));
      try {
        assertStorable(fields);
      } catch (error) {
        return done(error as Error, undefined);
      }
      done(null, fields);
    },
  );

  app.setErrorHandler((error, _request, reply) => {
    // Anything but the data API's own refusal (a store fault, a full disk, a body over the limit) goes to
    // the app's error reply, which answers it in the same { error, message } shape.
    if (!isDataError(error)) throw error;
    // json-data-server's answer to a missing or refused token: the JSON string "No authorization".
    if (error.status === 401) {
      return reply.code(401).type('application/json; charset=utf-8').send(NO_AUTHORIZATION);
    }
    return reply.code(error.status).send({ error: error.code, message: error.message });
  });

  const callerOf = async (request: FastifyRequest): Promise<Caller | null> => {
    const header = request.headers.authorization;
    if (header === undefined) return null;
    const token = bearerToken(header);
    const caller = token === null ? null : await options.authenticate(token);
    if (caller === null) throw new DataError('no_authorization', 'No authorization');
    return caller;
  };

  const handle = async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const segments = segmentsOf(request.url);
    const [name, id, nested] = segments;
    if (name === AUTH_PREFIX) return reply.callNotFound();
    const query = request.query as Query;
    const callback = options.config.jsonp && isRead(request) ? jsonpCallback(query) : null;
    if (callback !== null) {
      // A script any page may load carries public data only (jsonp.ts).
      if (request.headers.authorization !== undefined)
        throw new DataError('validation_failed', 'JSONP (callback) answers reads without a token only');
      callbacks.set(request, callback);
    }
    const delay = delayOf(query, options.config.delay);
    if (delay > 0) await wait(delay, closing.signal);
    await ctx.documents.beforeRead();
    const operation: Operation = isRead(request) ? 'read' : 'write';
    if (operation === 'write' && options.config.readOnly)
      throw new DataError('forbidden', 'The data API is read-only');

    // A rewrite leads past whatever a proxy in front keeps from the internet by its path (`/admin/`
    // pages of the static folder): a rewritten URL is a data route or nothing (DataApiOptions.wasRewritten).
    const pageOrFile = isRead(request) && options.wasRewritten?.(request) !== true;
    if (name === undefined && pageOrFile) {
      // The static folder's own index.html wins, as in json-server; else restauth's home page.
      if (hasStatic && existsSync(join(options.config.static, 'index.html')))
        return sendStatic(reply, 'index.html');
      // Its sizes are a read as any other: none counts a record whose write the disk may yet refuse.
      await ctx.documents.settled();
      return reply
        .type('text/html; charset=utf-8')
        .header('Content-Security-Policy', HOME_PAGE_CSP)
        .send(
          renderHomePage({
            resources: resources(ctx),
            routes: currentRoutes(),
            authRoutes: options.authRoutes?.() ?? [],
          }),
        );
    }
    if (name === undefined || (name !== 'db' && ctx.collection(name) === undefined) || segments.length > 3) {
      if (pageOrFile && hasStatic) return sendStatic(reply, segments.join('/') || 'index.html');
      return reply.code(404).send(ctx.notFound());
    }
    const caller = await callerOf(request);
    const guard = options.guardOf?.(request) ?? null;
    // Nothing is awaited from here to the read: a write the disk has not taken yet is not answered.
    await ctx.documents.settled();

    if (name === 'db' && ctx.collection('db') === undefined) {
      if (!isRead(request) || segments.length > 1) return reply.code(404).send(ctx.notFound());
      return wholeDocument(ctx, caller);
    }
    const value = ctx.collection(name);
    if (!Array.isArray(value)) {
      if (segments.length > 1 || !isRow(value)) return reply.code(404).send(ctx.notFound());
      if (ctx.allow(name, operation, caller, guard).scope === 'own') {
        throw new DataError(
          'forbidden',
          `${name} has no owner: an owner-only rule lets nobody ${operation} it`,
        );
      }
      return singular(ctx, name, request, reply, ctx.mayRead(name, null, caller, guard));
    }

    if (nested !== undefined && id !== undefined) {
      // /posts/1/comments: the children of post 1, once post 1 answers as GET /posts/1 would (nested.ts).
      if (!isRead(request) && request.method !== 'POST') return reply.code(404).send(ctx.notFound());
      if (ctx.rows(nested) === null) return reply.code(404).send(ctx.notFound());
      return nestedRoute({ ctx, name: nested, caller, request, reply, query, parent: { name, id }, guard });
    }

    const req: PluralRequest = { ctx, name, caller, request, reply, query, guard };
    const decision = ctx.allow(name, operation, caller, guard);
    const v1 = options.config.jsonServer === '1';
    if (id === undefined) {
      if (isRead(request)) return v1 ? listV1(req, decision) : list(req, decision);
      if (request.method === 'POST') return create(req, decision);
      throw new DataError('method_not_allowed', `${request.method} needs a record id: /${name}/:id`);
    }
    switch (request.method) {
      case 'GET':
      case 'HEAD':
        return show(v1 ? { ...req, query: relationsOf([...new Set(all(query._embed))]) } : req, id, decision);
      case 'PUT':
        return update(req, id, decision, true);
      case 'PATCH':
        return update(req, id, decision, false);
      case 'DELETE':
        return destroy(req, id, decision);
      default:
        throw new DataError('method_not_allowed', 'Method not allowed');
    }
  };

  // json-server answers its rewrite rules when it has some (GET only; without rules this is answered as any
  // other unknown name). The rules are the operator's configuration, no secret: json-server showed them.
  // Registered whatever the rules at start: a routes file reloaded under --watch may add the first ones.
  app.get(RULES_PATH, async (request, reply) => {
    const rules = currentRoutes();
    return Object.keys(rules).length > 0 ? rules : handle(request, reply);
  });
  for (const url of DATA_API_URLS) app.route({ method: [...METHODS], url, handler: handle });
};

/**
 * The home page's resources as anyone sees them: a count only where reading
 * needs no token (a private collection's size, such as the number of users,
 * is not told to whoever asks).
 */
function resources(ctx: DataContext): HomeResource[] {
  const out: HomeResource[] = [];
  for (const [name, value] of Object.entries(ctx.documents.data)) {
    if (!isServed(name) || (!Array.isArray(value) && !isRow(value))) continue;
    let readable: boolean;
    try {
      readable = ctx.allow(name, 'read', null).scope === 'all';
    } catch {
      readable = false;
    }
    out.push({ name, size: !readable ? null : Array.isArray(value) ? value.length : 'object' });
  }
  return out;
}

/**
 * GET /db: the collections the caller may read (an owner rule: only their
 * records), user records without secrets. credentials.json is another
 * document and never reachable. Without a token, and nothing public: 401.
 */
function wholeDocument(ctx: DataContext, caller: Caller | null): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  let refused: DataError | null = null;
  for (const [name, value] of Object.entries(ctx.documents.data)) {
    // Exactly what the routes serve: not "auth" (the dialects' path), not a prototype-reaching name.
    if (!isServed(name)) continue;
    let decision: Decision;
    try {
      decision = ctx.allow(name, 'read', caller);
    } catch (error) {
      refused ??= error as DataError;
      continue;
    }
    if (!Array.isArray(value)) {
      // A singular resource has no owner: under an owner-only rule nobody reads it.
      // eslint-disable-next-line no-restricted-syntax -- `out` has no prototype, and `name` passed isServed (no prototype key)
      if (decision.scope === 'all') out[name] = value;
      continue;
    }
    // eslint-disable-next-line no-restricted-syntax -- `out` has no prototype, and `name` passed isServed (no prototype key)
    out[name] = (value as unknown[])
      .filter((row) => isRow(row) && ctx.isOwn(name, row, decision))
      .map((row) => ctx.present(name, row as Record<string, unknown>));
  }
  if (refused && Object.keys(out).length === 0) throw refused;
  return out;
}
