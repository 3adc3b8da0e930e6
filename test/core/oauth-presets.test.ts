import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ProviderSettings } from '../../src/core/oauth/provider.js';
import { apple, appleCallbackClaims, appleClaims } from '../../src/core/oauth/providers/apple.js';
import { azure, azureAcceptsIssuer, azureClaims } from '../../src/core/oauth/providers/azure.js';
import { discord, discordClaims } from '../../src/core/oauth/providers/discord.js';
import { github, githubClaims, githubEmails } from '../../src/core/oauth/providers/github.js';
import { gitlab, gitlabClaims } from '../../src/core/oauth/providers/gitlab.js';
import { google, googleClaims } from '../../src/core/oauth/providers/google.js';

/**
 * The presets' endpoints and their mapping of what each provider answers onto
 * the user's claims, on payloads shaped as the providers document and send
 * them (GitHub's REST API, GitLab's /api/v4/user, Discord's /users/@me, and
 * Google's, Entra's and Apple's id_tokens), with GoTrue's rules for which
 * address is verified.
 */

function settings(overrides: Partial<ProviderSettings> = {}): ProviderSettings {
  return {
    name: 'test',
    clientIds: ['client'],
    secret: 'secret',
    redirectUri: 'https://auth.acme.test/auth/v1/callback',
    url: null,
    apiUrl: null,
    issuer: null,
    skipNonceCheck: false,
    emailOptional: false,
    ...overrides,
  };
}

describe('GitHub', () => {
  // https://docs.github.com/rest/users/users#get-the-authenticated-user (trimmed)
  const user = {
    login: 'octocat',
    id: 583231,
    node_id: 'MDQ6VXNlcjU4MzIzMQ==',
    avatar_url: 'https://avatars.githubusercontent.com/u/583231?v=4',
    type: 'User',
    site_admin: false,
    name: 'The Octocat',
    email: null,
  };

  it("the primary address of /user/emails with its verified flag, GitHub's numeric id as text", () => {
    const emails = githubEmails([
      { email: 'octo@old.test', primary: false, verified: true, visibility: null },
      { email: 'octocat@github.test', primary: true, verified: true, visibility: 'private' },
    ]);
    assert.deepEqual(githubClaims(user, emails, 'https://api.github.com'), {
      subject: '583231',
      email: 'octocat@github.test',
      emailVerified: true,
      name: 'The Octocat',
      avatarUrl: 'https://avatars.githubusercontent.com/u/583231?v=4',
      extra: {
        iss: 'https://api.github.com',
        preferred_username: 'octocat',
        user_name: 'octocat',
        full_name: 'The Octocat',
        provider_id: '583231',
      },
    });
  });

  it('an unverified primary stays unverified: a verified secondary never stands in for it', () => {
    const claims = githubClaims(
      user,
      githubEmails([
        { email: 'primary@acme.test', primary: true, verified: false },
        { email: 'other@acme.test', primary: false, verified: true },
      ]),
      'https://api.github.com',
    );
    assert.equal(claims.email, 'primary@acme.test');
    assert.equal(claims.emailVerified, false);
  });

  it('no address at all, or a malformed /user/emails answer: no email; a user without an id is refused', () => {
    assert.equal(githubClaims(user, githubEmails({ message: 'Not Found' }), 'x').email, null);
    assert.equal(githubClaims(user, githubEmails([{ primary: true }, 'x', null]), 'x').email, null);
    assert.throws(() => githubClaims({ login: 'ghost' }, [], 'x'), /no id/);
  });

  it('endpoints: github.com, or a GitHub Enterprise Server at url (API under /api/v3)', () => {
    assert.deepEqual(github.endpoints(settings()), {
      authorization: 'https://github.com/login/oauth/authorize',
      token: 'https://github.com/login/oauth/access_token',
    });
    assert.deepEqual(github.endpoints(settings({ url: 'https://ghe.acme.test/' })), {
      authorization: 'https://ghe.acme.test/login/oauth/authorize',
      token: 'https://ghe.acme.test/login/oauth/access_token',
    });
    assert.deepEqual(github.defaultScopes, ['user:email']);
  });

  it('reads /user and /user/emails from the API of its settings with the access token', async () => {
    const asked: string[] = [];
    const answers = new Map<string, unknown>([
      ['https://ghe.acme.test/api/v3/user', user],
      ['https://ghe.acme.test/api/v3/user/emails', [{ email: 'o@acme.test', primary: true, verified: true }]],
    ]);
    const claims = await github.readUser(
      { accessToken: 'gho_token', refreshToken: null, idToken: null },
      {
        getJson: async (url, accessToken) => {
          asked.push(`${url} ${accessToken}`);
          return answers.get(url);
        },
      },
      settings({ url: 'https://ghe.acme.test' }),
    );
    assert.deepEqual(asked.sort(), [
      'https://ghe.acme.test/api/v3/user gho_token',
      'https://ghe.acme.test/api/v3/user/emails gho_token',
    ]);
    assert.equal(claims.email, 'o@acme.test');
    assert.equal(claims.extra['iss'], 'https://ghe.acme.test/api/v3');
  });
});

describe('GitLab', () => {
  // https://docs.gitlab.com/api/users/#for-normal-users-1 (trimmed)
  const user = {
    id: 1,
    username: 'john_smith',
    email: 'john@example.test',
    name: 'John Smith',
    state: 'active',
    avatar_url: 'https://gitlab.example.test/uploads/user/avatar/1/index.jpg',
    confirmed_at: '2012-05-23T09:05:22Z',
  };

  it('the primary address, verified when GitLab confirmed it', () => {
    const claims = gitlabClaims(user, 'https://gitlab.com');
    assert.equal(claims.subject, '1');
    assert.equal(claims.email, 'john@example.test');
    assert.equal(claims.emailVerified, true);
    assert.equal(claims.name, 'John Smith');
    assert.equal(claims.avatarUrl, user.avatar_url);
    assert.equal(gitlabClaims({ ...user, confirmed_at: null }, 'x').emailVerified, false);
  });

  it('a self-hosted GitLab at url', () => {
    assert.deepEqual(gitlab.endpoints(settings({ url: 'https://git.acme.test' })), {
      authorization: 'https://git.acme.test/oauth/authorize',
      token: 'https://git.acme.test/oauth/token',
    });
    assert.deepEqual(gitlab.endpoints(settings()).authorization, 'https://gitlab.com/oauth/authorize');
    assert.deepEqual(gitlab.defaultScopes, ['read_user']);
  });
});

describe('Discord', () => {
  // https://discord.com/developers/docs/resources/user#user-object-example-user
  const user = {
    id: '80351110224678912',
    username: 'Nelly',
    discriminator: '1337',
    global_name: 'Nelly the Great',
    avatar: '8342729096ea3675442027381ff50dfe',
    verified: true,
    email: 'nelly@discord.test',
    flags: 64,
    premium_type: 1,
    public_flags: 64,
  };

  it('the avatar as a CDN address, name#discriminator, the global name in custom_claims', () => {
    const claims = discordClaims(user, 'https://discord.com/api');
    assert.deepEqual(claims, {
      subject: '80351110224678912',
      email: 'nelly@discord.test',
      emailVerified: true,
      name: 'Nelly#1337',
      avatarUrl: 'https://cdn.discordapp.com/avatars/80351110224678912/8342729096ea3675442027381ff50dfe.png',
      extra: {
        iss: 'https://discord.com/api',
        picture: 'https://cdn.discordapp.com/avatars/80351110224678912/8342729096ea3675442027381ff50dfe.png',
        full_name: 'Nelly',
        provider_id: '80351110224678912',
        custom_claims: { global_name: 'Nelly the Great' },
      },
    });
  });

  it('an animated avatar is a GIF; none is the default avatar of the discriminator modulo 5', () => {
    assert.match(
      discordClaims({ ...user, avatar: 'a_1269e74af4df7417b13759eae50c83dc' }, 'x').avatarUrl!,
      /\.gif$/,
    );
    assert.equal(
      discordClaims({ ...user, avatar: null }, 'x').avatarUrl,
      'https://cdn.discordapp.com/embed/avatars/2.png',
    );
    assert.equal(
      discordClaims({ ...user, avatar: null, discriminator: '0' }, 'x').avatarUrl,
      'https://cdn.discordapp.com/embed/avatars/0.png',
    );
  });

  it('an address Discord has not verified is unverified', () => {
    assert.equal(discordClaims({ ...user, verified: false }, 'x').emailVerified, false);
    assert.deepEqual(discord.endpoints(settings()), {
      authorization: 'https://discord.com/api/oauth2/authorize',
      token: 'https://discord.com/api/oauth2/token',
    });
  });
});

describe('Google', () => {
  // https://developers.google.com/identity/openid-connect/openid-connect#an-id-tokens-payload
  const idToken = {
    iss: 'https://accounts.google.com',
    azp: '1234987819200.apps.googleusercontent.com',
    aud: '1234987819200.apps.googleusercontent.com',
    sub: '10769150350006150715113082367',
    at_hash: 'HK6E_P6Dh8Y93mRNtsDB1Q',
    hd: 'example.test',
    email: 'jsmith@example.test',
    email_verified: true,
    iat: 1353601026,
    exp: 1353604926,
    name: 'J Smith',
    picture: 'https://lh3.googleusercontent.com/a/photo.jpg',
  };

  it("the id_token's user, the Workspace domain in custom_claims", () => {
    const claims = googleClaims(idToken);
    assert.equal(claims.subject, '10769150350006150715113082367');
    assert.equal(claims.email, 'jsmith@example.test');
    assert.equal(claims.emailVerified, true);
    assert.equal(claims.avatarUrl, 'https://lh3.googleusercontent.com/a/photo.jpg');
    assert.deepEqual(claims.extra['custom_claims'], { hd: 'example.test' });
  });

  it('verified as email_verified or the older verified_email says, as GoTrue', () => {
    assert.equal(googleClaims({ ...idToken, email_verified: false }).emailVerified, false);
    assert.equal(
      googleClaims({ ...idToken, email_verified: undefined, verified_email: true }).emailVerified,
      true,
    );
    assert.equal(googleClaims({ ...idToken, email_verified: 'true' }).emailVerified, true);
    assert.equal(google.issuer(settings()), 'https://accounts.google.com');
    assert.equal(google.issuer(settings({ issuer: 'http://127.0.0.1:9/' })), 'http://127.0.0.1:9/');
  });
});

describe('Microsoft Entra ID (azure)', () => {
  // https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference (v2.0, trimmed)
  const idToken = {
    aud: '6cb04018-a3f5-46a7-b995-940c78f5aef3',
    iss: 'https://login.microsoftonline.com/b9419818-09af-49c2-b0c3-653adc1f376e/v2.0',
    iat: 1452285331,
    nbf: 1452285331,
    exp: 1452289231,
    name: 'Abe Lincoln',
    nonce: '123523',
    oid: '00000000-0000-0000-66f3-3332eca7ea81',
    preferred_username: 'AbeLi@microsoft.test',
    rh: 'I',
    sub: '5_J9rSss8-jvt_Icu6ueRNL8xXb8LF4Fsg_KooC2RJQ',
    tid: 'b9419818-09af-49c2-b0c3-653adc1f376e',
    uti: 'AbeOpR-jCUaTrQ4SmuMSAA',
    ver: '2.0',
    email: 'abe@lincoln.test',
  };

  it('an address without xms_edov is verified; with it, as xms_edov says (true, "1", "true")', () => {
    assert.equal(azureClaims(idToken).emailVerified, true);
    assert.equal(azureClaims({ ...idToken, xms_edov: false }).emailVerified, false);
    assert.equal(azureClaims({ ...idToken, xms_edov: '0' }).emailVerified, false);
    assert.equal(azureClaims({ ...idToken, xms_edov: '1' }).emailVerified, true);
    assert.equal(azureClaims({ ...idToken, xms_edov: true }).emailVerified, true);
  });

  it('upn and preferred_username are never the address; the other claims are custom_claims', () => {
    const { email: _email, ...withoutEmail } = idToken;
    const claims = azureClaims({ ...withoutEmail, upn: 'abe@tenant.test' });
    assert.equal(claims.email, null);
    assert.equal(claims.emailVerified, false);
    assert.equal(claims.extra['preferred_username'], 'AbeLi@microsoft.test');
    assert.deepEqual(claims.extra['custom_claims'], {
      oid: '00000000-0000-0000-66f3-3332eca7ea81',
      tid: 'b9419818-09af-49c2-b0c3-653adc1f376e',
      upn: 'abe@tenant.test',
    });
  });

  it('common accepts any Entra tenant; a tenant url only its own issuer; never another host', () => {
    const tenant = 'https://login.microsoftonline.com/b9419818-09af-49c2-b0c3-653adc1f376e/v2.0';
    const other = 'https://login.microsoftonline.com/00000000-1111-2222-3333-444444444444/v2.0';
    assert.equal(azure.issuer(settings()), 'https://login.microsoftonline.com/common/v2.0');
    assert.equal(azureAcceptsIssuer(tenant, settings()), true);
    assert.equal(azureAcceptsIssuer('https://evil.test/b9419818/v2.0', settings()), false);
    const pinned = settings({
      url: 'https://login.microsoftonline.com/b9419818-09af-49c2-b0c3-653adc1f376e',
    });
    assert.equal(azure.issuer(pinned), tenant);
    assert.equal(azureAcceptsIssuer(tenant, pinned), true);
    assert.equal(azureAcceptsIssuer(other, pinned), false);
    const ciam = settings({ url: 'https://acme.ciamlogin.com/b9419818-09af-49c2-b0c3-653adc1f376e' });
    assert.equal(
      azureAcceptsIssuer('https://acme.ciamlogin.com/b9419818-09af-49c2-b0c3-653adc1f376e/v2.0', ciam),
      true,
    );
    assert.equal(azureAcceptsIssuer(tenant, ciam), false);
  });
});

describe('Apple', () => {
  // https://developer.apple.com/documentation/signinwithapple/authenticating-users-with-sign-in-with-apple
  const idToken = {
    iss: 'https://appleid.apple.com',
    aud: 'com.acme.app',
    exp: 1700003600,
    iat: 1700000000,
    sub: '001234.0a1b2c3d4e5f60718293a4b5c6d7e8f9.1234',
    at_hash: 'x3Hk9XT8Ghk1d0Yp1lVqkA',
    email: 'q7xk2m@privaterelay.appleid.com',
    email_verified: 'true',
    is_private_email: 'true',
    auth_time: 1700000000,
    nonce_supported: true,
  };

  it('the address is verified (Apple gives only verified ones); relay, auth_time in custom_claims', () => {
    const claims = appleClaims(idToken);
    assert.equal(claims.subject, '001234.0a1b2c3d4e5f60718293a4b5c6d7e8f9.1234');
    assert.equal(claims.email, 'q7xk2m@privaterelay.appleid.com');
    assert.equal(claims.emailVerified, true);
    assert.deepEqual(claims.extra['custom_claims'], { is_private_email: true, auth_time: 1700000000 });
    assert.deepEqual(appleClaims({ ...idToken, is_private_email: false }).extra['custom_claims'], {
      is_private_email: false,
      auth_time: 1700000000,
    });
  });

  it("the first callback's user field gives a name, never an address; a malformed one changes nothing", () => {
    const claims = appleClaims(idToken);
    const withUser = (user: string) => appleCallbackClaims(new URLSearchParams({ user }), claims);
    const named = withUser(
      JSON.stringify({ name: { firstName: ' Ada', lastName: 'Lovelace ' }, email: 'x@evil.test' }),
    );
    assert.deepEqual(named, { ...claims, name: 'Ada Lovelace' });
    assert.equal(withUser(JSON.stringify({ name: { firstName: 'Ada' } })).name, 'Ada');
    for (const user of ['not json', '[]', 'null', '{"name":"Ada"}', '{"name":{"firstName":7}}', '']) {
      assert.deepEqual(withUser(user), claims, user);
    }
    assert.deepEqual(appleCallbackClaims(new URLSearchParams(), claims), claims);
  });

  it("answers by form post; accepts Apple's two issuers and no other", () => {
    assert.deepEqual(apple.authorizationParams, { response_mode: 'form_post' });
    assert.equal(apple.issuer(settings()), 'https://appleid.apple.com');
    assert.equal(apple.acceptsIssuer?.('https://account.apple.com', settings()), true);
    assert.equal(apple.acceptsIssuer?.('https://evil.test', settings()), false);
  });
});
