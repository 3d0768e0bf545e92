import t from 'tap'
import { authFor, build } from '../../../helper.js'

t.test('create then get', async (t) => {
  const { inject } = await build(t)
  const created = await inject({
    method: 'POST',
    url: '/api/customers/5',
    headers: authFor(5),
    payload: { name: 'A' },
  })
  t.equal(created.statusCode, 201)
  const got = await inject({
    method: 'GET',
    url: `/api/customers/5/${created.json().customer.id}`,
    headers: authFor(5),
  })
  t.equal(got.statusCode, 200)
})
