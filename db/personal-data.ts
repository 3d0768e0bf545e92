import { sql } from 'kysely'
import type { Executor } from './executor.js'

/**
 * Every piece of free text held about the customer, across its tables: name, phone, e-mail,
 * address, best contact time, note contents, consent evidence and the payers' phones of its
 * sales. The erasure reads them first, to find them in what it cannot simply overwrite.
 */
export async function personalTextsOf(
  db: Executor,
  businessId: number,
  customerId: number,
): Promise<string[]> {
  const { rows } = await sql<{ text: string }>`
    select distinct text from (
      select unnest(array[name, phone, email, address]) as text from customers
        where business_id = ${businessId} and id = ${customerId}
      union all
      select best_contact_time from customer_preferences
        where business_id = ${businessId} and customer_id = ${customerId}
      union all
      select content from customer_notes
        where business_id = ${businessId} and customer_id = ${customerId}
      union all
      select evidence from customer_consents
        where business_id = ${businessId} and customer_id = ${customerId}
      union all
      select payer_phone from customer_sales
        where business_id = ${businessId}
          and (customer_id = ${customerId} or named_customer_id = ${customerId})
    ) texts
    where text is not null`.execute(db)
  return rows.map((row) => row.text)
}
