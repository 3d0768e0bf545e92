import { sql, type Kysely } from 'kysely'
import t from 'tap'
import type { Database } from '../../db/database.js'
import { authFor, build } from '../helper.js'
import { eventsFor, postEvent, type SaleSpec } from '../sales-feed.js'

const BUSINESS = 61

/** The analytics figures straight from the rows, to compare with the trigger-kept counters. */
async function directFigures(db: Kysely<Database>) {
  const { rows } = await sql<{
    is_active: boolean
    repeat_frequency: string
    customers: string
    lifetime_value: string
  }>`select c.is_active, h.repeat_frequency, count(*)::text as customers,
      sum(h.customer_lifetime_value)::text as lifetime_value
    from customers c join customer_purchase_history h
      on h.business_id = c.business_id and h.customer_id = c.id
    where c.business_id = ${BUSINESS} group by 1, 2 order by 1, 2`.execute(db)
  return rows
}

async function counterFigures(db: Kysely<Database>) {
  const { rows } = await sql<{
    is_active: boolean
    repeat_frequency: string
    customers: string
    lifetime_value: string
  }>`select is_active, repeat_frequency, sum(customers)::text as customers,
      sum(lifetime_value)::text as lifetime_value
    from customer_stats where business_id = ${BUSINESS}
    group by 1, 2 having sum(customers) <> 0 order by 1, 2`.execute(db)
  return rows
}

t.test(
  'analytics counters follow sales, deletes and reactivations, also concurrently',
  async (t) => {
    const { inject, database } = await build(t)
    const ids: number[] = []
    for (let index = 0; index < 24; index += 1) {
      const created = await inject({
        method: 'POST',
        url: `/api/customers/${BUSINESS}`,
        headers: authFor(BUSINESS),
        payload: { name: `Stats ${index}` },
      })
      ids.push(created.json().customer.id as number)
    }
    const events = ids.flatMap((id, index) =>
      eventsFor(
        BUSINESS,
        id,
        Array.from({ length: index % 12 }, (_, s): SaleSpec => ({
          saleId: `ST-${index}-${s}`,
          totalCents: 1_000 + index * 10 + s,
          items: 1,
          completedAt: new Date(Date.UTC(2026, 3, 1) + s * 60_000).toISOString(),
          refundsCents: s === 1 ? [100] : [],
          voided: s === 2,
        })),
        'stats',
      ),
    )
    // Sales, deletes and reactivations of the same customers, all in flight together.
    const changes = ids.flatMap((id, index) =>
      index % 3 === 0
        ? [
            inject({
              method: 'DELETE',
              url: `/api/customers/${BUSINESS}/${id}`,
              headers: authFor(BUSINESS),
            }),
            ...(index % 2 === 0
              ? [
                  inject({
                    method: 'PATCH',
                    url: `/api/customers/${BUSINESS}/${id}`,
                    headers: authFor(BUSINESS),
                    payload: { is_active: true },
                  }),
                ]
              : []),
          ]
        : [],
    )
    const responses = await Promise.all([
      ...events.map((event) => postEvent(inject, event)),
      ...changes,
    ])
    t.same(
      responses.map((response) => response.statusCode).filter((status) => status !== 200),
      [],
      'every sale and change answered 200',
    )

    t.same(
      await counterFigures(database.db),
      await directFigures(database.db),
      'counters equal the rows',
    )

    const direct = await directFigures(database.db)
    const active = direct.filter((row) => row.is_active)
    const count = (rows: typeof direct) => rows.reduce((sum, row) => sum + Number(row.customers), 0)
    const activeCount = count(active)
    const repeat = count(
      active.filter((row) => ['occasional', 'regular', 'frequent'].includes(row.repeat_frequency)),
    )
    const { rows: average } = await sql<{ value: string }>`
    select round(coalesce(avg(h.customer_lifetime_value), 0), 2)::text as value
    from customers c join customer_purchase_history h
      on h.business_id = c.business_id and h.customer_id = c.id
    where c.business_id = ${BUSINESS} and c.is_active`.execute(database.db)

    const analytics = await inject({
      method: 'GET',
      url: `/api/customers/${BUSINESS}/analytics`,
      headers: authFor(BUSINESS),
    })
    t.equal(analytics.statusCode, 200)
    const body = analytics.json().analytics
    t.equal(body.total_customers, count(direct), 'total_customers')
    t.equal(body.active_customers, activeCount, 'active_customers')
    t.equal(body.repeat_customers, repeat, 'repeat_customers')
    t.equal(
      body.repeat_customer_rate,
      Math.round((repeat * 10000) / activeCount) / 100,
      'repeat_customer_rate',
    )
    t.equal(body.average_lifetime_value, average[0]?.value, 'average_lifetime_value')
    for (const frequency of ['new', 'one_time', 'occasional', 'regular', 'frequent']) {
      t.equal(
        body.frequency_distribution[frequency],
        count(active.filter((row) => row.repeat_frequency === frequency)),
        `frequency_distribution.${frequency}`,
      )
    }
  },
)
