import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { GOTRUE_ENV_VARS } from '../../src/config/gotrue-env.js';
import { loadConfigWithSources } from '../../src/config/load.js';
import { createTestApp } from '../support/app.js';
import { load, tempDir } from '../support/config.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

/** A GoTrue deployment's environment (internal/conf/configuration.go's variables) starts restauth alike. */
const SECRET = 'gotrue-secret-0123456789abcdef-0123456789';

/** The environment of a self-hosted Supabase Auth (docker-compose's auth service), trimmed. */
const GOTRUE_DEPLOYMENT: NodeJS.ProcessEnv = {
  GOTRUE_API_HOST: '0.0.0.0',
  GOTRUE_API_PORT: '9999',
  API_EXTERNAL_URL: 'https://api.acme.test',
  GOTRUE_DB_DRIVER: 'postgres',
  GOTRUE_SITE_URL: 'https://app.acme.test',
  // The last two are a mobile app's deep links, as Supabase's Flutter and React Native guides list them.
  GOTRUE_URI_ALLOW_LIST:
    'https://app.acme.test/**, https://preview.acme.test/callback, io.supabase.flutterquickstart://login-callback/, com.supabase://**',
  GOTRUE_DISABLE_SIGNUP: 'false',
  GOTRUE_JWT_ADMIN_ROLES: 'service_role',
  GOTRUE_JWT_AUD: 'authenticated',
  GOTRUE_JWT_DEFAULT_GROUP_NAME: 'authenticated',
  GOTRUE_JWT_EXP: '1800',
  GOTRUE_JWT_SECRET: SECRET,
  GOTRUE_EXTERNAL_EMAIL_ENABLED: 'true',
  GOTRUE_EXTERNAL_ANONYMOUS_USERS_ENABLED: 'true',
  GOTRUE_MAILER_AUTOCONFIRM: 'true',
  GOTRUE_SMTP_ADMIN_EMAIL: 'admin@acme.test',
  GOTRUE_SMTP_HOST: 'mail.acme.test',
  GOTRUE_SMTP_PORT: '2500',
  GOTRUE_SMTP_USER: 'fake_mail_user',
  GOTRUE_SMTP_PASS: 'fake mail password',
  GOTRUE_SMTP_SENDER_NAME: 'Acme',
  GOTRUE_SMTP_MAX_FREQUENCY: '1m30s',
  GOTRUE_MAILER_OTP_EXP: '900',
  GOTRUE_EXTERNAL_PHONE_ENABLED: 'false',
  GOTRUE_SMS_AUTOCONFIRM: 'true',
  GOTRUE_SECURITY_REFRESH_TOKEN_ROTATION_ENABLED: 'true',
  GOTRUE_SECURITY_REFRESH_TOKEN_REUSE_INTERVAL: '5',
  GOTRUE_SECURITY_MANUAL_LINKING_ENABLED: 'true',
  GOTRUE_SESSIONS_TIMEBOX: '24h',
  GOTRUE_SESSIONS_INACTIVITY_TIMEOUT: '2h30m',
  GOTRUE_PASSWORD_MIN_LENGTH: '10',
  GOTRUE_RATE_LIMIT_TOKEN_REFRESH: '20',
  GOTRUE_RATE_LIMIT_VERIFY: '15',
  GOTRUE_RATE_LIMIT_OTP: '5',
  GOTRUE_LOG_LEVEL: 'warning',
};

describe("GoTrue's environment variables", () => {
  it("a self-hosted Supabase Auth's environment maps onto restauth's settings, with no warning", async () => {
    const { config, warnings } = await load(await tempDir(), { env: GOTRUE_DEPLOYMENT });
    assert.deepEqual(warnings, []);
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.port, 9999);
    assert.equal(config.publicUrl, 'https://api.acme.test');
    assert.equal(config.siteUrl, 'https://app.acme.test');
    assert.deepEqual(config.redirectAllowList, [
      'https://app.acme.test/*',
      'https://preview.acme.test/callback',
      'io.supabase.flutterquickstart://login-callback/',
      'com.supabase://*',
    ]);
    assert.equal(config.signup.enabled, true);
    assert.equal(config.signup.confirmEmail, false);
    assert.equal(config.jwt.secret, SECRET);
    assert.equal(config.jwt.accessTokenTtl, 1800);
    assert.equal(config.jwt.audience, 'authenticated');
    assert.equal(config.roles.authenticated, 'authenticated');
    assert.equal(config.roles.service, 'service_role');
    assert.deepEqual(config.email, {
      host: 'mail.acme.test',
      port: 2500,
      secure: false,
      requireTLS: true,
      auth: { user: 'fake_mail_user', pass: 'fake mail password' },
      from: '"Acme" <admin@acme.test>',
    });
    assert.equal(config.oneTimeTokens.resendInterval, 90);
    assert.equal(config.oneTimeTokens.ttl, 900);
    assert.equal(config.sessions.reuseGrace, 5);
    assert.equal(config.sessions.absoluteLifetime, 86400);
    assert.equal(config.sessions.inactivityTimeout, 9000);
    assert.equal(config.passwords.minLength, 10);
    assert.deepEqual(config.rateLimits.signIn, { max: 20, window: 300 });
    assert.deepEqual(config.rateLimits.refresh, { max: 20, window: 300 });
    assert.deepEqual(config.rateLimits.verify, { max: 15, window: 300 });
    assert.deepEqual(config.rateLimits.recovery, { max: 5, window: 300 });
    assert.deepEqual(config.rateLimits.signUp, { max: 5, window: 300 });
    assert.equal(config.logLevel, 'warn');
    assert.equal(config.identities.manualLinking, true);
    assert.equal(config.signup.anonymousUsers, true, "env.ts's own GoTrue variable, not warned about");
  });

  it('a GOTRUE_ variable restauth cannot honour is named in a warning, its value never shown', async () => {
    const { warnings } = await load(await tempDir(), {
      env: {
        GOTRUE_JWT_SECRET: SECRET,
        GOTRUE_HOOK_CUSTOM_ACCESS_TOKEN_URI: 'pg-functions://postgres/public/hook',
        GOTRUE_EXTERNAL_FACEBOOK_ENABLED: 'true',
        GOTRUE_EXTERNAL_FACEBOOK_SECRET: 'facebook-client-secret-value',
        GOTRUE_SECURITY_CAPTCHA_ENABLED: 'true',
        GOTRUE_JWT_ADMIN_ROLES: 'service_role, supabase_admin',
      },
    });
    assert.deepEqual(warnings, [
      'GOTRUE_JWT_ADMIN_ROLES: restauth accepts one admin role, service_role; the others are ignored',
      ...[
        'GOTRUE_EXTERNAL_FACEBOOK_ENABLED',
        'GOTRUE_EXTERNAL_FACEBOOK_SECRET',
        'GOTRUE_HOOK_CUSTOM_ACCESS_TOKEN_URI',
        'GOTRUE_SECURITY_CAPTCHA_ENABLED',
      ].map(
        (name) =>
          `${name} is a GoTrue setting restauth does not support; ignored (see docs/configuration.md)`,
      ),
    ]);
    assert.ok(!warnings.join('\n').includes('facebook-client-secret-value'));
  });

  it('GOTRUE_EXTERNAL_<PROVIDER>_* configure the OAuth providers restauth has; GET /settings lists them as GoTrue', async () => {
    const env = {
      GOTRUE_JWT_SECRET: SECRET,
      GOTRUE_EXTERNAL_GITHUB_ENABLED: 'true',
      GOTRUE_EXTERNAL_GITHUB_CLIENT_ID: 'Iv1.0123456789abcdef',
      GOTRUE_EXTERNAL_GITHUB_SECRET: 'github-client-secret-value',
      GOTRUE_EXTERNAL_GITHUB_REDIRECT_URI: 'https://api.acme.test/auth/v1/callback',
      GOTRUE_EXTERNAL_GITLAB_ENABLED: 'false',
      GOTRUE_EXTERNAL_GITLAB_URL: 'https://git.acme.test',
      GOTRUE_EXTERNAL_GOOGLE_CLIENT_ID: 'web.apps.googleusercontent.com,ios.apps.googleusercontent.com',
      GOTRUE_EXTERNAL_GOOGLE_SKIP_NONCE_CHECK: 't',
      GOTRUE_EXTERNAL_KEYCLOAK_URL: 'https://sso.acme.test/realms/acme',
      GOTRUE_EXTERNAL_AZURE_EMAIL_OPTIONAL: '1',
      GOTRUE_EXTERNAL_APPLE_API_URL: 'https://appleid.acme.test',
    };
    const { config, warnings } = await load(await tempDir(), { env });
    assert.deepEqual(warnings, []);
    assert.deepEqual(config.external, {
      github: {
        enabled: true,
        client_id: 'Iv1.0123456789abcdef',
        secret: 'github-client-secret-value',
        redirect_uri: 'https://api.acme.test/auth/v1/callback',
      },
      gitlab: { enabled: false, url: 'https://git.acme.test' },
      google: {
        client_id: 'web.apps.googleusercontent.com,ios.apps.googleusercontent.com',
        skip_nonce_check: true,
      },
      keycloak: { url: 'https://sso.acme.test/realms/acme' },
      azure: { email_optional: true },
      apple: { api_url: 'https://appleid.acme.test' },
    });
    await assert.rejects(
      load(await tempDir(), { env: { ...env, GOTRUE_EXTERNAL_GITHUB_ENABLED: 'yes' } }),
      /GOTRUE_EXTERNAL_GITHUB_ENABLED must be true or false \(got "yes"\)/,
    );

    const t = await createTestApp({ format: 'restauth', env });
    try {
      const settings = (await t.app.inject({ method: 'GET', url: '/auth/v1/settings' })).json();
      assert.equal(settings.external.github, true);
      assert.equal(settings.external.gitlab, false);
      assert.equal(settings.external.google, false, 'configured but not enabled');
      assert.equal(settings.external.email, true);
      // Every provider GoTrue's /settings names is there, as false unless enabled.
      for (const name of [
        'apple',
        'azure',
        'bitbucket',
        'discord',
        'facebook',
        'keycloak',
        'twitch',
        'zoom',
      ]) {
        assert.equal(settings.external[name], false, name);
      }
    } finally {
      await t.close();
    }
  });

  it("restauth's own variables win: RESTAUTH_JWT_SECRET over GOTRUE_JWT_SECRET, DATABASE_URL over GOTRUE_DB_DATABASE_URL", async () => {
    const own = 'restauth-secret-0123456789abcdef-0123456789';
    const { config } = await load(await tempDir(), {
      env: {
        GOTRUE_JWT_SECRET: SECRET,
        RESTAUTH_JWT_SECRET: own,
        GOTRUE_DB_DATABASE_URL: 'postgres://gotrue@db/gotrue',
        GOTRUE_DB_MAX_POOL_SIZE: '4',
        DATABASE_URL: 'postgres://restauth@db/app',
      },
    });
    assert.equal(config.jwt.secret, own);
    assert.equal(config.store.type, 'postgres');
    assert.equal(config.store.type === 'postgres' && config.store.url, 'postgres://restauth@db/app');
    assert.equal(config.store.type === 'postgres' && config.store.poolMax, 4);
  });

  it('a malformed value stops the start naming the variable; a glob GoTrue would not compile too', async () => {
    const dir = await tempDir();
    await assert.rejects(
      load(dir, { env: { GOTRUE_DISABLE_SIGNUP: 'yes' } }),
      /GOTRUE_DISABLE_SIGNUP must be true or false/u,
    );
    await assert.rejects(
      load(dir, { env: { GOTRUE_JWT_EXP: '1h' } }),
      /GOTRUE_JWT_EXP must be a whole number/u,
    );
    await assert.rejects(
      load(dir, { env: { GOTRUE_SESSIONS_TIMEBOX: 'a day' } }),
      /GOTRUE_SESSIONS_TIMEBOX must be a Go duration/u,
    );
    // GoTrue splits the list at every comma before compiling (envconfig), so {a,b} leaves a { open:
    // GoTrue panics at start on it (glob.MustCompile); restauth names it.
    await assert.rejects(
      load(dir, { env: { GOTRUE_URI_ALLOW_LIST: 'https://{www,beta}.acme.test/**' } }),
      /redirectAllowGlobs\[0\] \(GOTRUE_URI_ALLOW_LIST's globs\): "https:\/\/\{www" is not a glob GoTrue compiles: a \{ without its \}/u,
    );
    await assert.rejects(
      load(dir, { env: { GOTRUE_URI_ALLOW_LIST: 'https://app.acme.test/[ab' } }),
      /"https:\/\/app\.acme\.test\/\[ab" is not a glob GoTrue compiles/u,
    );
    // A scheme spelt by wildcards could be javascript: for all a reader of the config knows.
    await assert.rejects(
      load(dir, { env: { GOTRUE_URI_ALLOW_LIST: '*://app.acme.test/cb' } }),
      /redirectAllowGlobs\[0\] .*"\*:\/\/app\.acme\.test\/cb" must start with http:\/\/, https:\/\/ or a mobile app's scheme/u,
    );
    // A host written otherwise than the parser writes it (a default port, Unicode) matches nothing.
    await assert.rejects(
      load(dir, {
        env: { GOTRUE_URI_ALLOW_LIST: 'https://app.acme.test:443/*, https://bücher.acme.test/*' },
      }),
      /redirectAllowGlobs\[0\] \(environment\) is "https:\/\/app\.acme\.test:443\/\*", which no redirect_to matches: .* app\.acme\.test\.[^]*redirectAllowGlobs\[1\] .* xn--bcher-kva\.acme\.test\./u,
    );
    // As an http:// entry of redirectAllowList: a glob on plain http to another host is a weak setup.
    await assert.rejects(
      load(dir, { env: { GOTRUE_URI_ALLOW_LIST: 'http://*.acme.test/**' } }),
      /weak setup[^]*redirectAllowGlobs\[0\] \(environment\) is "http:\/\/\*\.acme\.test\/\*\*": .* travel in clear/u,
    );
  });

  it("GoTrue's globs start restauth and are read as GoTrue reads them; a host wildcard wider than a domain is warned of", async () => {
    const { config, warnings } = await load(await tempDir(), {
      env: {
        GOTRUE_SITE_URL: 'https://app.acme.test',
        GOTRUE_URI_ALLOW_LIST:
          'https://app.acme.test/**, https://app.acme.test/auth/*, https://*-team.preview.acme.test/**, http://localhost:3000/*, https://preview.acme.test/cb',
      },
    });
    assert.deepEqual(config.redirectAllowList, ['https://app.acme.test/*', 'https://preview.acme.test/cb']);
    assert.deepEqual(config.redirectAllowGlobs, [
      'https://app.acme.test/auth/*',
      'https://*-team.preview.acme.test/**',
      'http://localhost:3000/*',
    ]);
    assert.deepEqual(warnings, []);

    const wide = await load(await tempDir(), {
      env: {
        GOTRUE_URI_ALLOW_LIST:
          'https://*.com/**, https://**acme.test/**, https://app.acme.*/cb, https://*.acme.test/**, ' +
          // Right under a public suffix, of the ICANN section or the private one: anyone can have a name there.
          'https://*.co.uk/**, https://*-team.vercel.app/**, https://pr-?.GitHub.io/cb, https://*.app.vercel.app/**',
      },
    });
    assert.deepEqual(wide.config.redirectAllowGlobs.length, 8);
    assert.deepEqual(
      wide.warnings.map(
        (warning) => /^redirectAllowGlobs\[(\d)\].*matches domains anyone can register/u.exec(warning)?.[1],
      ),
      ['0', '1', '2', '4', '5', '6'],
    );
  });

  it('a .env file fills in what the environment does not set, and config names where each value came from', async () => {
    const dir = await tempDir();
    await writeFile(
      join(dir, '.env'),
      [
        '# a GoTrue deployment',
        `GOTRUE_JWT_SECRET="${SECRET}"`,
        'GOTRUE_SITE_URL=https://app.acme.test',
        'export GOTRUE_MAILER_OTP_EXP=600',
        'GOTRUE_JWT_EXP=600',
      ].join('\n'),
    );
    const { config, sources } = await loadConfigWithSources({
      cwd: dir,
      env: { GOTRUE_JWT_EXP: '1200' },
      warn: () => {},
    });
    assert.equal(config.jwt.secret, SECRET);
    assert.equal(config.siteUrl, 'https://app.acme.test');
    assert.equal(config.jwt.accessTokenTtl, 1200, 'the environment wins over .env');
    assert.equal(sources.get('siteUrl'), '.env GOTRUE_SITE_URL');
    assert.equal(sources.get('jwt.secret'), '.env GOTRUE_JWT_SECRET');
    assert.equal(sources.get('jwt.accessTokenTtl'), 'environment GOTRUE_JWT_EXP');
  });

  it('GOTRUE_ENV_VARS lists exactly the variables gotrue-env.ts reads, each described', async () => {
    const source = await readFile(new URL('../../src/config/gotrue-env.ts', import.meta.url), 'utf8');
    const read = new Set(
      [...source.matchAll(/(?:get|flag|integer|goSeconds)\('([A-Z_]+)'|env\['([A-Z_]+)'\]/gu)].map(
        (match) => match[1] ?? match[2],
      ),
    );
    assert.deepEqual([...read].sort(), [...new Set(GOTRUE_ENV_VARS.map(({ name }) => name))].sort());
    for (const variable of GOTRUE_ENV_VARS) assert.ok(variable.description.length > 5, variable.name);
  });
});

describe('a server started from GoTrue variables behaves as GoTrue would', () => {
  it('sign-ups off, the audience and lifetime in its tokens', async () => {
    const t = await createTestApp({
      format: 'restauth',
      env: {
        GOTRUE_DISABLE_SIGNUP: 'true',
        GOTRUE_JWT_AUD: 'acme-app',
        GOTRUE_JWT_EXP: '600',
      },
    });
    try {
      const signUp = await t.app.inject({
        method: 'POST',
        url: '/auth/v1/signup',
        payload: { email: 'new@acme.test', password: 'a long passphrase' },
      });
      assert.deepEqual(
        [signUp.statusCode, signUp.json<{ error_code: string }>().error_code],
        [422, 'signup_disabled'],
      );
      await t.services.admin.createUser(LOCAL_CALL, {
        email: 'ann@acme.test',
        password: 'a long passphrase',
        emailConfirm: true,
      });
      const signIn = await t.app.inject({
        method: 'POST',
        url: '/auth/v1/token?grant_type=password',
        payload: { email: 'ann@acme.test', password: 'a long passphrase' },
      });
      const claims = decodeJwt(signIn.json<{ access_token: string }>().access_token);
      assert.equal(claims.aud, 'acme-app');
      assert.equal(Number(claims.exp) - Number(claims.iat), 600);
    } finally {
      await t.close();
    }
  });
});
