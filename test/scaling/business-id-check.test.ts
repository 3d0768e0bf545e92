import t from 'tap'
import { checkStatements } from '../support/business-id-check.js'

// The checker is given the business-scoped tables; the suite's check reads them from the schema.
const SCOPED = [
  'customers',
  'customer_notes',
  'customer_sales',
  'customer_events',
  'webhook_endpoints',
]

const PASS: [string, string][] = [
  [
    'joined to a CTE, pinned as well',
    `with mine as (select business_id, id from customers where business_id = $1)
      update customer_notes n set content = '' from mine m
      where n.business_id = $1 and n.business_id = m.business_id and n.customer_id = m.id`,
  ],
  ['plain lookup', 'select * from customers where business_id = $1 and id = $2'],
  ['literal', 'select id from customers where business_id = 5'],
  ['cast parameter', 'select id from customers where $1::bigint = business_id'],
  ['unqualified with alias', 'select c.id from customers c where business_id = $1'],
  ['row equality', 'select id from customers where (business_id, id) = ($1, $2)'],
  [
    'join pinned through ON',
    `select n.id from customers c join customer_notes n
      on n.business_id = c.business_id and n.customer_id = c.id
      where c.business_id = $1`,
  ],
  [
    'chain of joins',
    `select 1 from customers a join customer_notes b on b.business_id = a.business_id
      join customer_sales s on s.business_id = b.business_id where a.business_id = $1`,
  ],
  [
    'left join pinned in its ON',
    `select c.id from customers c left join customer_notes n
      on n.business_id = c.business_id and n.customer_id = c.id where c.business_id = $1`,
  ],
  [
    'correlated subquery',
    `select id from customers c where business_id = $1 and exists (
      select 1 from customer_notes n where n.business_id = c.business_id and n.customer_id = c.id)`,
  ],
  [
    'scalar subquery pinned itself',
    `select id, (select count(*) from customer_notes n where n.business_id = $1) from customers
      where business_id = $1`,
  ],
  [
    'CTE',
    `with mine as (select id from customers where business_id = $1)
      select * from mine join businesses b on b.id = $1`,
  ],
  ['CTE named like a table', `with customers as (select 1 as id) select id from customers`],
  [
    'data-modifying CTE',
    `with moved as (update customer_notes set customer_id = $2 where business_id = $1
        and customer_id = $3 returning id)
      select count(*) from moved`,
  ],
  ['insert values', 'insert into customers (business_id, name) values ($1, $2) returning id'],
  [
    'insert select',
    `insert into customer_notes (business_id, customer_id, content)
      select business_id, id, 'x' from customers where business_id = $1`,
  ],
  [
    'insert on conflict',
    `insert into customer_sales (business_id, sale_id, customer_id) values ($1, $2, $3)
      on conflict (business_id, sale_id) do update set customer_id = excluded.customer_id`,
  ],
  [
    'update from',
    `update customer_notes n set content = c.name from customers c
      where n.business_id = $1 and c.business_id = n.business_id and c.id = n.customer_id`,
  ],
  [
    'delete using',
    `delete from customer_notes n using customers c
      where c.business_id = $1 and n.business_id = c.business_id and n.customer_id = c.id`,
  ],
  [
    'union of pinned selects',
    'select id from customers where business_id = $1 union all select id from customer_notes where business_id = $1',
  ],
  [
    'lateral subquery pinned by the outer row',
    `select c.id, n.id from customers c cross join lateral (
      select id from customer_notes where business_id = c.business_id and customer_id = c.id limit 1
    ) n where c.business_id = $1`,
  ],
  [
    'marked cross-business',
    'select /* cross-business: the dispatcher looks at every business */ business_id from webhook_endpoints',
  ],
  ['not a business table', 'select country from businesses where id = $1'],
  ['pg-boss', 'select * from pgboss.job where name = $1'],
  ['explain', 'explain (format json) select id from customers where business_id = $1'],
  [
    'update with a pinned subquery',
    `update customers set name = (select content from customer_notes
      where business_id = $1 limit 1) where business_id = $1 and id = $2`,
  ],
]

const FAIL: [string, string, string[]][] = [
  [
    "joined to a CTE's business_id only",
    `with mine as (select business_id, id from customers where business_id = $1)
      update customer_notes n set content = '' from mine m
      where n.business_id = m.business_id and n.customer_id = m.id`,
    ['customer_notes'],
  ],
  ['no where', 'select * from customers', ['customers']],
  ['other column', 'select * from customers where id = $1', ['customers']],
  [
    'or around the equality',
    'select * from customers where business_id = $1 or id = $2',
    ['customers'],
  ],
  ['not equal', 'select * from customers where business_id <> $1', ['customers']],
  ['greater than', 'select * from customers where business_id > $1', ['customers']],
  ['in a list', 'select * from customers where business_id in ($1, $2)', ['customers']],
  ['any of an array', 'select * from customers where business_id = any($1)', ['customers']],
  ['not', 'select * from customers where not (business_id = $1)', ['customers']],
  [
    'join without business_id',
    `select 1 from customers c join customer_notes n on n.customer_id = c.id
      where c.business_id = $1`,
    ['customer_notes'],
  ],
  [
    'join to an unpinned table',
    `select 1 from customers c join customer_notes n on n.business_id = c.business_id`,
    ['customers', 'customer_notes'],
  ],
  [
    'outer join ON does not pin the outer side',
    `select 1 from customers c left join customer_notes n
      on n.business_id = c.business_id and c.business_id = $1`,
    ['customers', 'customer_notes'],
  ],
  [
    'pinned to another column',
    'select 1 from customers c join customer_notes n on n.business_id = c.id where c.business_id = $1',
    ['customer_notes'],
  ],
  [
    'subquery without its own pin',
    'select id from customers where business_id = $1 and id in (select customer_id from customer_notes)',
    ['customer_notes'],
  ],
  [
    'CTE without a pin',
    'with every as (select id from customers) select * from every',
    ['customers'],
  ],
  ['insert without business_id', "insert into customers (name) values ('x')", ['customers']],
  ['insert without columns', "insert into customers values (1, 'x')", ['customers']],
  [
    'insert select unpinned',
    'insert into customer_notes (business_id, customer_id) select business_id, id from customers',
    ['customers'],
  ],
  ['update everything', "update customers set name = 'x'", ['customers']],
  ['update of a row by id', 'update customers set name = $1 where id = $2', ['customers']],
  ['delete by age', 'delete from customer_events where created_at < now()', ['customer_events']],
  [
    'delete using unpinned',
    `delete from customer_notes n using customers c
      where n.business_id = $1 and n.customer_id = c.id`,
    ['customers'],
  ],
  [
    'union with one unpinned side',
    'select id from customers where business_id = $1 union select id from customer_notes',
    ['customer_notes'],
  ],
  [
    'correlated to an unpinned outer row',
    `select 1 from webhook_endpoints w where exists (
      select 1 from customer_events e where e.business_id = w.business_id)`,
    ['webhook_endpoints', 'customer_events'],
  ],
  [
    'the marker is a comment, not a string',
    "select '/* cross-business: no */' from customers",
    ['customers'],
  ],
  ['a marker needs a reason', 'select /* cross-business: */ 1 from customers', ['customers']],
  [
    'equality with a column of an unscoped table',
    'select 1 from customers c join businesses b on c.business_id = b.id',
    ['customers'],
  ],
  ['is null', 'select 1 from customers where business_id is null', ['customers']],
  [
    'ON CONFLICT subquery unpinned',
    `insert into customers (business_id, name) values ($1, $2)
      on conflict (business_id, id) do update set name = (select max(name) from customers)`,
    ['customers'],
  ],
  [
    'returning subquery unpinned',
    'delete from customers where business_id = $1 returning (select count(*) from customer_notes)',
    ['customer_notes'],
  ],
  ['copy into a table', 'copy customers (name) from stdin', ['customers']],
]

t.test('statements that keep to one business pass', async (t) => {
  for (const [name, statement] of PASS) {
    t.same(await checkStatements([statement], SCOPED), [], name)
  }
})

t.test('statements that may reach other businesses fail, naming the table', async (t) => {
  for (const [name, statement, tables] of FAIL) {
    const violations = await checkStatements([statement], SCOPED)
    t.same(
      violations.map((violation) => violation.table),
      tables,
      name,
    )
    t.ok(
      violations.every((violation) => violation.statement === statement),
      `${name}: the violation carries its statement`,
    )
  }
})

t.test('several statements in one text are each checked', async (t) => {
  const text = 'select 1 from customers where business_id = 1; delete from customer_notes'
  const violations = await checkStatements([text], SCOPED)
  t.same(
    violations.map((violation) => violation.table),
    ['customer_notes'],
  )
})

t.test('a statement that does not parse is reported when it names a business table', async (t) => {
  t.equal((await checkStatements(['selec id from customers'], SCOPED)).length, 1)
  t.same(await checkStatements(['selec 1'], SCOPED), [])
})
