import t from 'tap'
import {
  flag,
  helpText,
  httpUrl,
  nonNegativeInteger,
  oneOf,
  optional,
  portNumber,
  positiveInteger,
  readCommandLine,
  repeated,
  required,
  usageLine,
  withDefault,
  type ValueType,
} from '../../scripts/cli.js'

const spec = {
  command: 'npm run example',
  summary: 'An example command.',
  options: {
    business: repeated(positiveInteger, { placeholder: '<id>', description: 'a business' }),
    customer: required(positiveInteger, { placeholder: '<id>', description: 'the customer' }),
    hours: withDefault(positiveInteger, {
      placeholder: '<n>',
      description: 'hours',
      default: 12,
    }),
    type: withDefault(oneOf(['completed', 'voided'] as const), {
      placeholder: '<type>',
      description: 'the type',
      default: 'completed',
    }),
    sale: optional(nonNegativeInteger, {
      placeholder: '<n>',
      description: 'a sale',
      absent: 'a new one',
    }),
    check: flag('only check'),
  },
  check: (values: { type: string; sale: number | undefined }) =>
    values.type === 'voided' && values.sale === undefined
      ? '--sale is required to void'
      : undefined,
}

t.test('values, defaults and repeated options', async (t) => {
  t.same(readCommandLine(spec, ['--business', '5', '--customer', '1']), {
    business: [5],
    customer: 1,
    hours: 12,
    type: 'completed',
    sale: undefined,
    check: false,
  })
  t.same(
    readCommandLine(spec, [
      '--business=5',
      '--business',
      '6',
      '--customer',
      '2',
      '--hours',
      '3',
      '--type',
      'voided',
      '--sale',
      '0',
      '--check',
    ]),
    { business: [5, 6], customer: 2, hours: 3, type: 'voided', sale: 0, check: true },
  )
})

t.test('--help or -h anywhere before --, whatever else is wrong', async (t) => {
  for (const argv of [['--help'], ['-h'], ['--no-such', '--help'], ['--hours', 'abc', '-h']]) {
    t.equal(readCommandLine(spec, argv), 'help', argv.join(' '))
  }
})

t.test('each wrong command line is one line saying what is wrong', async (t) => {
  const ok = ['--business', '5', '--customer', '1']
  const cases: { argv: string[]; message: string }[] = [
    { argv: ['--customer', '1'], message: '--business is required' },
    { argv: ['--business', '5'], message: '--customer is required' },
    { argv: [...ok, '--bogus'], message: 'unknown option --bogus' },
    { argv: [...ok, '-x'], message: 'unknown option -x' },
    { argv: [...ok, 'stray'], message: 'unexpected argument stray (options start with --)' },
    { argv: [...ok, '--hours'], message: '--hours needs a value' },
    {
      argv: [...ok, '--hours', '-3'],
      message: '--hours needs a value (one starting with - is written --hours=-…)',
    },
    { argv: [...ok, '--hours=-3'], message: '--hours takes a positive integer, not "-3"' },
    { argv: [...ok, '--hours', 'abc'], message: '--hours takes a positive integer, not "abc"' },
    { argv: [...ok, '--hours', '0'], message: '--hours takes a positive integer, not "0"' },
    { argv: [...ok, '--hours', '1.5'], message: '--hours takes a positive integer, not "1.5"' },
    { argv: [...ok, '--hours='], message: '--hours takes a positive integer, not ""' },
    {
      argv: ['--business', 'x', '--customer', '1'],
      message: '--business takes a positive integer, not "x"',
    },
    {
      argv: [...ok, '--sale', '-1'],
      message: '--sale needs a value (one starting with - is written --sale=-…)',
    },
    {
      argv: [...ok, '--type', 'refunded'],
      message: '--type takes one of completed, voided, not "refunded"',
    },
    { argv: [...ok, '--hours', '1', '--hours', '2'], message: '--hours is given more than once' },
    { argv: [...ok, '--check=yes'], message: '--check takes no value' },
    { argv: [...ok, '--type', 'voided'], message: '--sale is required to void' },
  ]
  for (const { argv, message } of cases) {
    t.throws(() => readCommandLine(spec, argv), { message }, argv.join(' '))
  }
})

t.test('value types', async (t) => {
  const cases: { type: ValueType<unknown>; text: string; value: unknown }[] = [
    { type: positiveInteger, text: '12', value: 12 },
    { type: positiveInteger, text: '012', value: undefined },
    { type: positiveInteger, text: '9'.repeat(16), value: undefined },
    { type: nonNegativeInteger, text: '0', value: 0 },
    { type: nonNegativeInteger, text: ' 1', value: undefined },
    { type: portNumber, text: '65535', value: 65535 },
    { type: portNumber, text: '65536', value: undefined },
    { type: httpUrl, text: 'http://127.0.0.1:3000/', value: 'http://127.0.0.1:3000' },
    { type: httpUrl, text: 'ftp://example.com', value: undefined },
    { type: httpUrl, text: 'localhost:3000', value: undefined },
  ]
  for (const { type, text, value } of cases)
    t.equal(type.read(text), value, `${type.expected}: ${text}`)
})

t.test('the help states every option with its default or that it is required', async (t) => {
  t.equal(
    usageLine(spec),
    'usage: npm run example -- --business <id>... --customer <id> [--hours <n>] [--type <type>] [--sale <n>] [--check]',
  )
  const help = helpText(spec)
  t.ok(help.startsWith(`${usageLine(spec)}\n\nAn example command.\n\noptions:\n`), 'usage, summary')
  for (const line of [
    '  --business <id>  a business (required; repeat it for several)',
    '  --customer <id>  the customer (required)',
    '  --hours <n>      hours (default: 12)',
    '  --type <type>    the type (default: completed)',
    '  --sale <n>       a sale (a new one)',
    '  --check          only check',
    '  -h, --help       prints this help',
  ]) {
    t.ok(help.includes(`${line}\n`), line.trim())
  }
  t.equal(
    usageLine({ command: 'npm run migrate', summary: '', options: {} }),
    'usage: npm run migrate',
  )
})
