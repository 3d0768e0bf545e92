import { sql, type Kysely } from 'kysely'

/**
 * The consent ledger (Kenya Data Protection Act 2019): one row per consent given or withdrawn,
 * per channel and purpose, never changed or removed. The contact flags of customers and
 * customer_preferences become views of it; every customer there is gets records of the flags
 * it holds (see backfillConsents). Named after the change history (1200), whose
 * transaction-local actor and request id each record takes, and before the erasure, which
 * erases evidence.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create table customer_consents (
    id bigint generated always as identity,
    business_id bigint not null,
    customer_id bigint not null,
    channel text not null check (channel in ('sms', 'email', 'call', 'whatsapp')),
    purpose text not null check (purpose in ('marketing', 'loyalty', 'service')),
    status text not null check (status in ('granted', 'withdrawn')),
    source text not null check (source in ('in_store', 'sms_reply', 'web', 'import', 'api')),
    evidence varchar(500) check (length(evidence) between 1 and 500),
    -- Who wrote it and in which request: the transaction's change context, as the change
    -- history records it (db/change-context.ts); 'system' and null outside a request.
    actor text not null
      default coalesce(nullif(current_setting('payme.actor', true), ''), 'system')
      check (length(actor) between 1 and 100),
    request_id text default nullif(current_setting('payme.request_id', true), '')
      check (length(request_id) between 1 and 100),
    recorded_at timestamptz not null default now()
  )`.execute(db)

  await backfillConsents(db)

  // Keys and indexes after the backfill: one build and one set-based check each, instead of
  // millions of index insertions and foreign-key lookups (a million customers: five million rows).
  await sql`alter table customer_consents
    add primary key (business_id, id),
    add foreign key (business_id, customer_id) references customers (business_id, id)`.execute(db)
  // Per customer, in write order: its history (newest first) and its current consents.
  await sql`create index customer_consents_by_customer
    on customer_consents (business_id, customer_id, id)`.execute(db)

  // Append-only. The one change allowed is the erasure's: evidence becomes '[erased]', every
  // other column as it was.
  await sql`create function customer_consents_append_only() returns trigger language plpgsql as $$
  begin
    -- Nested: NEW is null for DELETE and TRUNCATE.
    if tg_op = 'UPDATE' then
      if new.evidence = '[erased]'
        and (new.id, new.business_id, new.customer_id, new.channel, new.purpose, new.status,
             new.source, new.actor, new.request_id, new.recorded_at)
          is not distinct from
            (old.id, old.business_id, old.customer_id, old.channel, old.purpose, old.status,
             old.source, old.actor, old.request_id, old.recorded_at) then
        return new;
      end if;
    end if;
    raise exception 'customer_consents is append-only: % refused', lower(tg_op)
      using errcode = 'restrict_violation',
        hint = 'Record a new consent instead; only evidence may become ''[erased]''.';
  end $$`.execute(db)
  await sql`create trigger customer_consents_append_only
    before update or delete on customer_consents
    for each row execute function customer_consents_append_only()`.execute(db)
  await sql`create trigger customer_consents_no_truncate
    before truncate on customer_consents
    for each statement execute function customer_consents_append_only()`.execute(db)
}

/**
 * Records for every customer that has none, from the flags it holds, as creating it would have
 * recorded them: (sms|email|call, service) from prefer_*, (sms, marketing) from
 * can_receive_offers, (sms, loyalty) from can_receive_loyalty; source `api`, actor `system`.
 * Where the old flags disagree with one another the most restrictive reading wins, as in a merge:
 * do_not_contact true records each of them withdrawn, and a customer with every flag off
 * becomes do_not_contact. The flags are then set to the ledger's views, only on the rows where
 * they differ (version + 1 there, since the customer changed). Set-based: one insert and one
 * update, whatever the number of customers.
 */
export async function backfillConsents(db: Kysely<any>): Promise<void> {
  await sql`insert into customer_consents
      (business_id, customer_id, channel, purpose, status, source, actor, request_id)
    select c.business_id, c.id, f.channel, f.purpose,
      case when f.granted and not coalesce(p.do_not_contact, false)
        then 'granted' else 'withdrawn' end,
      'api', 'system', null
    from customers c
    left join customer_preferences p on p.business_id = c.business_id and p.customer_id = c.id
    cross join lateral (values
      ('sms', 'service', c.prefer_sms),
      ('email', 'service', c.prefer_email),
      ('call', 'service', c.prefer_call),
      ('sms', 'marketing', coalesce(p.can_receive_offers, true)),
      ('sms', 'loyalty', coalesce(p.can_receive_loyalty, true))
    ) as f (channel, purpose, granted)
    where not exists (select 1 from customer_consents k
      where k.business_id = c.business_id and k.customer_id = c.id)`.execute(db)

  // The rows whose flags are not the views of what was just recorded: do_not_contact beside a
  // flag that is on, or every flag off without do_not_contact.
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
      where p.do_not_contact = (c.prefer_sms or c.prefer_email or c.prefer_call
        or p.can_receive_offers or p.can_receive_loyalty)
    ),
    preferences as (
      update customer_preferences p
      set can_receive_offers = v.can_receive_offers, can_receive_loyalty = v.can_receive_loyalty,
        do_not_contact = v.do_not_contact, updated_at = now()
      from views v
      where p.business_id = v.business_id and p.customer_id = v.id
    )
    update customers c
    set prefer_sms = v.prefer_sms, prefer_email = v.prefer_email, prefer_call = v.prefer_call,
      version = c.version + 1, updated_at = now()
    from views v
    where c.business_id = v.business_id and c.id = v.id`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table customer_consents`.execute(db)
  await sql`drop function customer_consents_append_only()`.execute(db)
}
