/**
 * Text hygiene for what people type: one Unicode form (NFC), and no invisible characters where
 * they would hide a customer or break a search. Pure functions; `plugins/input-normalisation.ts`
 * applies them to every request before validation, so what is validated is what is stored.
 */

/** Zero-width spacers and the Mongolian vowel separator: nothing to see, nothing to lose. */
const SPACERS = String.raw`\u200B\u2060\uFEFF\u180E`
/** Zero-width non-joiner and joiner: invisible, but they shape emoji sequences and scripts. */
const JOINERS = String.raw`\u200C\u200D`
/** Bidirectional controls: marks, embeddings, overrides, isolates and the Arabic letter mark. */
const BIDI_CONTROLS = String.raw`\u200E\u200F\u202A-\u202E\u2066-\u2069\u061C`

// Each character is matched alone, the ZWJ included: that is the point, not a misread sequence.
// eslint-disable-next-line no-misleading-character-class
const NAME_INVISIBLES = new RegExp(`[${SPACERS}${JOINERS}${BIDI_CONTROLS}]`, 'gu')
const FREE_TEXT_INVISIBLES = new RegExp(`[${SPACERS}${BIDI_CONTROLS}]`, 'gu')
/** With the `u` flag a pair is one code point, so this matches only unpaired halves. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u

/**
 * How a field is cleaned:
 * - `name`: names and search queries, the keys people find customers by. Every zero-width and
 *   bidi control goes, joiners too, so "Jo\u200Dhn" is John and is found by "John".
 * - `free`: prose (address, note content, best contact time, consent evidence,
 *   an erasure's reason). Bidi controls
 *   go (an RTL override makes text read other than it is stored) and so do the spacers; the
 *   joiners stay, because ZWJ builds emoji sequences (👨‍👩‍👧) and ZWNJ/ZWJ change how Persian
 *   and Indic words render.
 * - `plain`: everything else (emails, phones, enums, dates, ids the sales service chose): NFC
 *   only. Their formats refuse invisible characters, and an id is matched as sent.
 */
export type TextRule = 'name' | 'free' | 'plain'

/** Top-level body fields by name, across every operation; unlisted fields are `plain`. */
export const BODY_TEXT_RULES: Readonly<Record<string, TextRule>> = {
  name: 'name',
  address: 'free',
  content: 'free',
  best_contact_time: 'free',
  evidence: 'free',
  reason: 'free',
}

/** Query parameters by name; unlisted ones are `plain`. */
export const QUERY_TEXT_RULES: Readonly<Record<string, TextRule>> = {
  q: 'name',
}

/** The text in Unicode Normalization Form C (composed: "e\u0301" → "é"). */
export const toNfc = (text: string): string => text.normalize('NFC')

/** Removes the invisible characters the rule does not keep. */
export function removeInvisibles(text: string, rule: TextRule): string {
  if (rule === 'name') return text.replace(NAME_INVISIBLES, '')
  if (rule === 'free') return text.replace(FREE_TEXT_INVISIBLES, '')
  return text
}

/**
 * The text as the service keeps it: invisible characters removed by the rule, then NFC (after
 * the removal, which may bring a letter and its accent together: "e\u200B\u0301" → "é"), then
 * trimmed (so "\u200B John" loses its space too). May return '' — the caller decides whether
 * that is "absent" or a 400.
 */
export const cleanText = (text: string, rule: TextRule): string =>
  toNfc(removeInvisibles(text, rule)).trim()

/** True when the text holds half of a surrogate pair (JSON allows "\ud800"; Unicode does not). */
export const hasLoneSurrogate = (text: string): boolean => LONE_SURROGATE.test(text)
