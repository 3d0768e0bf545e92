import { ERASED_TEXT } from './erased.js'
import { sql, type Insertable, type Kysely, type Selectable } from 'kysely'
import type {
  ConsentChannel,
  ConsentPurpose,
  ConsentStatus,
  CustomerConsentsTable,
  Database,
} from './database.js'
import type { Executor } from './executor.js'

export type ConsentRow = Selectable<CustomerConsentsTable>
/** actor and request_id come from the transaction's change context (the columns' defaults). */
export type NewConsent = Omit<
  Insertable<CustomerConsentsTable>,
  'business_id' | 'customer_id' | 'recorded_at' | 'actor' | 'request_id'
>

/** The contact flags as views of the ledger (SPEC "Consent views"). */
export interface ConsentViews {
  prefer_sms: boolean
  prefer_email: boolean
  prefer_call: boolean
  can_receive_offers: boolean
  can_receive_loyalty: boolean
  do_not_contact: boolean
}

/** Appends the records in the order given (ids ascending); returns them as stored. */
export async function insertConsents(
  db: Executor,
  businessId: number,
  customerId: number,
  records: NewConsent[],
): Promise<ConsentRow[]> {
  return insertConsentsOf(
    db,
    businessId,
    records.map((record) => ({ ...record, customer_id: customerId })),
  )
}

/** Appends records of several customers in one statement, in the order given. */
export async function insertConsentsOf(
  db: Executor,
  businessId: number,
  records: (NewConsent & { customer_id: number })[],
): Promise<ConsentRow[]> {
  if (records.length === 0) return []
  return db
    .insertInto('customer_consents')
    .values(records.map((record) => ({ ...record, business_id: businessId })))
    .returningAll()
    .execute()
    .then((rows) => rows.sort((a, b) => a.id - b.id))
}

/**
 * `insertConsentsOf` for a bulk write that needs no rows back (an import batch's 2,500): the
 * records travel as one array per column, so the statement has seven parameters instead of
 * seven per record (parsing and planning those took longer than the insert).
 */
export async function appendConsentsOf(
  db: Executor,
  businessId: number,
  records: (NewConsent & { customer_id: number })[],
): Promise<void> {
  if (records.length === 0) return
  const column = <K extends keyof (NewConsent & { customer_id: number })>(name: K) =>
    records.map((record) => record[name] ?? null)
  await sql`insert into customer_consents
      (business_id, customer_id, channel, purpose, status, source, evidence)
    select ${businessId}::bigint, r.customer_id, r.channel, r.purpose, r.status, r.source,
      r.evidence
    from unnest(${column('customer_id')}::bigint[], ${column('channel')}::text[],
      ${column('purpose')}::text[], ${column('status')}::text[], ${column('source')}::text[],
      ${column('evidence')}::text[]) with ordinality
      r (customer_id, channel, purpose, status, source, evidence, position)
    order by r.position`.execute(db)
}

/** Every record of the customer, newest first. */
export async function listConsents(
  db: Executor,
  businessId: number,
  customerId: number,
): Promise<ConsentRow[]> {
  return db
    .selectFrom('customer_consents')
    .selectAll()
    .where('business_id', '=', businessId)
    .where('customer_id', '=', customerId)
    .orderBy('id', 'desc')
    .execute()
}

/** The latest status of each (channel, purpose) the customer has a record of. */
export async function currentConsents(
  db: Executor,
  businessId: number,
  customerId: number,
): Promise<{ channel: ConsentChannel; purpose: ConsentPurpose; status: ConsentStatus }[]> {
  return db
    .selectFrom('customer_consents')
    .distinctOn(['channel', 'purpose'])
    .select(['channel', 'purpose', 'status'])
    .where('business_id', '=', businessId)
    .where('customer_id', '=', customerId)
    .orderBy('channel')
    .orderBy('purpose')
    .orderBy('id', 'desc')
    .execute()
}

/**
 * The one writer of the contact flags: computes them from the customer's ledger and stores
 * them in customers (prefer_*) and customer_preferences (do_not_contact, can_receive_*), in one
 * statement, touching only a row whose flags differ. The caller holds the customer's row lock
 * (every consent write takes it first), so no other record can slip in between. Returns the views.
 */
export async function storeConsentViews(
  db: Executor,
  businessId: number,
  customerId: number,
): Promise<ConsentViews> {
  const views = (await storeConsentViewsOf(db, businessId, [customerId])).get(customerId)
  if (!views) throw new Error('the consent views query returned no row')
  return views
}

/**
 * `storeConsentViews` for several customers in one statement (an import's new customers), by
 * customer (one without any record has nothing granted: `do_not_contact`).
 */
export async function storeConsentViewsOf(
  db: Executor,
  businessId: number,
  customerIds: number[],
): Promise<Map<number, ConsentViews>> {
  const { rows } = await sql<ConsentViews & { customer_id: number }>`with latest as (
      select distinct on (customer_id, channel, purpose) customer_id, channel, purpose,
        status = 'granted' as granted
      from customer_consents
      where business_id = ${businessId} and customer_id = any(${customerIds}::bigint[])
      order by customer_id, channel, purpose, id desc
    ),
    views as (
      select k.customer_id,
        coalesce(bool_or(granted) filter (where channel = 'sms' and purpose = 'service'), false)
          as prefer_sms,
        coalesce(bool_or(granted) filter (where channel = 'email' and purpose = 'service'), false)
          as prefer_email,
        coalesce(bool_or(granted) filter (where channel = 'call' and purpose = 'service'), false)
          as prefer_call,
        coalesce(bool_or(granted) filter (where purpose = 'marketing'), false)
          as can_receive_offers,
        coalesce(bool_or(granted) filter (where purpose = 'loyalty'), false)
          as can_receive_loyalty,
        not coalesce(bool_or(granted), false) as do_not_contact
      from unnest(${customerIds}::bigint[]) k (customer_id)
        left join latest l on l.customer_id = k.customer_id
      group by k.customer_id
    ),
    customer as (
      update customers c
      set prefer_sms = v.prefer_sms, prefer_email = v.prefer_email, prefer_call = v.prefer_call,
        updated_at = now()
      from views v
      where c.business_id = ${businessId} and c.id = v.customer_id
        and (c.prefer_sms, c.prefer_email, c.prefer_call)
          is distinct from (v.prefer_sms, v.prefer_email, v.prefer_call)
    ),
    preferences as (
      update customer_preferences p
      set can_receive_offers = v.can_receive_offers, can_receive_loyalty = v.can_receive_loyalty,
        do_not_contact = v.do_not_contact, updated_at = now()
      from views v
      where p.business_id = ${businessId} and p.customer_id = v.customer_id
        and (p.can_receive_offers, p.can_receive_loyalty, p.do_not_contact)
          is distinct from (v.can_receive_offers, v.can_receive_loyalty, v.do_not_contact)
    )
    select * from views`.execute(db)
  return new Map(rows.map(({ customer_id, ...views }) => [customer_id, views]))
}

/**
 * A bulk load's records (the seed): for the customers of the business from `fromId` on that
 * have none, the flags they hold, as migrations/2026-12-03T1250-consent-ledger.ts records them
 * (do_not_contact wins over any other flag), then their flags set to the ledger's views.
 */
export async function consentsFromFlags(
  db: Kysely<Database>,
  businessId: number,
  fromId: number,
): Promise<void> {
  await sql`insert into customer_consents
      (business_id, customer_id, channel, purpose, status, source, actor, request_id)
    select c.business_id, c.id, f.channel, f.purpose,
      case when f.granted and not p.do_not_contact then 'granted' else 'withdrawn' end,
      'api', 'system', null
    from customers c
    join customer_preferences p on p.business_id = c.business_id and p.customer_id = c.id
    cross join lateral (values
      ('sms', 'service', c.prefer_sms),
      ('email', 'service', c.prefer_email),
      ('call', 'service', c.prefer_call),
      ('sms', 'marketing', p.can_receive_offers),
      ('sms', 'loyalty', p.can_receive_loyalty)
    ) as f (channel, purpose, granted)
    where c.business_id = ${businessId} and c.id >= ${fromId}
      and not exists (select 1 from customer_consents k
        where k.business_id = c.business_id and k.customer_id = c.id)`.execute(db)
  await sql`with views as (
      select c.business_id, c.id,
        c.prefer_sms and not p.do_not_contact as prefer_sms,
        c.prefer_email and not p.do_not_contact as prefer_email,
        c.prefer_call and not p.do_not_contact as prefer_call,
        p.can_receive_offers and not p.do_not_contact as can_receive_offers,
        p.can_receive_loyalty and not p.do_not_contact as can_receive_loyalty,
        p.do_not_contact or not (c.prefer_sms or c.prefer_email or c.prefer_call
          or p.can_receive_offers or p.can_receive_loyalty) as do_not_contact
      from customers c
      join customer_preferences p on p.business_id = c.business_id and p.customer_id = c.id
      where c.business_id = ${businessId} and c.id >= ${fromId}
        and p.do_not_contact = (c.prefer_sms or c.prefer_email or c.prefer_call
          or p.can_receive_offers or p.can_receive_loyalty)
    ),
    preferences as (
      update customer_preferences p
      set can_receive_offers = v.can_receive_offers, can_receive_loyalty = v.can_receive_loyalty,
        do_not_contact = v.do_not_contact
      from views v
      where p.business_id = ${businessId} and p.business_id = v.business_id
        and p.customer_id = v.id
    )
    update customers c
    set prefer_sms = v.prefer_sms, prefer_email = v.prefer_email, prefer_call = v.prefer_call
    from views v
    where c.business_id = ${businessId} and c.business_id = v.business_id
      and c.id = v.id`.execute(db)
}

/** The customer's records after the record `afterId`, oldest first: a keyset batch of an export. */
export async function listConsentsAfter(
  db: Executor,
  businessId: number,
  customerId: number,
  afterId: number,
  limit: number,
): Promise<ConsentRow[]> {
  return db
    .selectFrom('customer_consents')
    .selectAll()
    .where('business_id', '=', businessId)
    .where('customer_id', '=', customerId)
    .where('id', '>', afterId)
    .orderBy('id')
    .limit(limit)
    .execute()
}

/** The erasure: the evidence of every record becomes `[erased]` (the one update allowed). */
export async function eraseEvidence(
  db: Executor,
  businessId: number,
  customerId: number,
): Promise<void> {
  await db
    .updateTable('customer_consents')
    .set({ evidence: ERASED_TEXT })
    .where('business_id', '=', businessId)
    .where('customer_id', '=', customerId)
    .where('evidence', 'is not', null)
    .execute()
}
