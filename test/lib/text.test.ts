import t from 'tap'
import {
  BODY_TEXT_RULES,
  cleanText,
  hasLoneSurrogate,
  QUERY_TEXT_RULES,
  removeInvisibles,
  toNfc,
  type TextRule,
} from '../../lib/text.js'

const ZERO_WIDTH = ['\u200B', '\u200C', '\u200D', '\u2060', '\uFEFF', '\u180E']
const BIDI = [
  '\u200E',
  '\u200F',
  '\u202A',
  '\u202B',
  '\u202C',
  '\u202D',
  '\u202E',
  '\u2066',
  '\u2067',
  '\u2068',
  '\u2069',
  '\u061C',
]
const hex = (c: string): string => `U+${c.codePointAt(0)!.toString(16).toUpperCase()}`

t.test('toNfc composes', async (t) => {
  t.equal(toNfc('Jose\u0301'), 'Jos\u00e9', 'e + combining acute → é')
  t.equal(toNfc('Jos\u00e9'), 'Jos\u00e9', 'NFC stays as it is')
  t.equal(toNfc('\u212B'), '\u00c5', 'the angstrom sign becomes Å')
  t.equal(toNfc('\u1E9B\u0323'), '\u1E9B\u0323', 'NFC, not NFKC: compatibility forms stay')
  t.equal(toNfc('\u{1F600}'), '\u{1F600}', 'astral characters pass through')
})

t.test('names lose every zero-width and bidi control character', async (t) => {
  for (const c of [...ZERO_WIDTH, ...BIDI]) {
    t.equal(removeInvisibles(`Jo${c}hn`, 'name'), 'John', `${hex(c)} removed`)
  }
  t.equal(removeInvisibles('\u{1F468}\u200D\u{1F469}', 'name'), '\u{1F468}\u{1F469}', 'ZWJ too')
})

t.test('free text loses bidi controls and spacers, keeps the joiners', async (t) => {
  for (const c of [...BIDI, '\u200B', '\u2060', '\uFEFF', '\u180E']) {
    t.equal(removeInvisibles(`a${c}b`, 'free'), 'ab', `${hex(c)} removed`)
  }
  const family = '\u{1F468}\u200D\u{1F469}\u200D\u{1F467}'
  t.equal(removeInvisibles(family, 'free'), family, 'an emoji ZWJ sequence is kept')
  const persian = '\u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645'
  t.equal(removeInvisibles(persian, 'free'), persian, 'ZWNJ in a Persian word is kept')
})

t.test('plain text keeps everything', async (t) => {
  const text = `a${[...ZERO_WIDTH, ...BIDI].join('')}b`
  t.equal(removeInvisibles(text, 'plain'), text, 'nothing removed')
})

t.test('cleanText: removal, then NFC, then trim', async (t) => {
  const cases: { input: string; rule: TextRule; expected: string }[] = [
    { input: 'Jo\u200Bhn', rule: 'name', expected: 'John' },
    { input: '\u200B John \u200B', rule: 'name', expected: 'John' },
    { input: '\u200B', rule: 'name', expected: '' },
    { input: '\u202E\u2066 \u2069', rule: 'name', expected: '' },
    // A removed character between a letter and its accent must not leave the pair decomposed.
    { input: 'Jose\u200B\u0301', rule: 'name', expected: 'Jos\u00e9' },
    { input: 'e\u202E\u0301', rule: 'free', expected: '\u00e9' },
    { input: '  Jose\u0301  ', rule: 'plain', expected: 'Jos\u00e9' },
    { input: '\u200Bx', rule: 'plain', expected: '\u200Bx' },
    { input: 'Nai\u200Brobi\u00a0', rule: 'free', expected: 'Nairobi' },
    { input: '\uFEFF', rule: 'plain', expected: '' },
  ]
  for (const { input, rule, expected } of cases) {
    t.equal(cleanText(input, rule), expected, `${JSON.stringify(input)} as ${rule}`)
  }
})

t.test('cleanText is idempotent', async (t) => {
  const samples = ['Jose\u0301\u200B \u202EOchieng ', '\u1E0B\u0323', 'e\u0301\u0301', '\u0958x']
  for (const rule of ['name', 'free', 'plain'] as const) {
    for (const sample of samples) {
      const once = cleanText(sample, rule)
      t.equal(cleanText(once, rule), once, `${JSON.stringify(sample)} as ${rule}`)
    }
  }
})

t.test('hasLoneSurrogate', async (t) => {
  t.ok(hasLoneSurrogate('\ud800'), 'a lone high surrogate')
  t.ok(hasLoneSurrogate('a\udfffb'), 'a lone low surrogate')
  t.ok(hasLoneSurrogate('\ude00\ud83d'), 'a pair in the wrong order')
  t.notOk(hasLoneSurrogate('\ud83d\ude00'), 'a pair (an emoji)')
  t.notOk(hasLoneSurrogate('plain'), 'plain text')
})

t.test('the field rules', async (t) => {
  t.same(
    BODY_TEXT_RULES,
    {
      name: 'name',
      address: 'free',
      content: 'free',
      best_contact_time: 'free',
      evidence: 'free',
      reason: 'free',
    },
    'body fields',
  )
  t.same(QUERY_TEXT_RULES, { q: 'name' }, 'query parameters')
})
