// Lint rules that catch what reviews catch: unused code, promises nobody awaits or handles, `any`
// leaking through, needless assertions. Type-aware (typescript-eslint over tsconfig.test.json, so
// tests are checked too). The layering is test/architecture.test.ts's job; formatting is Prettier's.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const UNSAFE_ANY = ['no-unsafe-argument', 'no-unsafe-assignment', 'no-unsafe-call', 'no-unsafe-member-access', 'no-unsafe-return'].map(
  (r) => `@typescript-eslint/${r}`,
);
const off = (rules) => Object.fromEntries(rules.map((r) => [r, 'off']));

export default tseslint.config(
  { ignores: ['dist/', 'dist-test/', 'node_modules/', 'coverage/', 'data/', '.bench/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname } },
    rules: {
      // node:test's describe() and test() return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'suite', 'test', 'it'] }] },
      ],
      // Handlers passed to EventEmitters and commander's .action() may be async.
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false, attributes: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-console': 'error',
    },
  },
  {
    // commander hands .action() its options as `any`; its own choices() and argument parsers
    // validate them, so `any` is the library's contract here, not a leak.
    files: ['src/cli/commands/**/*.ts', 'src/main.ts', 'src/program.ts'],
    rules: off(UNSAFE_ANY),
  },
  {
    // Tests read responses as `any` and assert their shape; a wrong shape fails the assertion.
    files: ['test/**/*.ts', 'src/**/*.test.ts'],
    rules: off(UNSAFE_ANY),
  },
  {
    // Kysely migrations run against the schema as it was at their step, not today's typed one.
    files: ['src/meta/migrations/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', ...off(UNSAFE_ANY) },
  },
  {
    // Scripts (the test runner, benchmarks, this file) run on Node and talk to the console.
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: {
        process: 'readonly',
        console: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        Buffer: 'readonly',
        fetch: 'readonly',
      },
    },
    rules: { ...tseslint.configs.disableTypeChecked.rules, 'no-console': 'off' },
  },
);
