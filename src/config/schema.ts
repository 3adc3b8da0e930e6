import { Type, type Static } from '@sinclair/typebox';

/**
 * restauth's one configuration schema. Every loader (restauth.json,
 * json-data-server's config.json, postgrest-auth.json) produces this shape;
 * the result is validated here, defaults filled in, then frozen.
 *
 * Durations are whole seconds once loaded (loaders accept "1m", "1d", ...).
 * Paths (dataFile, credentialsFile, static, outboxDir, stateDir) are absolute
 * once loaded (see config/load.ts for what each is relative to).
 *
 * Every nested object has `default: {}` so that TypeBox's Value.Default fills
 * a whole absent section with its defaults.
 */

function RateLimitRule(max: number, window: number) {
  return Type.Object(
    {
      max: Type.Integer({ default: max, minimum: 0 }),
      window: Type.Integer({ default: window, minimum: 1 }),
    },
    { default: {} },
  );
}

/**
 * json-data-server's route paths, request and response field names, with its names and defaults:
 * stated once here for the dialect's settings and for its own config.json's `auth` object.
 */
export const JsonDataServerRoutes = {
  /** Route paths; an empty string disables the route. */
  registerRoute: Type.String({ default: '/auth/register' }),
  loginRoute: Type.String({ default: '/auth/login' }),
  logoutRoute: Type.String({ default: '/auth/logout' }),
  checkRoute: Type.String({ default: '/auth/check' }),
  refreshRoute: Type.String({ default: '/auth/refresh' }),
  passwordRoute: Type.String({ default: '/auth/password' }),
};
export const JsonDataServerRequestFields = {
  reqUserId: Type.String({ default: 'username', minLength: 1 }),
  reqUserPassword: Type.String({ default: 'password', minLength: 1 }),
  reqNewPassword: Type.String({ default: 'newpassword', minLength: 1 }),
};
export const JsonDataServerResponseFields = {
  jwtAccessToken: Type.String({ default: 'access_token', minLength: 1 }),
  jwtRefreshToken: Type.String({ default: 'refresh_token', minLength: 1 }),
};

const JsonDataServerDialectSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true }),
    ...JsonDataServerRoutes,
    ...JsonDataServerRequestFields,
    ...JsonDataServerResponseFields,
  },
  { default: {} },
);

/**
 * json-server-auth's routes (POST /register, /signup, /users, /login, /signin) and its guards
 * (`/664/posts`, routes.json's `"/posts*": "/664/posts$1"`). null: on when restauth serves a db.json
 * that is json-server-auth's (a user with a bcrypt hash in `password`), a routes file with its guards,
 * or json-server-auth named as a middleware (see http/json-server-auth-detect.ts); announced at start.
 */
const JsonServerAuthDialectSchema = Type.Object(
  {
    enabled: Type.Union([Type.Boolean(), Type.Null()], { default: null }),
  },
  { default: {} },
);

const PostgrestAuthDialectSchema = Type.Object(
  {
    /**
     * Off unless asked for (a postgrest-auth.json, or restauth.json naming it): its bearer refresh
     * lets an access token renew itself, which no other dialect's client expects to be possible.
     */
    enabled: Type.Boolean({ default: false }),
    /** Mount point of the six endpoints. */
    prefix: Type.String({ default: '/auth' }),
    /** Claims copied into every token (postgrest-auth's `payload` minus `exp`). */
    payload: Type.Record(Type.String(), Type.Unknown(), { default: {} }),
  },
  { default: {} },
);

const GotrueDialectSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true }),
    prefix: Type.String({ default: '/auth/v1' }),
  },
  { default: {} },
);

export const FileStoreSchema = Type.Object({
  type: Type.Literal('file'),
  /** The json-server document holding the users (and, in file mode, the data API's collections). */
  dataFile: Type.String({ default: 'db.json', minLength: 1 }),
  credentialsFile: Type.String({ default: 'credentials.json', minLength: 1 }),
  /** Top-level key of db.json holding the users (json-data-server's usersProp). */
  usersProp: Type.String({ default: 'users', minLength: 1 }),
  /** Property of a user record that identifies it (json-data-server's userId). */
  userIdProp: Type.String({ default: 'id', minLength: 1 }),
});

export const PostgresStoreSchema = Type.Object({
  type: Type.Literal('postgres'),
  url: Type.String({ minLength: 1 }),
  schema: Type.String({ default: 'auth', pattern: '^[A-Za-z_][A-Za-z0-9_]{0,62}$' }),
  /** postgrest-auth's users table name, kept for in-place upgrades. */
  table: Type.String({ default: 'users', pattern: '^[A-Za-z_][A-Za-z0-9_]{0,62}$' }),
  poolMin: Type.Integer({ default: 0, minimum: 0 }),
  poolMax: Type.Integer({ default: 10, minimum: 1 }),
  /**
   * Named prepared statements on the hot paths (parsed and planned once per
   * connection). Off behind a pooler that moves a client between server
   * sessions per transaction (PgBouncer's transaction mode before 1.21).
   */
  preparedStatements: Type.Boolean({ default: true }),
  /**
   * Seconds to wait at start-up for a database that cannot be reached yet
   * (started together with restauth), retrying; 0 fails at once.
   */
  startupTimeout: Type.Integer({ default: 60, minimum: 0 }),
  /**
   * Seconds a new connection may take (TCP and PostgreSQL's start-up), and a
   * request may wait for a free connection of a full pool: a database that
   * hangs instead of refusing (a partition, a stopped server) answers 503.
   */
  connectTimeout: Type.Integer({ default: 10, minimum: 1 }),
  /**
   * Seconds one of restauth's statements may run: the server cancels it
   * (statement_timeout), and the client gives up two seconds later on a
   * database that does not answer at all; both answer 503. 0: no bound
   * (migrations are never bounded: an index build may take long).
   */
  queryTimeout: Type.Integer({ default: 15, minimum: 0 }),
  /** Seconds a connection is idle before TCP keep-alive probes find a peer that vanished; 0: off. */
  keepAlive: Type.Integer({ default: 30, minimum: 0 }),
});

/**
 * One OAuth or OIDC provider, under GoTrue's names (external.<provider> in its configuration,
 * GOTRUE_EXTERNAL_<PROVIDER>_*): a preset (github, google, ...) fills in its endpoints; any other
 * name with an `issuer` is a generic OpenID Connect provider found by discovery. Every key may be
 * left out; core/oauth/settings.ts reads them into ProviderSettings.
 */
export const ExternalProviderSchema = Type.Object({
  enabled: Type.Optional(Type.Boolean({ default: false })),
  /** The client id at the provider; several (a list, or comma-separated) are all accepted as an id_token's audience, the first one signs in. */
  client_id: Type.Optional(
    Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })]),
  ),
  secret: Type.Optional(Type.String()),
  /** The callback registered at the provider; absent: restauth's publicUrl + the GoTrue prefix + /callback. */
  redirect_uri: Type.Optional(Type.String({ minLength: 1 })),
  /** The provider's own address where it has several (self-hosted GitLab, a Keycloak realm, an Azure tenant). */
  url: Type.Optional(Type.String({ minLength: 1 })),
  /** The provider's API address where it differs from `url`. */
  api_url: Type.Optional(Type.String({ minLength: 1 })),
  /** A generic OIDC provider's issuer: its endpoints and keys are discovered from it. */
  issuer: Type.Optional(Type.String({ minLength: 1 })),
  /** signInWithIdToken without a nonce check (GoTrue's skip_nonce_check): only for providers that cannot send one. */
  skip_nonce_check: Type.Optional(Type.Boolean({ default: false })),
  /** A user the provider gives no email address still signs in (GoTrue's email_optional). */
  email_optional: Type.Optional(Type.Boolean({ default: false })),
});

export const ConfigSchema = Type.Object({
  port: Type.Integer({ default: 3000, minimum: 0, maximum: 65535 }),
  host: Type.String({ default: '127.0.0.1' }),
  /** Which format the configuration was read from: it selects compatibility defaults. */
  source: Type.Union(
    [
      Type.Literal('restauth'),
      Type.Literal('json-data-server'),
      Type.Literal('postgrest-auth'),
      Type.Literal('json-server'),
    ],
    {
      default: 'restauth',
    },
  ),
  /** Path of the file the configuration came from, if any (for messages). */
  configFile: Type.Union([Type.String(), Type.Null()], { default: null }),
  appName: Type.String({ default: 'restauth' }),
  /**
   * Development mode (RESTAUTH_DEV=1, --dev): a published or short jwt secret is
   * accepted with a warning instead of stopping the server. Never in production.
   */
  development: Type.Boolean({ default: false }),
  /** Largest accepted request body, in bytes. */
  bodyLimit: Type.Integer({ default: 102400, minimum: 1024 }),
  /**
   * Bytes of request bodies held at once, across every request (a body counts its bytes as they
   * arrive, until its answer is over): past it a body is cut 503 with Retry-After, and one whose
   * Content-Length is larger than the whole budget refused 413 before it is read. bodyLimit alone
   * let maxConnections slow uploaders hold bodyLimit each (1 GB at the defaults).
   */
  requestBodyBudget: Type.Integer({ default: 33554432, minimum: 1024 }),
  /**
   * Bytes of request header sections being received and not yet complete, across every connection:
   * past it the connections holding the most are answered 503 with Retry-After and closed until the
   * rest fit. A header section may be as large as maxHeaderSize (about 295 KB, for large access
   * tokens), and maxConnections slow ones held it each until requestTimeout (2.9 GB at the defaults).
   * Headers that arrive whole, as a client sends them at speed, never count.
   */
  requestHeaderBudget: Type.Integer({ default: 33554432, minimum: 1024 }),
  /**
   * Seconds a client may take to send a whole request, headers and body; past
   * it the answer is 408 and the connection is closed (a slowloris client held
   * one for ever: Fastify turns Node's bound off).
   */
  requestTimeout: Type.Integer({ default: 30, minimum: 1, maximum: 3600 }),
  /**
   * Seconds a keep-alive connection may stay idle between two requests before restauth closes it
   * (Fastify's 72 s: above the 60 s idle timeout of common load balancers, which must close first).
   */
  keepAliveTimeout: Type.Integer({ default: 72, minimum: 1, maximum: 3600 }),
  /**
   * Bytes a second an answer must leave at while the rest of it waits in restauth's memory,
   * measured over each `requestTimeout`; a slower client is let go (0: any progress keeps it).
   */
  answerMinRate: Type.Integer({ default: 1024, minimum: 0 }),
  /**
   * Connections held open at once (idle, sending a request, or receiving an answer): a connection
   * past it is closed as it arrives, without an answer. One client opening thousands of idle
   * sockets held a file descriptor and memory for each until its requestTimeout. The metrics' own
   * port (metrics.port) holds as many again, counted apart.
   */
  maxConnections: Type.Integer({ default: 10_000, minimum: 1 }),
  /**
   * Connections one client (an IPv4 address, an IPv6 /64) holds open at once; one more from it is
   * closed as it arrives. Under maxConnections alone one address could hold every slot (idle sockets
   * reopened as each requestTimeout let them go) and shut everyone else out. 0: no such bound. Off
   * while trustProxy is a number of hops (every connection may come from the proxy); addresses listed
   * in trustProxy are never bounded so.
   */
  maxConnectionsPerClient: Type.Integer({ default: 1_000, minimum: 0 }),

  /**
   * The reverse proxies in front of restauth (Fastify's trustProxy): how many hops
   * (1: one nginx or Caddy), or their addresses and CIDR ranges. The client address
   * (rate limits, audit log) is then read from X-Forwarded-For, right to left,
   * skipping only these proxies; an entry the client wrote itself is never trusted.
   * false: the peer address, X-Forwarded-For ignored.
   */
  trustProxy: Type.Union(
    [
      Type.Literal(false),
      Type.Integer({ minimum: 1 }),
      Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
    ],
    { default: false, expected: 'false, a number of proxies (1 or more) or a list of their addresses' },
  ),
  /**
   * Which browser origins may call restauth (CORS), as json-server allowed them: true, any origin
   * (json-server's default); a list of origins (scheme://host[:port]) for only those; false, no CORS
   * headers at all (json-server's --no-cors). Every method json-server allows (GET, HEAD, POST, PUT,
   * PATCH, DELETE) is allowed, with the request's own headers and credentials.
   */
  cors: Type.Union([Type.Boolean(), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })], {
    default: true,
    expected: 'true (any origin), false (no CORS) or a list of origins',
  }),
  /** Answers compressed (gzip, deflate, brotli) when the client accepts it, as json-server does; false: --no-gzip. */
  compression: Type.Boolean({ default: true }),
  /**
   * Express-style `(req, res, next)` middleware files (json-server's --middlewares), run in order for
   * every request after its body is parsed and before restauth's handler (and so before the data API
   * checks a token): see docs/data-api.md.
   */
  middlewares: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
  /** Requests allowed per client and window (seconds), per route family; max 0 turns a family off. */
  rateLimits: Type.Object(
    {
      signIn: RateLimitRule(30, 300),
      signUp: RateLimitRule(30, 300),
      recovery: RateLimitRule(30, 3600),
      refresh: RateLimitRule(150, 300),
      verify: RateLimitRule(30, 300),
      /** Anonymous sign-ins (GoTrue's RATE_LIMIT_ANONYMOUS_USERS: 30 an hour per client). */
      anonymous: RateLimitRule(30, 3600),
      /**
       * Wrong passwords per account, from every client and dialect together (a login no account has
       * is counted by itself): past it the account's password checks answer 429 until the window
       * ends, except from a client that signed the account in within 30 days (account-guess-limit.ts).
       */
      passwordGuesses: RateLimitRule(10, 900),
      /**
       * Deprecated: read so old files load; load.ts maps a value to `trustProxy: 1` with a warning.
       * (It took the leftmost X-Forwarded-For entry, which the client writes.)
       */
      trustedProxyHeader: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: null }),
    },
    { default: {} },
  ),

  jwt: Type.Object(
    {
      /** HS256 secret; null means: generate one and keep it beside the data (development default). */
      secret: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: null }),
      /** kid in the header of the tokens the secret signs (GoTrue's JWT_KEY_ID); null: none. */
      secretKeyId: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: null }),
      accessTokenTtl: Type.Integer({ default: 3600, minimum: 1 }),
      clockTolerance: Type.Integer({ default: 2, minimum: 0 }),
      issuer: Type.Union([Type.String(), Type.Null()], { default: null }),
      audience: Type.Union([Type.String(), Type.Null()], { default: null }),
      /**
       * Set by the loader when `secret` is a published one (json-data-server's
       * "DefaultJWTSecretString-LOL", postgrest-auth's "secret", ...): refused at start
       * unless `development` is on (config/secret-policy.ts).
       */
      publicDefaultSecret: Type.Boolean({ default: false }),
      /**
       * Set at start when `secret` was generated and kept in stateDir (none configured):
       * it signs users' tokens, but the admin API needs a secret or key someone configured.
       */
      generatedSecret: Type.Boolean({ default: false }),
      /** Asymmetric keys (RS256, ES256, EdDSA; PEM or JWK): one signs, all verify. See docs/keys.md. */
      keys: Type.Array(
        Type.Object({
          kid: Type.String({ minLength: 1 }),
          alg: Type.Union([Type.Literal('RS256'), Type.Literal('ES256'), Type.Literal('EdDSA')]),
          privateKey: Type.Optional(
            Type.Union([Type.String(), Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
          ),
          publicKey: Type.Optional(
            Type.Union([Type.String(), Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
          ),
          /**
           * When the key stops verifying (an ISO date): `restauth keys rotate` sets it on the key it
           * replaces, a grace period after the rotation, so tokens it signed live out their lifetime.
           */
          retireAt: Type.Optional(Type.Union([Type.String({ minLength: 1 }), Type.Null()])),
          /**
           * When `restauth keys rotate` retired the key (an ISO date, by the rotating machine's clock):
           * a key whose rotation lies further ahead of the server's clock than instances' clocks differ
           * verifies nothing (a clock set back). Absent in files written before it was kept.
           */
          retiredAt: Type.Optional(Type.Union([Type.String({ minLength: 1 }), Type.Null()])),
        }),
        { default: [] },
      ),
      /** kid of the key that signs; null: the first key with a private key, else the HS256 secret. */
      signingKeyId: Type.Union([Type.String(), Type.Null()], { default: null }),
    },
    { default: {} },
  ),

  sessions: Type.Object(
    {
      absoluteLifetime: Type.Integer({ default: 30 * 86400, minimum: 1 }),
      /** A session whose refresh token has not been used for this long is over (json-data-server's jwtRefreshExpiresIn). */
      inactivityTimeout: Type.Integer({ default: 7 * 86400, minimum: 1 }),
      /** A rotated refresh token presented again within this window returns the same successor. */
      reuseGrace: Type.Integer({ default: 10, minimum: 0 }),
      /** Live sessions a user may hold; opening one more ends the oldest (0: no limit). Bounds storage. */
      maxPerUser: Type.Integer({ default: 100, minimum: 0 }),
      /**
       * An ended session (revoked, or past its absolute lifetime) is kept this long, then deleted with
       * its refresh tokens by the hourly upkeep: until then a replay of its tokens meets "revoked", after
       * it "unknown". Bounds storage.
       */
      endedRetention: Type.Integer({ default: 86400, minimum: 0 }),
    },
    { default: {} },
  ),

  passwords: Type.Object(
    {
      algorithm: Type.Union([Type.Literal('argon2id'), Type.Literal('bcrypt')], { default: 'argon2id' }),
      bcryptRounds: Type.Integer({ default: 10, minimum: 4, maximum: 31 }),
      /**
       * A sign-in replaces a hash of another algorithm or parameters with the configured one. Off by
       * default: imported hashes (GoTrue's bcrypt) stay as they are, so the database stays GoTrue's to read.
       */
      rehashOnSignIn: Type.Boolean({ default: false }),
      /**
       * A password change through GoTrue's PUT /user, from a session older than a day, needs the code
       * GET /reauthenticate mails (GoTrue's security.update_password_require_reauthentication).
       */
      requireReauthentication: Type.Boolean({ default: false }),
      minLength: Type.Integer({ default: 8, minimum: 1 }),
      /** In characters; bcrypt also refuses more than 72 bytes, which it would silently truncate. */
      maxLength: Type.Integer({ default: 1024, minimum: 1 }),
      /** Regular expressions a user name and a password must match (json-data-server's userIdRE/userPwdRE). */
      usernamePattern: Type.String({ default: '.*' }),
      passwordPattern: Type.String({ default: '.*' }),
      /** Hash jobs allowed to wait for a free core before new ones get 503. */
      maxQueue: Type.Integer({ default: 256, minimum: 0 }),
      /** Hashing threads, each computing one job with the next lined up; 0 means one per core. */
      concurrency: Type.Integer({ default: 0, minimum: 0 }),
    },
    { default: {} },
  ),

  roles: Type.Object(
    {
      anonymous: Type.String({ default: 'anon' }),
      authenticated: Type.String({ default: 'authenticated' }),
      service: Type.String({ default: 'service_role' }),
      /** postgrest-auth's role per user: each user gets a database role named after it. */
      perUser: Type.Boolean({ default: false }),
      /** PostgREST's login role: with perUser, each user role is granted to it so PostgREST may switch to it. */
      authenticator: Type.Union([Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,62}$' }), Type.Null()], {
        default: null,
      }),
    },
    { default: {} },
  ),

  store: Type.Union([FileStoreSchema, PostgresStoreSchema], { default: { type: 'file' } }),

  /**
   * The wire formats mounted. Each config format mounts its own (config.json: json-data-server;
   * postgrest-auth.json: postgrest-auth); restauth.json mounts the dialects it names under
   * `dialects`, and without that key GoTrue and json-data-server (see formats/restauth.ts).
   */
  dialects: Type.Object(
    {
      jsonDataServer: JsonDataServerDialectSchema,
      jsonServerAuth: JsonServerAuthDialectSchema,
      postgrestAuth: PostgrestAuthDialectSchema,
      gotrue: GotrueDialectSchema,
    },
    { default: {} },
  ),

  /** The json-server compatible data API (file mode). */
  data: Type.Object(
    {
      enabled: Type.Boolean({ default: true }),
      readOnly: Type.Boolean({ default: false }),
      /** Primary key property of every collection (json-server's --id). */
      id: Type.String({ default: 'id', minLength: 1 }),
      foreignKeySuffix: Type.String({ default: 'Id', minLength: 1 }),
      /** Milliseconds added before every data response (json-server's --delay); `?_delay=` adds at most 10 s. */
      delay: Type.Integer({ default: 0, minimum: 0 }),
      /**
       * `?callback=` reads answered as JSONP, as json-server did: only reads without a token, and only
       * while cors is true (any origin may read the public data anyway); see docs/data-api.md.
       */
      jsonp: Type.Boolean({ default: true }),
      /** Query grammar and answer shapes: json-server 0.17.4's (`_like`, `_limit`) or 1.x's (`views:gt`, `_per_page`). */
      jsonServer: Type.Union([Type.Literal('0.17'), Type.Literal('1')], { default: '0.17' }),
      /** Folder of static files; served when it exists. */
      static: Type.String({ default: 'public' }),
      /** routes.json-style rewrites, e.g. {"/api/*": "/$1"}. */
      routes: Type.Record(Type.String(), Type.String(), { default: {} }),
      /** The file `routes` was read from (set by the loader), watched under `watch`. */
      routesFile: Type.Union([Type.String(), Type.Null()], { default: null }),
      /**
       * json-server's --watch: a change of db.json made outside restauth is applied (with the writes
       * its journal holds on top) instead of set aside, and the routes file is read again.
       */
      watch: Type.Boolean({ default: false }),
      /** Folder the snapshots (`s` + Enter on the terminal) are written to (json-server's --snapshots). */
      snapshots: Type.String({ default: '.' }),
      /** Per-collection permission digits (owner/logged-in/public), e.g. {"posts": 644}. */
      rules: Type.Record(Type.String(), Type.Integer({ minimum: 0, maximum: 777 }), { default: {} }),
      defaultRule: Type.Integer({ default: 660, minimum: 0, maximum: 777 }),
      /** Property naming a record's owner. */
      ownerProp: Type.String({ default: 'userId', minLength: 1 }),
    },
    { default: {} },
  ),

  /**
   * restauth's own public address (GoTrue's API_EXTERNAL_URL): the base of
   * the links in mails. null: http://host:port, right for development only.
   */
  publicUrl: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: null }),
  /**
   * The app's public address (GoTrue's SITE_URL): where links in mails lead
   * after verification when no redirect_to is given. null: restauth's own
   * address (http://host:port).
   */
  siteUrl: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: null }),
  /**
   * Where `redirect_to` may point besides siteUrl (GoTrue's URI_ALLOW_LIST):
   * exact URLs, or prefixes ending in `*` (e.g. "https://app.example.com/*"), http(s) or a mobile
   * app's deep link ("com.example.app://login-callback/"), never javascript:, data: and the like.
   */
  redirectAllowList: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
  /**
   * More allowed `redirect_to` targets as GoTrue's GOTRUE_URI_ALLOW_LIST globs ("https://*-team.vercel.app/**"):
   * `*` any run without "." or "/", `**` any run, `?`, `[a-z]`, `[!a]`, `{a,b}`, matched against the
   * whole URL without its fragment. GOTRUE_URI_ALLOW_LIST's entries with such wildcards land here.
   */
  redirectAllowGlobs: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
  /**
   * A `redirect_to` that is neither on siteUrl's origin nor allowed: false (GoTrue's behaviour) leads
   * to siteUrl instead; true refuses the request with 400.
   */
  refuseDisallowedRedirects: Type.Boolean({ default: false }),

  signup: Type.Object(
    {
      /** false: only admins create users (GoTrue's DISABLE_SIGNUP). */
      enabled: Type.Boolean({ default: true }),
      /**
       * Whether a new email address must be confirmed before signing in. null:
       * required when SMTP is configured (`email`), automatic with the development outbox.
       */
      confirmEmail: Type.Union([Type.Boolean(), Type.Null()], { default: null }),
      /**
       * Anonymous sign-ins: POST /signup with no address makes an is_anonymous user and its session
       * (GoTrue's external.anonymous_users.enabled). Off by default, as GoTrue.
       */
      anonymousUsers: Type.Boolean({ default: false }),
    },
    { default: {} },
  ),

  /**
   * OAuth and OpenID Connect sign-in (GoTrue's external.<provider>): providers by name, e.g.
   * {"github": {"enabled": true, "client_id": "...", "secret": "..."}}; see docs/supabase.md.
   */
  external: Type.Record(Type.String({ minLength: 1 }), ExternalProviderSchema, { default: {} }),

  /** The ways a user signs in (GoTrue's identities: the email identity, one per OAuth provider). */
  identities: Type.Object(
    {
      /**
       * A signed-in user may link an OAuth identity (GET /user/identities/authorize) and unlink one
       * (DELETE /user/identities/{id}): GoTrue's security.manual_linking_enabled. Off by default, as GoTrue.
       */
      manualLinking: Type.Boolean({ default: false }),
      /**
       * An OAuth flow's callback must come from the browser that started it (a short-lived cookie
       * set at /authorize): off only for clients that cannot keep cookies (docs/security.md).
       */
      oauthBrowserBinding: Type.Boolean({ default: true }),
      /**
       * linkIdentity without PKCE (auth-js flowType 'implicit') is allowed: its callback links in
       * whichever browser finishes the flow, so a forwarded link address links the victim's
       * identity to the sender's account (docs/security.md). Off: such a start answers 400.
       */
      implicitLinking: Type.Boolean({ default: false }),
      /**
       * Seconds one request to an identity provider may take (discovery, key set, token, userinfo),
       * as GoTrue's 10 s: past it the sign-in answers 503 with Retry-After.
       */
      providerTimeout: Type.Integer({ default: 10, minimum: 1, maximum: 300 }),
      /**
       * Bytes one answer of an identity provider may have (discovery, key set, token, userinfo):
       * past it the sign-in fails as on a provider that cannot be reached, and the answer is let go.
       */
      providerAnswerLimit: Type.Integer({ default: 1048576, minimum: 1024 }),
      /**
       * Bytes of every identity provider's answers being read at once, across all sign-ins: past it
       * a sign-in fails at once as past providerAnswerLimit, so hostile answers cannot add up.
       */
      providerAnswerBudget: Type.Integer({ default: 33554432, minimum: 1024 }),
    },
    { default: {} },
  ),

  /** Links and codes sent by mail (confirmation, recovery, email change, magic link). */
  oneTimeTokens: Type.Object(
    {
      /** How long a link or code stays valid (GoTrue's MAILER_OTP_EXP). */
      ttl: Type.Integer({ default: 3600, minimum: 60 }),
      /** Least time between two mails of one kind to one recipient (GoTrue's SMTP_MAX_FREQUENCY). */
      resendInterval: Type.Integer({ default: 60, minimum: 0 }),
    },
    { default: {} },
  ),

  audit: Type.Object(
    {
      /** Security events older than this are deleted. */
      retention: Type.Integer({ default: 90 * 86400, minimum: 3600 }),
    },
    { default: {} },
  ),

  /** The mail worker over the outbox. */
  mailQueue: Type.Object(
    {
      /**
       * How long a worker holds the mails it claimed: a mail whose worker died (a killed instance)
       * is sent by another once this has passed. A send in progress renews it.
       */
      lease: Type.Integer({ default: 60, minimum: 1 }),
      /** How often a worker looks for mails other instances queued (a shared PostgreSQL outbox). */
      poll: Type.Integer({ default: 30, minimum: 1 }),
    },
    { default: {} },
  ),

  /** nodemailer SMTP options (postgrest-auth's `email`); null means the development outbox. */
  email: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()], { default: null }),
  /** Folder of the development outbox. */
  outboxDir: Type.String({ default: '.restauth/outbox' }),
  /** Folder of mail template overrides (NAME.subject / NAME.txt / NAME.html); null: the built-in ones. */
  mailTemplatesDir: Type.Union([Type.String(), Type.Null()], { default: null }),
  /** Folder for state restauth keeps beside the data (generated secret, lock). */
  stateDir: Type.String({ default: '.restauth' }),
  /** pino log level of the server. */
  logLevel: Type.Union(
    [
      Type.Literal('fatal'),
      Type.Literal('error'),
      Type.Literal('warn'),
      Type.Literal('info'),
      Type.Literal('debug'),
      Type.Literal('trace'),
      Type.Literal('silent'),
    ],
    { default: 'info' },
  ),
  /**
   * Prometheus metrics at /metrics. Off by default: they tell anyone who can
   * read them how many sign-ins, failures and mails the server handles.
   */
  metrics: Type.Object(
    {
      enabled: Type.Boolean({ default: false }),
      /** A port of their own (firewalled, or on a private interface); null: /metrics on the main port. */
      port: Type.Union([Type.Integer({ minimum: 0, maximum: 65535 }), Type.Null()], { default: null }),
      /** Address of that port; null: the server's `host`. */
      host: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: null }),
    },
    { default: {} },
  ),
  /**
   * The OpenAPI 3.1 document of the mounted routes at /openapi.json and its reference page at /openapi.
   * On by default: it says what any client could try anyway, and nothing of the users or the traffic.
   */
  openapi: Type.Object({ enabled: Type.Boolean({ default: true }) }, { default: {} }),
  /** How log lines are written: pretty (short, for a terminal), json, or auto: pretty on a terminal, else JSON. */
  logFormat: Type.Union(
    [Type.Literal('auto'), Type.Literal('pretty'), Type.Literal('json'), Type.Literal('json-server')],
    { default: 'auto' },
  ),
});

export type Config = Static<typeof ConfigSchema>;
export type FileStoreConfig = Static<typeof FileStoreSchema>;
export type PostgresStoreConfig = Static<typeof PostgresStoreSchema>;
export type JsonDataServerDialectConfig = Static<typeof JsonDataServerDialectSchema>;
export type DataConfig = Config['data'];
export type ExternalProviderConfig = Static<typeof ExternalProviderSchema>;
