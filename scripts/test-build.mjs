// `npm test`'s second step (after `npm run build`): compiles src/, test/ and bench/ to plain JavaScript in
// .test-build/, a mirror of the repository the test runner runs from. Through tsx, every test process
// (about 420 in a run) spent 2.4-2.8 s of CPU importing the server, most of it in tsx's loader hooks;
// compiled, 1.0-1.2 s. Type checking stays `npm run typecheck`.
//
// The mirror holds, for each .ts file, its compiled .js beside a copy of the .ts itself (a test that
// starts a child with tsx on a source path finds it there), the other files of those folders as copies,
// and every other top-level entry (node_modules, dist, scripts, package.json...) as a symlink to the
// real one. Only files changed since the last run are compiled again.
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { build } from 'esbuild';

const repoRoot = join(import.meta.dirname, '..');
const mirror = join(repoRoot, '.test-build');
const COMPILED = ['src', 'test', 'bench'];
/** Entries not linked into the mirror: the mirror itself, and what git or a test run keeps locally. */
const NOT_LINKED = new Set(['.test-build', '.git', ...COMPILED]);

/** Every file under `folder`, as paths relative to the repository. */
function filesUnder(folder) {
  return readdirSync(join(repoRoot, folder), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(repoRoot, join(entry.parentPath, entry.name)));
}

/** Whether `copy` is missing or older than `original` (copies keep their original's time). */
function stale(original, copy) {
  return !existsSync(copy) || Math.trunc(statSync(copy).mtimeMs) !== Math.trunc(statSync(original).mtimeMs);
}

function copyKeepingTime(file) {
  const target = join(mirror, file);
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(join(repoRoot, file), target);
  const { atimeMs, mtimeMs } = statSync(join(repoRoot, file));
  return { target, atime: atimeMs / 1000, mtime: mtimeMs / 1000 };
}

mkdirSync(mirror, { recursive: true });
for (const name of readdirSync(repoRoot)) {
  if (NOT_LINKED.has(name)) continue;
  const link = join(mirror, name);
  if (existsSync(link) || isDanglingLink(link)) continue;
  symlinkSync(join(repoRoot, name), link);
}

const sources = COMPILED.flatMap(filesUnder);
const present = new Set(
  sources.flatMap((file) => (file.endsWith('.ts') ? [file, file.replace(/\.ts$/, '.js')] : [file])),
);
// A file removed from the repository leaves the mirror too, or the runner would still find its test.
for (const folder of COMPILED) {
  if (!existsSync(join(mirror, folder))) continue;
  for (const entry of readdirSync(join(mirror, folder), { recursive: true, withFileTypes: true })) {
    const file = relative(mirror, join(entry.parentPath, entry.name));
    if (entry.isFile() && !present.has(file)) rmSync(join(mirror, file));
  }
}

const changed = sources.filter((file) => stale(join(repoRoot, file), join(mirror, file)));
const toCompile = changed.filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'));
if (toCompile.length > 0) {
  await build({
    entryPoints: toCompile.map((file) => join(repoRoot, file)),
    outdir: mirror,
    outbase: repoRoot,
    bundle: false,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'warning',
  });
}
// The copy (and its time) is written last, so a run stopped midway compiles the file again next time.
for (const file of changed) {
  const { target, atime, mtime } = copyKeepingTime(file);
  utimesSync(target, atime, mtime);
}
console.log(
  `test-build: ${toCompile.length} compiled, ${changed.length - toCompile.length} copied, ${sources.length} in all`,
);

function isDanglingLink(path) {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
