import { sql, type Kysely } from 'kysely'

/**
 * A sales event in one statement (services/sales-feed.ts calls it): whose it is, the lock, the
 * claim of the event id, the sale in the ledger, and the purchase history moved by that sale's
 * change alone. Before, four to seven round trips, and the history recomputed from the whole of
 * the customer's ledger on every event.
 *
 * The steps and their rules are those of the code it replaces:
 * 1. Whose event (services/sales-attribution.ts): the named customer or the survivor of its
 *    merges, locked at the merge epoch this statement's snapshot saw (a merge or undo that
 *    commits meanwhile leaves nothing locked: the event is tried again); or, naming nobody, the
 *    sale's own customer, or the oldest active customer with the payer's phone, looked up after
 *    the payer's lock is taken; or nobody.
 * 2. The event id is claimed (a redelivery changes nothing), then the sale's ledger row started,
 *    or the change applied to the sale reported before, under its lock.
 * 3. The history row: the sale's contribution before the event is taken away and its
 *    contribution after added — counts, sums, and first/last purchase dates by least/greatest.
 *    Only a void of a counted sale at the customer's first or last purchase date, while others
 *    remain, cannot say the new date without the ledger: that case alone recomputes the
 *    customer's row from the ledger. (A completion is the only change that moves a sale's date,
 *    and it only ever adds a counted sale, early or late; refunds move sums only.)
 *
 * PL/pgSQL: each statement of the function takes its own snapshot (read committed), so a
 * statement after a lock sees what committed before the lock was granted, as separate round
 * trips did. Errors the caller turns into answers: PM422 (unprocessable, message for the
 * client) and PMRTY (the sale's customer changed meanwhile: the caller tries again).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create function payme_record_sale_event(
      business bigint, event varchar, kind text, sale varchar, named bigint,
      total numeric, items numeric, payment text, completed timestamptz, refund numeric,
      payer_e164 varchar, payer_hash text, payer_lock_key text,
      actor text, request text,
      out result_status text, out result_customer bigint, out result_matched_by text)
    language plpgsql as $fn$
    declare
      survivor_id bigint;
      survivor_epoch integer;
      owner_id bigint;
      owner_match text;
      reported_customer bigint;
      reported_match text;
      history customer_purchase_history%rowtype;
      before_sale customer_sales%rowtype;
      after_sale customer_sales%rowtype;
      started boolean;
      changed boolean := false;
      takes_owner boolean := false;
      takes_payer boolean;
      counted_before boolean;
      counted_after boolean;
      purchases integer;
      spent numeric;
      bought numeric;
      first_at timestamptz;
      last_at timestamptz;
      average numeric;
    begin
      -- Outside a caller's transaction the statement is its own: it carries the change context.
      if actor is not null then
        perform set_config('payme.actor', actor, true),
          set_config('payme.request_id', coalesce(request, ''), true);
      end if;

      if named is not null then
        with recursive chain (id, merged_into, hops) as (
          select c.id, c.merged_into, 0 from customers c
          where c.business_id = business and c.id = named
          union all
          select c.id, c.merged_into, chain.hops + 1 from chain
          join customers c on c.business_id = business and c.id = chain.merged_into
          where chain.hops < 20
        )
        select h.customer_id, h.merge_epoch into survivor_id, survivor_epoch
        from customer_purchase_history h
        where h.business_id = business and h.customer_id = (
          select chain.id from chain
          where chain.merged_into is null or chain.hops = 20
          order by chain.hops limit 1);
        if survivor_id is null then
          raise exception using errcode = 'PM422',
            message = format('Customer %s does not exist in business %s', named, business);
        end if;
        select * into history from customer_purchase_history h
        where h.business_id = business and h.customer_id = survivor_id
          and h.merge_epoch = survivor_epoch
        for update;
        if history.customer_id is null then
          raise exception using errcode = 'PMRTY', message = 'the customer was merged meanwhile';
        end if;
        owner_id := history.customer_id;
      else
        -- A walk-in's sale may be the business's first news.
        insert into businesses (id) values (business) on conflict (id) do nothing;
        if payer_hash is not null then
          perform pg_advisory_xact_lock(hashtextextended(payer_lock_key, 0));
        end if;
        select s.customer_id, s.matched_by into reported_customer, reported_match
        from customer_sales s where s.business_id = business and s.sale_id = sale;
        if reported_customer is not null then
          owner_match := reported_match;
          select * into history from customer_purchase_history h
          where h.business_id = business and h.customer_id = reported_customer
          for update;
          if history.customer_id is null then
            raise exception using errcode = 'PMRTY', message = 'the sale changed hands meanwhile';
          end if;
        elsif payer_hash is not null then
          owner_match := case when payer_e164 is null then 'phone_sha256' else 'phone' end;
          select * into history from customer_purchase_history h
          where h.business_id = business and h.customer_id = (
            select c.id from customers c
            where c.business_id = business and c.is_active
              and c.phone_sha256 = decode(payer_hash, 'hex')
            order by c.id limit 1)
          for update;
        end if;
        owner_id := history.customer_id;
      end if;

      insert into sales_events (business_id, event_id, event_type, sale_id, outcome)
      values (business, event, kind, sale, 'processed')
      on conflict (business_id, event_id) do nothing;
      if not found then
        result_status := 'duplicate';
        return;
      end if;

      insert into customer_sales as s (business_id, sale_id, customer_id, total_amount,
        items_count, payment_method, completed_at, refunded_amount, voided, payer_phone,
        payer_phone_sha256, matched_by, named_customer_id)
      values (business, sale, owner_id, total, items, payment, completed, coalesce(refund, 0),
        kind = 'sale.voided', payer_e164, decode(payer_hash, 'hex'),
        case when owner_id is null or payer_hash is null then null else owner_match end, named)
      on conflict (business_id, sale_id) do nothing
      returning s.* into after_sale;
      started := after_sale.sale_id is not null;

      if not started then
        select * into before_sale from customer_sales s
        where s.business_id = business and s.sale_id = sale
        for update;
        if before_sale.sale_id is null then
          raise exception 'sale % vanished while being recorded', sale;
        end if;
        if before_sale.customer_id is not null
          and before_sale.customer_id is distinct from owner_id then
          if named is not null then
            raise exception using errcode = 'PM422',
              message = format('Sale %s belongs to another customer', sale);
          end if;
          raise exception using errcode = 'PMRTY', message = 'the sale changed hands meanwhile';
        end if;
        takes_owner := before_sale.customer_id is null and owner_id is not null;
        takes_payer := before_sale.payer_phone_sha256 is null and payer_hash is not null;
        if takes_owner or takes_payer then
          update customer_sales s set
            customer_id = coalesce(s.customer_id, owner_id),
            named_customer_id = case when s.customer_id is null then named
              else s.named_customer_id end,
            matched_by = case when s.customer_id is null and owner_id is not null
              then owner_match else s.matched_by end,
            payer_phone = case when s.payer_phone_sha256 is null then payer_e164
              else s.payer_phone end,
            payer_phone_sha256 = coalesce(s.payer_phone_sha256, decode(payer_hash, 'hex')),
            updated_at = now()
          where s.business_id = business and s.sale_id = sale;
        end if;
        if kind = 'sale.completed' then
          if before_sale.completed_at is null then
            -- A refund held for an unknown sale is capped at the sale's total.
            update customer_sales s set total_amount = total, items_count = items,
              payment_method = payment, completed_at = completed,
              refunded_amount = least(s.refunded_amount, total), updated_at = now()
            where s.business_id = business and s.sale_id = sale;
            changed := true;
          end if;
        elsif kind = 'sale.refunded' then
          update customer_sales s set refunded_amount = s.refunded_amount + refund,
            updated_at = now()
          where s.business_id = business and s.sale_id = sale
            and (s.total_amount is null or s.refunded_amount + refund <= s.total_amount);
          if not found then
            raise exception using errcode = 'PM422',
              message = format('Refunds of sale %s would exceed its total', sale);
          end if;
          changed := true;
        elsif not before_sale.voided then
          update customer_sales s set voided = true, updated_at = now()
          where s.business_id = business and s.sale_id = sale;
          changed := true;
        end if;
        if not changed and not takes_owner then
          update sales_events e set outcome = 'duplicate'
          where e.business_id = business and e.event_id = event;
          result_status := 'duplicate';
          return;
        end if;
        select * into after_sale from customer_sales s
        where s.business_id = business and s.sale_id = sale;
      end if;

      if owner_id is null then
        result_status := case
          when payer_hash is not null or before_sale.payer_phone_sha256 is not null
            then 'unattributed'
          else 'ignored' end;
        update sales_events e set outcome = result_status
        where e.business_id = business and e.event_id = event;
        return;
      end if;

      -- The history moves by the sale's contribution after the event less its contribution
      -- before (none when the sale is new or was nobody's).
      counted_before := coalesce(not started and before_sale.customer_id = owner_id
        and before_sale.completed_at is not null and not before_sale.voided, false);
      counted_after := after_sale.completed_at is not null and not after_sale.voided;
      purchases := history.total_purchases;
      spent := history.total_spent;
      bought := history.total_items_bought;
      first_at := history.first_purchase_date;
      last_at := history.last_purchase_date;
      if counted_before then
        purchases := purchases - 1;
        spent := spent - (before_sale.total_amount
          - least(before_sale.refunded_amount, before_sale.total_amount));
        bought := bought - before_sale.items_count;
      end if;
      if counted_after then
        purchases := purchases + 1;
        spent := spent + (after_sale.total_amount
          - least(after_sale.refunded_amount, after_sale.total_amount));
        bought := bought + after_sale.items_count;
      end if;
      if counted_before and not counted_after then
        if purchases = 0 then
          first_at := null;
          last_at := null;
        elsif before_sale.completed_at <= first_at or before_sale.completed_at >= last_at then
          -- The sale that set the first or last purchase date is gone: only the ledger knows
          -- the next one.
          select count(*)::int, coalesce(sum(s.total_amount - least(s.refunded_amount,
              s.total_amount)), 0), coalesce(sum(s.items_count), 0),
            min(s.completed_at), max(s.completed_at)
          into purchases, spent, bought, first_at, last_at
          from customer_sales s
          where s.business_id = business and s.customer_id = owner_id
            and s.completed_at is not null and not s.voided;
        end if;
      elsif counted_after and not counted_before then
        first_at := least(first_at, after_sale.completed_at);
        last_at := greatest(last_at, after_sale.completed_at);
      end if;
      average := case when purchases > 0 then round(spent / purchases, 2) else 0 end;

      -- Written only when it moved: an unchanged row opens no outbox event.
      update customer_purchase_history h set
        total_purchases = purchases,
        total_spent = spent,
        total_items_bought = bought,
        avg_transaction_value = average,
        first_purchase_date = first_at,
        last_purchase_date = last_at,
        is_repeat_customer = purchases >= 2,
        repeat_frequency = case
          when purchases = 0 then 'new'
          when purchases = 1 then 'one_time'
          when purchases < 5 then 'occasional'
          when purchases < 10 then 'regular'
          else 'frequent' end,
        customer_lifetime_value = spent,
        updated_at = now()
      where h.business_id = business and h.customer_id = owner_id
        and (h.total_purchases, h.total_spent, h.total_items_bought, h.avg_transaction_value,
          h.first_purchase_date, h.last_purchase_date)
        is distinct from (purchases, spent::numeric(12, 2), bought::numeric(12, 3),
          average::numeric(12, 2), first_at, last_at);
      update customer_preferences p set average_spend = average, updated_at = now()
      where p.business_id = business and p.customer_id = owner_id
        and p.average_spend is distinct from average::numeric(12, 2);

      result_status := 'processed';
      result_customer := owner_id;
      result_matched_by := after_sale.matched_by;
    end $fn$`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop function payme_record_sale_event(bigint, varchar, text, varchar, bigint,
    numeric, numeric, text, timestamptz, numeric, varchar, text, text, text, text)`.execute(db)
}
