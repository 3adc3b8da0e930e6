// `npm run build`: bundles the server into dist/cli/ with esbuild. The restauth command loaded about 1,100
// files at start (its own 190 and its dependencies'), resolving and reading each; one bundle, split only
// where the code imports lazily (pg, prom-client, nodemailer, @fastify/static ... stay out of a start that
// does not use them), starts in about two thirds of the CPU time. Type checking is `npm run typecheck`.
// Plain Node, no tsx: it runs from `npm pack` and `npm ci` (prepare).
import { chmodSync, mkdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const repoRoot = join(import.meta.dirname, '..');

/**
 * Packages left to Node's loader, each for a reason: native addons (and what loads them by path), pino's
 * transport threads (started from its files), and packages restauth itself loads with require() when it
 * needs them (nodemailer, pg, re2js).
 */
const external = [
  '@node-rs/argon2',
  'bcrypt',
  'fs-native-extensions',
  'pino',
  'pino-pretty',
  'thread-stream',
  'pg',
  'pg-native',
  'nodemailer',
  're2js',
];

/**
 * @fastify/swagger-ui serves its page's files from its own folder, found with __dirname, which a bundle
 * does not have: its two files that read it get the folder of the installed package instead. Left to
 * Node's loader, it loaded its own yaml, @fastify/static and send beside the bundle's (4 MiB of idle RSS).
 */
const swaggerUiFolder = {
  name: 'swagger-ui-folder',
  setup(build) {
    build.onLoad({ filter: /[\\/]@fastify[\\/]swagger-ui[\\/](index|lib[\\/]routes)\.js$/ }, async (args) => {
      const inLib = /[\\/]lib[\\/]routes\.js$/.test(args.path);
      const folder = `require('node:path').join(require('node:path').dirname(require.resolve('@fastify/swagger-ui')), '${inLib ? 'lib' : '.'}')`;
      return { contents: `var __dirname = ${folder};\n${await readFile(args.path, 'utf8')}`, loader: 'js' };
    });
  },
};

/**
 * Packages a dependency requires at load but uses only for a rare answer: each importer gets an object
 * that requires the package at its first property read (`require` inside resolves from the importer's
 * folder, to the package it required). @fastify/compress requires mime-db (a 2,500-entry JSON object,
 * 1.8 MiB of an idle server's memory) but reads it only for an answer whose type its pattern does not
 * already call compressible (an image from the static folder, say). @fastify/swagger requires yaml in its
 * spec builders and static mode but calls it only for the document as YAML (`/openapi/yaml`).
 */
const LAZY_PACKAGES = [
  { name: 'mime-db', importer: /[\\/]@fastify[\\/]compress[\\/]index\.js$/ },
  {
    name: 'yaml',
    importer: /[\\/]@fastify[\\/]swagger[\\/]lib[\\/](spec[\\/]\w+[\\/]index|mode[\\/]static)\.js$/,
  },
];

const lazyPackages = {
  name: 'lazy-packages',
  setup(build) {
    for (const { name, importer } of LAZY_PACKAGES) {
      const filter = new RegExp(`^${name}$`);
      build.onResolve({ filter }, (args) =>
        args.namespace === 'file' && importer.test(args.importer)
          ? { path: name, namespace: 'lazy-package', pluginData: dirname(args.importer) }
          : undefined,
      );
    }
    build.onLoad({ filter: /.*/, namespace: 'lazy-package' }, (args) => ({
      contents:
        'let loaded;\n' +
        `module.exports = new Proxy({}, { get: (_, key) => (loaded ??= require(${JSON.stringify(args.path)}))[key] });\n`,
      resolveDir: args.pluginData,
      loader: 'js',
    }));
  },
};

/**
 * json-schema-resolver (in @fastify/swagger) calls require('debug')(name) at load, for lines only
 * DEBUG=json-schema-resolver shows: debug loads supports-color, which loads tty and probes the terminal,
 * in every start. It gets a function that loads debug (which reads DEBUG then, as it would have) at its
 * first call, which the document's first build makes.
 */
const debugAtFirstCall = {
  name: 'debug-at-first-call',
  setup(build) {
    build.onResolve({ filter: /^debug$/ }, (args) =>
      args.namespace === 'file' && /[\\/]json-schema-resolver[\\/]/.test(args.importer)
        ? { path: 'debug', namespace: 'debug-at-first-call', pluginData: dirname(args.importer) }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'debug-at-first-call' }, (args) => ({
      contents:
        'module.exports = (namespace) => {\n' +
        '  let log;\n' +
        "  return (...args) => (log ??= require('debug')(namespace))(...args);\n" +
        '};\n',
      resolveDir: args.pluginData,
      loader: 'js',
    }));
  },
};

/**
 * @fastify/compress takes Readable.from and Transform from readable-stream 4, a copy of Node 18's streams
 * for browsers that brings polyfills of process, buffer, AbortController and EventTarget: in the bundle it
 * gets Node's own stream module, which that copy follows (0.6 MiB of an idle server, 6 interleaved starts).
 */
const compressOnNodeStreams = {
  name: 'compress-on-node-streams',
  setup(build) {
    build.onResolve({ filter: /^readable-stream$/ }, (args) =>
      /[\\/]@fastify[\\/]compress[\\/]/.test(args.importer)
        ? { path: 'node:stream', external: true }
        : undefined,
    );
  },
};

/** Builds the server into `<outDir>/cli/main.js` (the `restauth` bin), with source maps beside each file. */
export async function buildServer(outDir = join(repoRoot, 'dist')) {
  rmSync(outDir, { recursive: true, force: true });
  const { outputFiles } = await build({
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
    // Names as written: esbuild would rename colliding top-level names, and some packages name their
    // errors after their class (jose: this.name = this.constructor.name). Whitespace and comments go: V8
    // keeps every loaded file's source in memory (a third smaller, 1.6-2 MiB of idle RSS), and the source
    // maps give stack traces their src/ lines back.
    minifyWhitespace: true,
    minifyIdentifiers: false,
    minifySyntax: false,
    keepNames: true,
    logLevel: 'warning',
    write: false,
    plugins: [swaggerUiFolder, lazyPackages, debugAtFirstCall, compressOnNodeStreams],
  });
  for (const file of outputFiles) {
    mkdirSync(dirname(file.path), { recursive: true });
    writeFileSync(file.path, file.path.endsWith('.js') ? asciiOnly(file.text) : file.contents);
  }
  chmodSync(join(outDir, 'cli/main.js'), 0o755);
}

/**
 * The code with every non-ASCII character written as a \u escape. V8 keeps a loaded file's source in
 * memory, one byte a character, but two for every character once one is beyond Latin-1: esbuild escapes
 * strings but not regular expressions nor the comments it keeps (an arrow in one of restauth's), which
 * doubled the 2.7 MB main chunk (2.5 MiB of idle RSS). The escape means the same character in strings,
 * regular expressions, identifiers and template literals, and a comment is text; only a raw template
 * (String.raw) would read it differently, and no bundled one holds a non-ASCII character.
 */
function asciiOnly(code) {
  return code.replace(/[\u0080-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

// `node scripts/build.mjs [outDir]`: dist/ by default (bench/footprint.ts builds into a folder of its own).
// Node loads a module from its real path, so a start through a symlink (the test mirror links scripts/) is
// compared by real path too.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  await buildServer(process.argv[2] === undefined ? undefined : resolve(process.argv[2]));
}
