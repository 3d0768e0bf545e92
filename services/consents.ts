import type { Transaction } from 'kysely'
import { nameTransactionChange } from '../db/customer-changes.js'
import {
  currentConsents,
  insertConsents,
  appendConsentsOf,
  listConsents as listConsentRows,
  storeConsentViews,
  storeConsentViewsOf,
  type ConsentRow,
  type ConsentViews,
} from '../db/customer-consents.js'
import { bumpVersion, customerExists } from '../db/customers.js'
import type {
  ConsentChannel,
  ConsentPurpose,
  ConsentSource,
  ConsentStatus,
  Database,
} from '../db/database.js'
import { inTransaction, type Executor } from '../db/executor.js'
import type { Consent } from '../generated/schemas/Consent.js'
import type { ConsentCreate } from '../generated/schemas/ConsentCreate.js'
import type { Consents } from '../generated/schemas/Consents.js'
import type { CurrentConsent } from '../generated/schemas/CurrentConsent.js'
import { NotFound } from '../lib/domain-errors.js'
import { toConsent } from './representations.js'

export type { ConsentViews } from '../db/customer-consents.js'

export const CHANNELS: readonly ConsentChannel[] = ['sms', 'email', 'call', 'whatsapp']
export const PURPOSES: readonly ConsentPurpose[] = ['marketing', 'loyalty', 'service']

/** One record to append: a status for a (channel, purpose). */
export interface ConsentChange {
  channel: ConsentChannel
  purpose: ConsentPurpose
  status: ConsentStatus
}

/** The contact flags a write may set (endpoints 1, 5 and 9). */
export interface FlagWrites {
  prefer_sms?: boolean
  prefer_email?: boolean
  prefer_call?: boolean
  can_receive_offers?: boolean
  can_receive_loyalty?: boolean
  do_not_contact?: boolean
}

const FLAG_NAMES = [
  'prefer_sms',
  'prefer_email',
  'prefer_call',
  'can_receive_offers',
  'can_receive_loyalty',
  'do_not_contact',
] as const

/** The flags among a write's fields (undefined ones left out). */
export function flagsOf(input: FlagWrites): FlagWrites {
  const flags: FlagWrites = {}
  for (const name of FLAG_NAMES) if (input[name] !== undefined) flags[name] = input[name]
  return flags
}

const pairKey = (channel: ConsentChannel, purpose: ConsentPurpose): string =>
  `${channel}:${purpose}`

const statusOf = (granted: boolean): ConsentStatus => (granted ? 'granted' : 'withdrawn')

/**
 * The records SPEC's "Consent views" lists for each flag written, in one fixed order, so that
 * a body that contradicts itself always ends the same way and the most restrictive reading
 * wins (the order is documented on updatePreferences):
 * `do_not_contact: false` (grants (sms, service)), `prefer_sms`, `prefer_email`, `prefer_call`
 * ((X, service)), `can_receive_offers` (false: marketing withdrawn on every channel; true:
 * (sms, marketing) granted), `can_receive_loyalty` (likewise), and `do_not_contact: true` last
 * (withdraws every pair granted at that point, those granted just before included).
 * `current` is the ledger's latest status per pair; it is needed only for `do_not_contact: true`.
 */
export function flagChanges(
  flags: FlagWrites,
  current: ReadonlyMap<string, ConsentStatus> = new Map(),
): ConsentChange[] {
  const changes: ConsentChange[] = []
  if (flags.do_not_contact === false) {
    changes.push({ channel: 'sms', purpose: 'service', status: 'granted' })
  }
  const services = [
    ['sms', flags.prefer_sms],
    ['email', flags.prefer_email],
    ['call', flags.prefer_call],
  ] as const
  for (const [channel, value] of services) {
    if (value !== undefined) changes.push({ channel, purpose: 'service', status: statusOf(value) })
  }
  const purposes = [
    ['marketing', flags.can_receive_offers],
    ['loyalty', flags.can_receive_loyalty],
  ] as const
  for (const [purpose, value] of purposes) {
    if (value === true) changes.push({ channel: 'sms', purpose, status: 'granted' })
    if (value === false) {
      for (const channel of CHANNELS) changes.push({ channel, purpose, status: 'withdrawn' })
    }
  }
  if (flags.do_not_contact === true) {
    const state = new Map(current)
    for (const change of changes) state.set(pairKey(change.channel, change.purpose), change.status)
    for (const channel of CHANNELS) {
      for (const purpose of PURPOSES) {
        if (state.get(pairKey(channel, purpose)) === 'granted') {
          changes.push({ channel, purpose, status: 'withdrawn' })
        }
      }
    }
  }
  return changes
}

/**
 * The one way consents are written: appends the records, then stores the flags as views of the
 * ledger (db/customer-consents.ts `storeConsentViews`). Each record's actor and request id are
 * the transaction's change context (db/change-context.ts), as in the change history. The
 * caller's transaction holds the
 * customer's row lock, taken by its first statement on the customer (every consent writer
 * changes the customer's version first), so concurrent writers of one customer run one after
 * the other and the flags always agree with the ledger. Call it after any lock on the customer's
 * purchase history (the sales feed locks that row before the preferences row).
 */
export async function recordConsents(
  trx: Transaction<Database>,
  businessId: number,
  customerId: number,
  changes: ConsentChange[],
  details: { source?: ConsentSource; evidence?: string | null } = {},
): Promise<{ records: ConsentRow[]; views: ConsentViews }> {
  const records = await insertConsents(
    trx,
    businessId,
    customerId,
    changes.map((change) => ({
      ...change,
      source: details.source ?? 'api',
      evidence: details.evidence ?? null,
    })),
  )
  const views = await storeConsentViews(trx, businessId, customerId)
  return { records, views }
}

/** The ledger's latest status of each pair the customer has a record of. */
async function currentStatuses(
  trx: Transaction<Database>,
  businessId: number,
  customerId: number,
): Promise<Map<string, ConsentStatus>> {
  const rows = await currentConsents(trx, businessId, customerId)
  return new Map(rows.map((row) => [pairKey(row.channel, row.purpose), row.status]))
}

/**
 * A write of contact flags (endpoints 5 and 9, and a merge's do_not_contact): the records
 * `flagChanges` lists, then the flags from the ledger. Undefined when no flag was written.
 * Runs in the caller's transaction, after its statement that locked the customer's row.
 */
export async function writeFlags(
  trx: Transaction<Database>,
  businessId: number,
  customerId: number,
  flags: FlagWrites,
  details: { evidence?: string; source?: ConsentSource } = {},
): Promise<ConsentViews | undefined> {
  if (Object.keys(flagsOf(flags)).length === 0) return undefined
  const current =
    flags.do_not_contact === true
      ? await currentStatuses(trx, businessId, customerId)
      : new Map<string, ConsentStatus>()
  const changes = flagChanges(flags, current)
  return (await recordConsents(trx, businessId, customerId, changes, details)).views
}

/**
 * The pairs granted now, withdrawn: what `do_not_contact: true` records. Returns the pairs, so
 * that a merge can grant them again on undo.
 */
export async function withdrawEverything(
  trx: Transaction<Database>,
  businessId: number,
  customerId: number,
  evidence: string,
): Promise<{ channel: ConsentChannel; purpose: ConsentPurpose }[]> {
  const changes = flagChanges(
    { do_not_contact: true },
    await currentStatuses(trx, businessId, customerId),
  )
  await recordConsents(trx, businessId, customerId, changes, { evidence })
  return changes.map(({ channel, purpose }) => ({ channel, purpose }))
}

/** Grants these pairs (an undone merge gives back what it withdrew). */
export async function grantAgain(
  trx: Transaction<Database>,
  businessId: number,
  customerId: number,
  pairs: { channel: ConsentChannel; purpose: ConsentPurpose }[],
  evidence: string,
): Promise<ConsentViews> {
  const changes = pairs.map((pair) => ({ ...pair, status: 'granted' as const }))
  return (await recordConsents(trx, businessId, customerId, changes, { evidence })).views
}

type InitialFlags = Required<Omit<FlagWrites, 'do_not_contact'>>

/** The records a new customer's flags make (SPEC "Consent views"), in this order. */
const initialChanges = (flags: InitialFlags): ConsentChange[] => [
  { channel: 'sms', purpose: 'service', status: statusOf(flags.prefer_sms) },
  { channel: 'email', purpose: 'service', status: statusOf(flags.prefer_email) },
  { channel: 'call', purpose: 'service', status: statusOf(flags.prefer_call) },
  { channel: 'sms', purpose: 'marketing', status: statusOf(flags.can_receive_offers) },
  { channel: 'sms', purpose: 'loyalty', status: statusOf(flags.can_receive_loyalty) },
]

/**
 * New customers' initial flags, recorded in the ledger (source `api`, or `import`): each
 * `prefer_*` as (channel, service), offers and loyalty as (sms, marketing) and (sms, loyalty).
 * One insert of every record and one statement storing every customer's flags.
 */
export async function recordInitialFlagsOf(
  trx: Transaction<Database>,
  businessId: number,
  customers: (InitialFlags & { id: number })[],
  source: ConsentSource,
): Promise<Map<number, ConsentViews>> {
  await appendConsentsOf(
    trx,
    businessId,
    customers.flatMap((customer) =>
      initialChanges(customer).map((change) => ({
        ...change,
        customer_id: customer.id,
        source,
        evidence: null,
      })),
    ),
  )
  return storeConsentViewsOf(
    trx,
    businessId,
    customers.map((customer) => customer.id),
  )
}

/**
 * `POST /{customerId}/consents`: one record, in one transaction with the customer's version
 * (+1, which locks its row first) and its flags. Any customer of the business takes it, active
 * or not, merged or not (like its preferences).
 */
export async function recordConsent(
  db: Executor,
  businessId: number,
  customerId: number,
  input: ConsentCreate,
): Promise<Consent> {
  return inTransaction(db, async (trx) => {
    await nameTransactionChange(trx, 'consent_changed')
    const version = await bumpVersion(trx, businessId, customerId)
    if (version === undefined) throw new NotFound('customer')
    const { channel, purpose, status, source, evidence } = input
    const { records } = await recordConsents(
      trx,
      businessId,
      customerId,
      [{ channel, purpose, status }],
      { source, evidence },
    )
    const [record] = records
    if (!record) throw new Error('the consent insert returned no row')
    return toConsent(record)
  })
}

const CHANNEL_ORDER = new Map(CHANNELS.map((channel, index) => [channel, index]))
const PURPOSE_ORDER = new Map(PURPOSES.map((purpose, index) => [purpose, index]))

/**
 * Each pair's latest status and since when it holds (the first of the latest records that
 * agree), from the records newest first; channels then purposes in their documented order.
 */
export function currentOf(newestFirst: ConsentRow[]): CurrentConsent[] {
  const current = new Map<string, CurrentConsent>()
  const settled = new Set<string>()
  for (const row of newestFirst) {
    const key = pairKey(row.channel, row.purpose)
    if (settled.has(key)) continue
    const latest = current.get(key)
    if (latest && latest.status !== row.status) {
      settled.add(key)
      continue
    }
    current.set(key, {
      channel: row.channel,
      purpose: row.purpose,
      status: row.status,
      since: row.recorded_at.toISOString(),
    })
  }
  return [...current.values()].sort(
    (a, b) =>
      (CHANNEL_ORDER.get(a.channel) ?? 0) - (CHANNEL_ORDER.get(b.channel) ?? 0) ||
      (PURPOSE_ORDER.get(a.purpose) ?? 0) - (PURPOSE_ORDER.get(b.purpose) ?? 0),
  )
}

/** `GET /{customerId}/consents`: what holds now, and every record, newest first. */
export async function listConsents(
  db: Executor,
  businessId: number,
  customerId: number,
): Promise<Consents> {
  const [exists, rows] = await Promise.all([
    customerExists(db, businessId, customerId),
    listConsentRows(db, businessId, customerId),
  ])
  if (!exists) throw new NotFound('customer')
  return { current: currentOf(rows), history: rows.map(toConsent) }
}
