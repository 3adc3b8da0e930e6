/**
 * `npm run bench`: every benchmark, each side by side with its peers in one
 * run. Pass names to run some: `npm run bench -- login data`.
 */
const suites: Record<string, () => Promise<void>> = {
  login: async () => (await import('./login.js')).runLoginBench(),
  data: async () => (await import('./data/run.js')).runDataBench(),
  'data-filters': async () => (await import('./data/filters.js')).runFilterBench(),
  embed: async () => (await import('./data/embed.js')).runEmbedBench(),
  postgres: async () => (await import('./postgres.js')).runPostgresBench(),
  'postgres-http': async () => (await import('./postgres-http.js')).runPostgresHttpBench(),
  'file-store': async () => (await import('./file-store.js')).runFileStoreBench(),
  'sign-in-commit': async () => (await import('./sign-in-commit.js')).runSignInCommitBench(),
  'file-store-stalls': async () => (await import('./file-store-stalls.js')).runFileStoreStallsBench(),
  'event-loop': async () => (await import('./event-loop.js')).runEventLoopBench(),
  'auth-read': async () => (await import('./auth-read.js')).runAuthReadBench(),
  footprint: async () => (await import('./footprint.js')).runFootprintBench(),
  'json-server-auth': async () => (await import('./json-server-auth.js')).runJsonServerAuthBench(),
  'signup-timing': async () => (await import('./signup-timing.js')).runSignupTimingBench(),
};

const wanted = process.argv.slice(2);
for (const name of wanted) {
  if (!(name in suites)) {
    console.error(`unknown benchmark "${name}"; known: ${Object.keys(suites).join(', ')}`);
    process.exit(2);
  }
}
for (const [name, run] of Object.entries(suites)) {
  if (wanted.length === 0 || wanted.includes(name)) await run();
}
