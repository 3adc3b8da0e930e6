// `npm run build`: bundles the server into dist/cli/ with esbuild. The restauth command loaded about 1,100
// files at start (its own 190 and its dependencies'), resolving and reading each; one bundle, split only
// where the code imports lazily (pg, prom-client, nodemailer, @fastify/static ... stay out of a start that
// does not use them), starts in about two thirds of the CPU time. Type checking is `npm run typecheck`.
// Plain Node, no tsx: it runs from `npm pack` and `npm ci` (prepare).
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const repoRoot = join(import.meta.dirname, '..');

/**
 * Packages left to Node's loader, each for a reason: native addons (and what loads them by path), files
 * read from the package's own folder at run time (@fastify/swagger-ui's page, pino's transport threads),
 * and packages restauth itself loads with require() from a lazily taken path (nodemailer, pg).
 */
const external = [
  '@node-rs/argon2',
  'bcrypt',
  'fs-native-extensions',
  '@fastify/swagger-ui',
  'pino',
  'pino-pretty',
  'thread-stream',
  'pg',
  'pg-native',
  'nodemailer',
];

/** Builds the server into `<outDir>/cli/main.js` (the `restauth` bin), with source maps beside each file. */
export async function buildServer(outDir = join(repoRoot, 'dist')) {
  rmSync(outDir, { recursive: true, force: true });
  await build({
    entryPoints: [join(repoRoot, 'src/cli/main.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Dynamic import() becomes a chunk loaded when the code reaches it, as the unbundled modules were.
    splitting: true,
    // Every file beside main.js: a module's import.meta.url resolves as it did in dist/cli (program.ts
    // reads ../../package.json).
    outdir: join(outDir, 'cli'),
    chunkNames: '[name]-[hash]',
    external,
    // ESM builds where a package has both (jsonc-parser's UMD main requires files esbuild cannot follow).
    mainFields: ['module', 'main'],
    // The CommonJS packages in the bundle call require() for Node's modules.
    banner: {
      js: "import { createRequire as __bundleCreateRequire } from 'node:module'; const require = __bundleCreateRequire(import.meta.url);",
    },
    // `node --enable-source-maps` (or NODE_OPTIONS) maps stack traces to src/ files and lines; not on by
    // default, as Node then reads and keeps every loaded file's map (7 MiB more at idle). The sources are
    // not copied in: the maps name them.
    sourcemap: true,
    sourcesContent: false,
    // Readable code, and names as written: esbuild would rename colliding top-level names, and some
    // packages name their errors after their class (jose: this.name = this.constructor.name).
    minify: false,
    keepNames: true,
    logLevel: 'warning',
  });
}

// `node scripts/build.mjs [outDir]`: dist/ by default (bench/footprint.ts builds into a folder of its own).
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await buildServer(process.argv[2] === undefined ? undefined : resolve(process.argv[2]));
}
