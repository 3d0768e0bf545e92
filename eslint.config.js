import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import prettier from 'eslint-config-prettier'

export default tseslint.config(
  {
    ignores: [
      'generated/**',
      'clients/typescript/generated/**',
      'node_modules/**',
      'dist/**',
      'data/**',
      '.tap/**',
      'coverage/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      // Leaving a property out by destructuring it away (`const { notes, ...rest } = row`).
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
    },
  },
  {
    // Tests index into data they have just built; `!` there states a fact, not a hope.
    files: ['test/**'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  // The layers (docs/architecture.md): routes → services → db → migrations, one direction.
  {
    files: ['services/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['fastify', 'fastify-plugin', '@fastify/*'],
              message: 'Services are plain functions: no Fastify (docs/architecture.md).',
            },
            {
              group: ['**/lib/http-errors.js', '**/plugins/**', '**/routes/**'],
              message: 'Services throw domain errors (lib/domain-errors.ts), not HTTP answers.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['routes/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['kysely', 'kysely/*', '**/db/**'],
              message: 'Routes call services; SQL and transactions live below them.',
            },
          ],
        },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.property.name='transaction']",
          message: 'Routes open no transaction: the service owns its unit of work.',
        },
        {
          selector: "TaggedTemplateExpression[tag.name='sql']",
          message: 'Routes hold no SQL: call a service.',
        },
      ],
    },
  },
  {
    // Jobs are queue adapters, as routes are HTTP ones: they call services.
    files: ['jobs/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['fastify', 'fastify-plugin', '@fastify/*', '**/plugins/**', '**/routes/**'],
              message: 'A job calls services with the database; it knows no HTTP.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['db/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['fastify', '@fastify/*', '**/services/**', '**/routes/**', '**/plugins/**'],
              message: 'Query modules know only the database (docs/architecture.md).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['migrations/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  prettier,
)
