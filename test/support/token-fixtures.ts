/** TokenService settings for the core token suites: HS256 with a test secret, 60 s tokens, 2 s of leeway. */
export const TOKEN_SETTINGS = {
  secret: 'a-test-secret-of-reasonable-length',
  accessTokenTtl: 60,
  clockTolerance: 2,
  issuer: null,
  audience: null,
};

/** The claims of a signed-in user's access token. */
export const USER_CLAIMS = { sub: 'alice', role: 'authenticated', session_id: 's1', token_version: 0 };

/** `seconds` after the suites' epoch (1 January 2026, UTC): their injected clock. */
export const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1) + seconds * 1000);
