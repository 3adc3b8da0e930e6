import cors from '@fastify/cors';
import formbody from '@fastify/formbody';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Logger } from 'pino';
import type { Services } from '../compose.js';
import { isAuthError } from '../core/errors.js';
import { dataApi } from '../data/index.js';
import type { Sleep } from '../data/delay.js';
import type { AuthRoute } from '../data/home-page.js';
import type { Config } from '../config/schema.js';
import { gotrueDialect } from './dialects/gotrue.js';
import { jsonDataServerDialect } from './dialects/json-data-server.js';
import { jsonServerAuthDialect } from './dialects/json-server-auth.js';
import { UserRecords } from './dialects/json-server-auth-users.js';
import { postgrestAuthDialect } from './dialects/postgrest-auth.js';
import { JsonServerAuthSwitch } from './json-server-auth-detect.js';
import { stripGuard } from '../data/guards.js';
import { confineRewrites, GUARD_TARGETS, ROUTES_FILE_TARGETS } from './guarded-paths.js';
import { restauthErrorFormat, useErrorReply } from './errors.js';
import { parseFormBody } from './form-body.js';
import { noStore } from './no-store.js';
import { securityHeaders } from './security-headers.js';
import { originForm } from './origin-form.js';
import { plainAuthAnswers, useCompression } from './compression.js';
import { parseJsonBodies } from './json-body.js';
import { useMiddlewares } from './middlewares.js';
import { WatchedRoutes } from './watched-routes.js';
import { healthRoutes } from './health.js';
import { LazyValidators } from './lazy-validators.js';
import { deferredChildLogger, RequestLineLogController, requestLineLogger } from './logging.js';
import { observeRequests } from './metrics.js';
import { dropStalledReaders } from './stalled-readers.js';
import { capConnections, capConnectionsPerClient, onceAMinute } from './connection-cap.js';
import { compile as compileProxyAddresses } from '@fastify/proxy-addr';
import { watchDroppedConnections } from './dropped-connections.js';
import { RequestsInFlight, SHUTDOWN_GRACE_MS } from './in-flight.js';
import { maxHeaderBytes } from './header-limit.js';
import { answerClientError, refuseExpectation, refuseOverHeaderBudget } from './client-errors.js';
import { boundUnfinishedHeaders } from './header-budget.js';
import { answerFrameworkError, refuseBeforeHandlers } from './early-refusals.js';
import { boundRequestBodies, RequestBodyBudget } from './body-budget.js';
import { registerOpenApi } from './openapi.js';
import { rateLimitHook } from './rate-limit.js';
import { RedirectPolicy } from './redirects.js';
import { compileRedirectGlob } from '../lib/redirect-glob.js';
import { restauthFiles } from './restauth-files.js';
import { hideRoutes } from './route-docs.js';
import { confirmEmailRequired, publicUrl } from '../compose.js';
import { originOf } from './form-from-own-page.js';

export interface AppOptions {
  /** The server's logger (see logging.ts); none: nothing is logged. */
  logger?: Logger;
  /** How the data API waits out `delay` and `_delay` (tests record it); default: a timer. */
  sleep?: Sleep;
  /** Field indexes the data API keeps per collection (default 8; 0 scans every filtered list, as tests compare). */
  maxIndexedFields?: number;
  /** Compiles the routes' schemas on first use (default: a new one; a test passes its own to compile them all). */
  validators?: LazyValidators;
}

/**
 * The Fastify app: one plugin per dialect, each formatting errors its own
 * way; this file only sets the shared ground rules (body limit, strict
 * schema validation, JSON errors elsewhere, no stack traces).
 */
export async function buildApp(services: Services, options: AppOptions = {}): Promise<FastifyInstance> {
  const { config } = services;
  const routes = config.data.enabled
    ? new WatchedRoutes(config.data.routes, config.data.rules, config.data.routesFile ?? 'data.routes')
    : null;
  const documents = services.documents;
  const jsonServerAuth = new JsonServerAuthSwitch(
    config,
    () => routes?.current() ?? config.data.routes,
    () => documents?.data ?? null,
    (message) => options.logger?.info(message),
  );
  // Under --watch the project may become json-server-auth's while restauth runs: its routes follow.
  routes?.onReload(() => jsonServerAuth.update());
  documents?.onReload(() => jsonServerAuth.update());
  // json-server-auth's guard in a request's own URL (`GET /664/posts`): taken off before routing, and
  // kept for the data API, which serves the collection under the stricter of it and the collection's rule.
  const guards = new WeakMap<object, number>();
  // The routes a rewritten request may reach (guarded-paths.ts).
  const rewrittenTo = new WeakMap<object, ReadonlySet<string>>();
  const rewriteUrl = (request: { url?: string; originalUrl?: string }): string => {
    // The path the client asked for, whichever form it sent (origin-form.ts); the original a rewrite keeps.
    const target = originForm(request.url ?? '/');
    if (target !== request.url) request.originalUrl = target;
    const url = routes ? routes.rewrite(target) : target;
    if (url !== target) rewrittenTo.set(request, ROUTES_FILE_TARGETS);
    const guarded = jsonServerAuth.mounted ? stripGuard(url) : null;
    if (guarded === null) return url;
    guards.set(request, guarded.guard);
    rewrittenTo.set(request, GUARD_TARGETS);
    return guarded.url;
  };
  // request.ip reads X-Forwarded-For through these proxies only: the nearest N hops (what Fastify does with
  // a number, which its types do not list), or these addresses (a copy: the config is frozen).
  const hops = config.trustProxy;
  const trustProxy: FastifyServerOptions['trustProxy'] =
    hops === false ? false : typeof hops === 'number' ? (_address, hop) => hop < hops : [...hops];
  const app = Fastify({
    // An absolute-form target made a path, json-server's routes.json rewrites, and json-server-auth's
    // guards, applied before routing.
    rewriteUrl,
    // json-server-auth's routes are registered when they may ever be served, and match only while they
    // are (JsonServerAuthSwitch): until then POST /users, /login... are the data API's, as before.
    ...(jsonServerAuth.mayMount
      ? { routerOptions: { constraints: { jsonServerAuth: whileServed(() => jsonServerAuth.mounted) } } }
      : {}),
    ...(options.logger
      ? {
          loggerInstance: options.logger as FastifyBaseLogger,
          logController: new RequestLineLogController(requestLineLogger(options.logger)),
          // request.log is built when something logs through it, not for every request (logging.ts).
          childLoggerFactory: deferredChildLogger,
        }
      : { logger: false }),
    bodyLimit: config.bodyLimit,
    // Every request is bounded, headers and body: Fastify's default requestTimeout is 0 (none), and a
    // client sending its body slowly or never held its connection and its request (which shutdown waits
    // for) for ever. Node looks for expired requests every connectionsCheckingInterval (default 30 s):
    // a quarter of the bound keeps the cut within 1.25 times it.
    requestTimeout: config.requestTimeout * 1000,
    keepAliveTimeout: config.keepAliveTimeout * 1000,
    http: {
      // Also here: Fastify sets its requestTimeout on the server after creating it, and Node refuses a
      // headersTimeout above the requestTimeout it is created with (300 s by default): a bound over
      // 300 s failed the start.
      requestTimeout: config.requestTimeout * 1000,
      headersTimeout: config.requestTimeout * 1000,
      connectionsCheckingInterval: Math.min(30_000, config.requestTimeout * 250),
      // Every access token restauth issues is taken back (header-limit.ts).
      maxHeaderSize: maxHeaderBytes(config.bodyLimit),
      // A request without Host is refused by refuseBeforeHandlers, in the reply with the security headers.
      requireHostHeader: false,
    },
    // Reject wrong types instead of coercing them ("123" is not a number, 5 is not a password).
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    // Each route's schema is compiled by its first request, not at start (lazy-validators.ts).
    schemaController: {
      compilersFactory: { buildValidator: (options.validators ?? new LazyValidators()).buildValidator },
    },
    // Refused in Fastify's reply, with the security headers and the dialect's shape (early-refusals.ts).
    return503OnClosing: false,
    frameworkErrors: answerFrameworkError,
    // Answers to what Node's parser refused: nosniff, Connection: close, a JSON body (client-errors.ts).
    clientErrorHandler: answerClientError,
    trustProxy,
  });
  app.server.on('checkExpectation', refuseExpectation);
  // A close stops accepting, waits for open connections (Fastify), then for the requests whose client
  // hung up: registered first, this onClose runs after every later one, so after the server has closed.
  // The stores are closed by the caller once app.close() resolves, never under a handler.
  const inFlight = new RequestsInFlight();
  inFlight.track(app);
  capConnections(app.server, config.maxConnections, (message) => options.logger?.warn(message));
  const dropped = services.metrics?.connectionsDropped('main');
  if (dropped) watchDroppedConnections(app.server, dropped);
  // A number of hops trusts whatever address is nearest: every connection may be the proxy's.
  if (config.maxConnectionsPerClient > 0 && typeof hops !== 'number') {
    // The same matching as Fastify's own trustProxy list.
    const proxies = hops === false ? null : compileProxyAddresses([...hops]);
    capConnectionsPerClient(
      app.server,
      config.maxConnectionsPerClient,
      (address) => proxies?.(address, 0) ?? false,
      (message) => options.logger?.warn(message),
      dropped && (() => dropped('maxConnectionsPerClient')),
    );
  }
  // The answer is bounded too: a client that stops reading it, or reads it slower than
  // answerMinRate, is let go after requestTimeout.
  const stopLookingForStalledReaders = dropStalledReaders(app.server, config.requestTimeout * 1000, {
    minRate: config.answerMinRate,
    dropped: dropped && (() => dropped('answerMinRate')),
  });
  app.addHook('onClose', async () => stopLookingForStalledReaders());
  // So are header sections still coming in, together, as bodies are (header-budget.ts): each may be
  // as large as maxHeaderSize, and maxConnections slow ones held gigabytes until requestTimeout.
  const headersRefused = onceAMinute(
    (message) => options.logger?.warn(message),
    (count) =>
      `unfinished request header sections passed requestHeaderBudget (${config.requestHeaderBudget} bytes): ${count} connection(s) closed since the last warning`,
  );
  const stopBoundingHeaders = boundUnfinishedHeaders(app.server, config.requestHeaderBudget, {
    refuse: refuseOverHeaderBudget,
    dropped: () => {
      dropped?.('requestHeaderBudget');
      headersRefused('');
    },
  });
  app.addHook('onClose', async () => stopBoundingHeaders());
  securityHeaders(app);
  refuseBeforeHandlers(app);
  const bodies = new RequestBodyBudget(config.requestBodyBudget);
  boundRequestBodies(app, bodies);
  services.metrics?.watchRequestBodies(bodies);
  app.addHook('onClose', async () => {
    const left = await inFlight.settled(SHUTDOWN_GRACE_MS);
    if (left > 0)
      options.logger?.warn(`${left} request(s) still running after ${SHUTDOWN_GRACE_MS} ms: closing anyway`);
  });
  // json-server's --watch: the routes file is read again when it changes.
  if (routes && config.data.watch && config.data.routesFile !== null) {
    routes.watch(config.data.routesFile, {
      info: (message) => options.logger?.info(message),
      warn: (message) => options.logger?.warn(message),
    });
    app.addHook('onClose', async () => routes.close());
  }
  // Response schemas (route-docs.ts) document the answers, they do not shape them: Fastify's serializer
  // would drop every field a schema does not list and write a null string as "", so a slip in a schema
  // would change what clients receive. Answers are JSON.stringify's, as before there were schemas.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  // Browsers call restauth from other origins, as they called json-server: any origin by default, every
  // method json-server allows (@fastify/cors alone allows GET, HEAD and POST, so a browser's PUT, PATCH
  // and DELETE failed), the request's own headers. `cors: false` is json-server's --no-cors.
  // Credentials (the browser's cookies for restauth's host) only for origins the operator listed:
  // restauth's tokens travel in headers, and allowing them to every origin, as json-server does,
  // let any site read answers made with the cookies of whatever shares the host (a --middlewares
  // session, an app on the same host, the OAuth flow's binding cookie).
  if (config.cors !== false) {
    await app.register(cors, {
      origin: config.cors === true ? true : config.cors,
      methods: ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE'],
      credentials: Array.isArray(config.cors),
      // GoTrue's API version and error code headers: auth-js reads the version to parse an error's body.
      exposedHeaders: ['X-Total-Count', 'Link', 'Location', 'X-Supabase-Api-Version', 'x-sb-error-code'],
    });
  }
  // Compressed answers when the client accepts them, as json-server's compression() (compression.ts).
  // `compression: false` is its --no-gzip.
  if (config.compression) await useCompression(app);
  // postgrest-auth accepted urlencoded forms as well as JSON (and OAuth providers post their callback).
  await app.register(formbody, { bodyLimit: config.bodyLimit, parser: parseFormBody });
  await useMiddlewares(app, config.middlewares);

  useErrorReply(app, restauthErrorFormat);
  confineRewrites(app, (raw) => rewrittenTo.get(raw));
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: 'not_found', message: `No route for ${request.method} ${request.url}` }),
  );

  const dataApiMounted =
    config.data.enabled && services.documents !== undefined && config.store.type === 'file';
  if (config.openapi.enabled) {
    await registerOpenApi(app, { publicUrl: publicUrl(config), dataApi: dataApiMounted });
  }
  if (services.metrics) {
    observeRequests(app, services.metrics, config.metrics.port === null);
    services.metrics.watchRequestsInFlight(() => inFlight.count);
  }
  await app.register(healthRoutes, { readiness: services.readiness });
  const limit = rateLimitHook(services.rateLimiter);
  const { jsonDataServer, postgrestAuth, gotrue } = config.dialects;
  if (gotrue.enabled) {
    await app.register(async (scope) => {
      authAnswers(scope);
      await scope.register(gotrueDialect, {
        auth: services.auth,
        flows: services.flows,
        pkce: services.pkce,
        admin: services.admin,
        identities: services.identities,
        oauth: services.oauth,
        identityLinking: services.identityLinking,
        audit: services.audit,
        tokens: services.tokens,
        clock: services.clock,
        readiness: services.readiness,
        limit,
        limitKey: (family, key) => services.rateLimiter.check(family, key),
        redirects: new RedirectPolicy(
          config.siteUrl,
          config.redirectAllowList,
          config.refuseDisallowedRedirects,
          config.redirectAllowGlobs.map(compileRedirectGlob),
        ),
        settings: {
          mountPath: gotrue.prefix,
          publicOrigin: originOf(publicUrl(config)),
          appName: config.appName,
          authenticatedRole: config.roles.authenticated,
          serviceRole: config.roles.service,
          audience: config.jwt.audience ?? 'authenticated',
          signupEnabled: config.signup.enabled,
          anonymousUsers: config.signup.anonymousUsers,
          manualLinking: config.identities.manualLinking,
          implicitLinking: config.identities.implicitLinking,
          enabledProviders: Object.entries(config.external)
            .filter(([, provider]) => provider.enabled === true)
            .map(([name]) => name.toLowerCase()),
          confirmEmail: confirmEmailRequired(config),
          minPasswordLength: config.passwords.minLength,
          // Role tokens are only as secret as what signs them: not a secret nobody chose (DESIGN, Principles).
          adminApi: !config.jwt.generatedSecret,
        },
      });
    });
  }
  if (jsonDataServer.enabled) {
    const userIdProp = config.store.type === 'file' ? config.store.userIdProp : 'id';
    await app.register(async (scope) => {
      parseJsonBodies(scope, () => ({}));
      authAnswers(scope);
      await scope.register(jsonDataServerDialect, {
        auth: services.auth,
        limit,
        settings: { ...jsonDataServer, userIdProp },
      });
    });
  }
  if (jsonServerAuth.mayMount && documents && config.store.type === 'file') {
    const { usersProp, userIdProp } = config.store;
    const userRecords = new UserRecords(() => documents.data, usersProp, userIdProp);
    await app.register(async (scope) => {
      parseJsonBodies(scope, () => ({}));
      authAnswers(scope);
      await scope.register(jsonServerAuthDialect, {
        auth: services.auth,
        limit,
        minPasswordLength: config.passwords.minLength,
        constraints: { jsonServerAuth: 'served' },
        userRecord: (id) => userRecords.find(id),
      });
    });
  }
  if (postgrestAuth.enabled) {
    await app.register(async (scope) => {
      parseJsonBodies(scope, () => ({}));
      authAnswers(scope);
      await scope.register(postgrestAuthDialect, {
        auth: services.auth,
        limit,
        mountPath: postgrestAuth.prefix,
        payload: postgrestAuth.payload,
      });
    });
  }
  if (dataApiMounted && services.documents && config.store.type === 'file') {
    // Its catch-all route says nothing of its resources: openapi-data-api.ts documents them.
    hideRoutes(app);
    await app.register(dataApi, {
      documents: services.documents,
      // JSONP lets every page read public data: only while CORS lets every origin read it too.
      config: { ...config.data, jsonp: config.data.jsonp && config.cors === true },
      usersProp: config.store.usersProp,
      userIdProp: config.store.userIdProp,
      maxRecordBytes: config.bodyLimit,
      publicUrl: publicUrl(config),
      source: config.store.dataFile,
      ...restauthFiles(config, config.store),
      authRoutes: () => authRoutesOf(config, jsonServerAuth.mounted),
      ...(routes ? { routes: () => routes.current(), routeRules: () => routes.rules() } : {}),
      guardOf: (request) => guards.get(request.raw) ?? null,
      wasRewritten: (request) => rewrittenTo.has(request.raw),
      ...(options.sleep ? { sleep: options.sleep } : {}),
      ...(options.maxIndexedFields === undefined ? {} : { maxIndexedFields: options.maxIndexedFields }),
      authenticate: async (token) => {
        try {
          const { claims, isAnonymous } = await services.auth.authorizeCaller(token);
          return { sub: claims.sub, role: claims.role, anonymous: isAnonymous };
        } catch (error) {
          // A token not honoured (bad, expired, signed out) is the data API's 401; anything else is a fault.
          if (isAuthError(error) && error.status === 401) return null;
          throw error;
        }
      },
    });
  }
  return app;
}

/** An auth dialect's scope: its answers carry tokens or accounts (no-store.ts, compression.ts). */
function authAnswers(scope: FastifyInstance): void {
  noStore(scope);
  plainAuthAnswers(scope);
}

type ConstraintStrategy = NonNullable<
  NonNullable<FastifyServerOptions['routerOptions']>['constraints']
>[string];

/**
 * A route constraint (find-my-way's custom strategy): a route declaring `{jsonServerAuth: 'served'}`
 * matches while `served()` says so; otherwise the request goes on to the routes without it (the data
 * API's), as if it were not there.
 */
function whileServed(served: () => boolean): ConstraintStrategy {
  return {
    name: 'jsonServerAuth',
    storage() {
      const handlers = new Map<string, unknown>();
      return {
        get: (value: string) => (handlers.get(value) ?? null) as never,
        set: (value: string, handler: unknown) => void handlers.set(value, handler),
      };
    },
    deriveConstraint: () => (served() ? 'served' : 'dormant'),
    mustMatchWhenDerived: false,
  };
}

/** The mounted routes that give a token, for the data API's home page. */
function authRoutesOf(config: Config, jsonServerAuth: boolean): AuthRoute[] {
  const routes: AuthRoute[] = [];
  const { jsonDataServer, gotrue } = config.dialects;
  if (jsonServerAuth) {
    const body = { email: 'alice@example.com', password: '<password>' };
    routes.push({ label: 'Register (json-server-auth)', method: 'POST', path: '/register', body });
    routes.push({ label: 'Log in (json-server-auth)', method: 'POST', path: '/login', body });
  }
  if (jsonDataServer.enabled) {
    const body = { [jsonDataServer.reqUserId]: 'alice', [jsonDataServer.reqUserPassword]: '<password>' };
    if (jsonDataServer.registerRoute !== '')
      routes.push({ label: 'Sign up', method: 'POST', path: jsonDataServer.registerRoute, body });
    if (jsonDataServer.loginRoute !== '')
      routes.push({ label: 'Log in', method: 'POST', path: jsonDataServer.loginRoute, body });
  }
  if (gotrue.enabled) {
    const body = { email: 'alice@example.com', password: '<password>' };
    routes.push({ label: 'Sign up (Supabase Auth)', method: 'POST', path: `${gotrue.prefix}/signup`, body });
    routes.push({
      label: 'Sign in (Supabase Auth)',
      method: 'POST',
      path: `${gotrue.prefix}/token?grant_type=password`,
      body,
    });
  }
  return routes;
}
