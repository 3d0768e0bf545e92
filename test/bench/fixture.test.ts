import t from 'tap'
import { MIN_ACTIVE_CUSTOMERS, NotEnoughData, loadFixture } from '../../bench/fixture.js'
import { insertCustomers } from '../../scripts/seed/generate.js'
import { testDatabase } from '../helper.js'

const BUSINESS = 61

t.test(
  'the bench states its minimum and the seed that gives it, then draws its customers',
  async (t) => {
    const { db } = await testDatabase()
    await db.insertInto('businesses').values({ id: BUSINESS }).execute()
    await t.rejects(
      loadFixture(db, BUSINESS, 'secret'),
      new NotEnoughData(
        `the bench needs at least 5,000 active customers in business ${BUSINESS}, and it has 0: on an empty database, npm run seed -- --customers 20000 --business ${BUSINESS}`,
      ),
      'an empty business',
    )

    // The seed leaves one customer in 33 inactive: 5,000 of them are 4,849 active.
    const range = await insertCustomers(db, BUSINESS, MIN_ACTIVE_CUSTOMERS, () => {})
    await t.rejects(
      loadFixture(db, BUSINESS, 'secret'),
      { message: /needs at least 5,000 active customers in business 61, and it has 4,849:/ },
      'one short of the minimum in active customers',
    )

    await db
      .updateTable('customers')
      .set({ is_active: true })
      .where('business_id', '=', BUSINESS)
      .execute()
    const { fixture, active } = await loadFixture(db, BUSINESS, 'secret')
    t.equal(active, MIN_ACTIVE_CUSTOMERS, 'active customers counted')
    const ids = new Set(fixture.customerIds)
    t.equal(ids.size, MIN_ACTIVE_CUSTOMERS, 'at the minimum, every active customer, once each')
    t.ok(
      [...ids].every((id) => id >= range.minId && id <= range.maxId),
      'all of them customers of the business',
    )
    t.ok(fixture.phoneFragments.length > 0 && fixture.emailFragments.length > 0, 'search fragments')
    t.ok(ids.has(fixture.busyCustomerId), 'the busy customer is one of them')
  },
)
