import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { authFor, build, testDatabase } from '../helper.js'
import { outagesFor } from '../support/outages.js'

const BUSINESS = 1601
const KEYS = 40
const SENDERS = 8

t.test(
  'connections cut while keyed creates run: every key ends with exactly one customer',
  async (t) => {
    const database = await testDatabase()
    const outages = await outagesFor(database, 40)
    t.teardown(outages.close)
    const { inject } = await build(t, { database: outages.service })
    t.comment(outages.description)

    const send = (index: number) =>
      inject({
        method: 'POST',
        url: `/api/customers/${BUSINESS}`,
        headers: { ...authFor(BUSINESS), 'idempotency-key': `fault-${index}` },
        payload: { name: `Fault ${index}` },
      })

    const queue = Array.from({ length: KEYS }, (_, index) => index)
    const answers = new Map<number, string>()
    const seen = { unavailable: 0, inProgress: 0, other: [] as string[] }
    // A phone on a bad network: the same request, with the same key, until it gets a 201.
    async function sender(): Promise<void> {
      for (let index = queue.shift(); index !== undefined; index = queue.shift()) {
        for (let attempt = 1; ; attempt += 1) {
          const response = await send(index)
          if (response.statusCode === 201) {
            answers.set(index, response.body)
            break
          }
          if (response.statusCode === 503) seen.unavailable += 1
          else if (response.statusCode === 409) seen.inProgress += 1
          else seen.other.push(`${response.statusCode} ${response.body}`)
          if (attempt > 200) throw new Error(`key fault-${index} never succeeded`)
          await sleep(10)
        }
      }
    }

    let cuts = 0
    const senders = Array.from({ length: SENDERS }, () => sender())
    const cutter = (async () => {
      while (queue.length > 0 && cuts < 40) {
        await sleep(30)
        await outages.cut()
        cuts += 1
      }
    })()
    await Promise.all([...senders, cutter])
    t.comment(
      `cuts: ${cuts}, 503s: ${seen.unavailable}, 409s: ${seen.inProgress}, keys: ${answers.size}`,
    )
    t.ok(cuts > 0, 'the database was cut off at least once')
    t.same(seen.other, [], 'no answer but 201, 409 and 503 (never a 500)')
    t.equal(answers.size, KEYS, 'every key got its 201')

    const rows = await database.db
      .selectFrom('customers')
      .select(['id', 'name'])
      .where('business_id', '=', BUSINESS)
      .execute()
    for (let index = 0; index < KEYS; index += 1) {
      const matching = rows.filter((row) => row.name === `Fault ${index}`)
      t.equal(matching.length, 1, `fault-${index}: exactly one customer`)
      const answered = JSON.parse(answers.get(index) ?? '{}') as { customer?: { id?: number } }
      t.equal(answered.customer?.id, matching[0]?.id, `fault-${index}: the 201 names it`)
    }

    // Retried once more, each key answers its stored 201 and creates nothing.
    for (let index = 0; index < KEYS; index += 1) {
      const retry = await send(index)
      t.equal(retry.statusCode, 201, `fault-${index}: retry status`)
      t.equal(retry.headers['idempotent-replayed'], 'true', `fault-${index}: replayed`)
      t.equal(retry.body, answers.get(index), `fault-${index}: the same answer`)
    }
    const after = await database.db
      .selectFrom('customers')
      .select('id')
      .where('business_id', '=', BUSINESS)
      .execute()
    t.equal(after.length, KEYS, 'one customer per key, and no more')
  },
)
