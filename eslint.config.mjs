// ESLint flat config: typescript-eslint's type-aware recommended rules for lib/, ESLint's recommended rules for
// the plain JavaScript (bin/, bench/, scripts/, test/, examples/). Layout is prettier's job, not ESLint's:
// eslint-config-prettier comes last and turns off every rule that would disagree with it.
import { defineConfig } from 'eslint/config';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';
import globals from 'globals';

// `_name` marks a parameter kept for its position or documentation (BaseApplication.init(_args));
// `const { text, ...rest } = r` is the idiom for dropping a key (bench/run.mjs).
const unusedVars = ['error', { argsIgnorePattern: '^_', ignoreRestSiblings: true }];

export default defineConfig(
  {
    ignores: ['dist/', 'build/', 'build-asan/', 'node_modules/', '.tap/', 'bench/out/', 'test/native/build/'],
  },
  {
    files: ['**/*.{js,mjs,cjs}'],
    extends: [js.configs.recommended],
    languageOptions: { ecmaVersion: 2022, sourceType: 'module', globals: { ...globals.node } },
    rules: { 'no-unused-vars': unusedVars },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
  },
  {
    files: ['lib/**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': unusedVars,
      // `(...args: any[]) => unknown` is the one type every function is assignable to (hooks, validateCallable):
      // with `unknown[]` a hook declared `(worker: Worker) => void` no longer type-checks. Other `any`s still count.
      '@typescript-eslint/no-explicit-any': ['error', { ignoreRestArgs: true }],
    },
  },
  prettier,
);
