import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * No async hooks at runtime: on Node 20 a single AsyncLocalStorage.run turns promise hooks on for every
 * promise of the process, 5-9 µs of every request (an authenticated data-API read measured 12-17 %).
 */
const noAsyncHooks = ['node:async_hooks', 'async_hooks'].map((name) => ({
  name,
  message:
    'Async hooks cost every request once enabled (Node 20): pass what a callee needs as a parameter (see Client in core/audit.ts).',
}));

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '.tmp/', '.test-build/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  {
    // The CI and build scripts are plain Node ESM (.ci/*.mjs, scripts/*.mjs): they run without tsx.
    files: ['.ci/**/*.mjs', 'scripts/**/*.mjs'],
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        fetch: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
      },
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: noAsyncHooks }] },
  },
  {
    // The map (DESIGN.md): the data API depends on the documents port and src/lib only, never on the
    // HTTP layer, a store's insides, the config or core's services.
    files: ['src/data/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: noAsyncHooks,
          patterns: [
            {
              regex: '^\\.\\./(?!lib/|core/ports/documents\\.js$)',
              message: 'src/data imports only from src/lib and core/ports/documents.ts (see DESIGN.md).',
            },
          ],
        },
      ],
    },
  },
  {
    // No client string is a plain-object key (docs: DESIGN "Principles"): `map[key] = value` on a plain
    // object with key "__proto__" replaces the object's prototype, and a lookup of it hands back
    // Object.prototype for writing. Maps are Map or null-prototype objects; every computed write in
    // src/ says why its key is trusted or its target has no prototype (a disable comment with a reason).
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector:
            "AssignmentExpression > MemberExpression.left[computed=true]:not([property.type='Literal'])",
          message:
            'A computed key on a plain object: use a Map or Object.create(null), or say why the key is trusted (eslint-disable-next-line no-restricted-syntax -- reason).',
        },
      ],
    },
  },
);
