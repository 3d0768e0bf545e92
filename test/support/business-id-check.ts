/**
 * Checks that a SQL statement keeps to one business: every reference to a business-scoped
 * table (one with a business_id column) is pinned by `business_id = <value>` in its own scope,
 * directly or through a chain of `x.business_id = y.business_id` to a pinned table. Such a
 * statement runs on one shard when the tables are distributed by business_id (docs/scaling.md).
 *
 * The statement is read by PostgreSQL's own parser (libpg-query), so CTEs, subqueries, joins and
 * comments are what PostgreSQL sees, not what a pattern guesses.
 */
import {
  loadModule,
  parseSync,
  scanSync,
  type DeleteStmt,
  type InsertStmt,
  type JoinExpr,
  type Node,
  type RangeVar,
  type SelectStmt,
  type UpdateStmt,
  type WithClause,
} from 'libpg-query'
import {
  conjunctsOf,
  equalitiesOf,
  forEachSubquery,
  isValue,
  stringsOf,
} from './business-id-expressions.js'

export interface Violation {
  table: string
  reason: string
  statement: string
}

/** `/* cross-business: <reason> *\/` in a statement: it may span businesses, on purpose. */
const CROSS_BUSINESS = /^\/\*\s*cross-business:\s*[^\s*]/

/** A table (or CTE, subquery, function) in a FROM list, by the name its columns are qualified with. */
interface Ref {
  table: string
  name: string
  scoped: boolean
}

/** One query level: its FROM items, and which of them are pinned to one business. */
interface Scope {
  parent: Scope | undefined
  refs: Ref[]
  pinned: Set<Ref>
}

/** A condition, and the references it may pin (an outer join's ON pins only its inner side). */
interface Condition {
  expr: Node
  pins: readonly Ref[]
}

interface Context {
  scoped: ReadonlySet<string>
  ctes: ReadonlySet<string>
  found: { table: string; reason: string }[]
}

let loaded: Promise<void> | undefined

/** The violations of each statement (a text may hold several), in the order given. */
export async function checkStatements(
  texts: Iterable<string>,
  scopedTables: Iterable<string>,
): Promise<Violation[]> {
  loaded ??= loadModule()
  await loaded
  const scoped = new Set(scopedTables)
  const violations: Violation[] = []
  for (const statement of texts) {
    for (const found of checkText(statement, scoped)) violations.push({ ...found, statement })
  }
  return violations
}

/** The marker must be a comment (the scanner's token), not a string that looks like one. */
export function isMarkedCrossBusiness(text: string): boolean {
  return scanSync(text).tokens.some(
    (token) => token.tokenName === 'C_COMMENT' && CROSS_BUSINESS.test(token.text),
  )
}

function checkText(text: string, scoped: ReadonlySet<string>): Context['found'] {
  // Most texts (pg-boss's, transaction control) name no such table and need no parse.
  const mentioned = [...scoped].filter((table) => text.includes(table))
  if (mentioned.length === 0) return []
  let statements: Node[]
  try {
    statements = (parseSync(text).stmts ?? []).flatMap(({ stmt }) => (stmt ? [stmt] : []))
  } catch (error) {
    return [{ table: mentioned.join(', '), reason: `does not parse: ${String(error)}` }]
  }
  if (isMarkedCrossBusiness(text)) return []
  const context: Context = { scoped, ctes: new Set(), found: [] }
  for (const statement of statements) checkStatement(statement, undefined, context)
  return context.found
}

function checkStatement(node: Node, parent: Scope | undefined, context: Context): void {
  if ('SelectStmt' in node) checkSelect(node.SelectStmt, parent, context)
  else if ('InsertStmt' in node) checkInsert(node.InsertStmt, parent, context)
  else if ('UpdateStmt' in node) checkUpdate(node.UpdateStmt, parent, context)
  else if ('DeleteStmt' in node) checkDelete(node.DeleteStmt, parent, context)
  else if ('ExplainStmt' in node && node.ExplainStmt.query)
    checkStatement(node.ExplainStmt.query, parent, context)
  else if ('CopyStmt' in node) {
    const { query, relation, attlist } = node.CopyStmt
    if (query) checkStatement(query, parent, context)
    else if (relation && isScoped(relation, context) && !stringsOf(attlist).includes('business_id'))
      context.found.push({ table: relation.relname ?? '', reason: 'COPY without business_id' })
  } else if ('MergeStmt' in node) {
    context.found.push({
      table: node.MergeStmt.relation?.relname ?? '',
      reason: 'MERGE is not checked',
    })
  }
}

/** The CTEs' own queries are checked; their names hide tables of the same name below. */
function withCtes(
  withClause: WithClause | undefined,
  parent: Scope | undefined,
  context: Context,
): Context {
  if (!withClause?.ctes) return context
  const names = withClause.ctes.flatMap((cte) =>
    'CommonTableExpr' in cte ? [cte.CommonTableExpr.ctename ?? ''] : [],
  )
  const inner: Context = { ...context, ctes: new Set([...context.ctes, ...names]) }
  for (const cte of withClause.ctes) {
    if ('CommonTableExpr' in cte && cte.CommonTableExpr.ctequery)
      checkStatement(cte.CommonTableExpr.ctequery, parent, inner)
  }
  return inner
}

function checkSelect(select: SelectStmt, parent: Scope | undefined, outer: Context): void {
  const context = withCtes(select.withClause, parent, outer)
  if (select.op && select.op !== 'SETOP_NONE') {
    if (select.larg) checkSelect(select.larg, parent, context)
    if (select.rarg) checkSelect(select.rarg, parent, context)
    return
  }
  const scope: Scope = { parent, refs: [], pinned: new Set() }
  const conditions: Condition[] = []
  const later: (() => void)[] = []
  for (const item of select.fromClause ?? []) addFromItem(item, scope, conditions, later, context)
  conditions.push(...whereConditions(select.whereClause, scope))
  settle(scope, conditions, context)
  const { fromClause, withClause, larg, rarg, ...expressions } = select
  forEachSubquery(expressions, (query) => checkStatement(query, scope, context))
  for (const check of later) check()
}

function checkInsert(insert: InsertStmt, parent: Scope | undefined, outer: Context): void {
  const context = withCtes(insert.withClause, parent, outer)
  const { relation } = insert
  if (relation && isScoped(relation, context)) {
    const columns = (insert.cols ?? []).flatMap((col) =>
      'ResTarget' in col ? [col.ResTarget.name] : [],
    )
    if (!columns.includes('business_id'))
      context.found.push({
        table: relation.relname ?? '',
        reason: 'INSERT without a business_id column',
      })
  }
  if (insert.selectStmt) checkStatement(insert.selectStmt, parent, context)
  // The conflicting row is the inserted one's, keyed by business_id with it.
  const target: Scope = {
    parent,
    refs: relation ? [refOf(relation, context)] : [],
    pinned: new Set(),
  }
  for (const ref of target.refs) target.pinned.add(ref)
  const { onConflictClause, returningClause } = insert
  forEachSubquery({ onConflictClause, returningClause }, (query) =>
    checkStatement(query, target, context),
  )
}

function checkUpdate(update: UpdateStmt, parent: Scope | undefined, outer: Context): void {
  const context = withCtes(update.withClause, parent, outer)
  checkModified(update.relation, update.fromClause, update.whereClause, parent, context, {
    targetList: update.targetList,
    returningClause: update.returningClause,
  })
}

function checkDelete(remove: DeleteStmt, parent: Scope | undefined, outer: Context): void {
  const context = withCtes(remove.withClause, parent, outer)
  checkModified(remove.relation, remove.usingClause, remove.whereClause, parent, context, {
    returningClause: remove.returningClause,
  })
}

/** UPDATE … FROM and DELETE … USING: the target and the other tables form one scope. */
function checkModified(
  relation: RangeVar | undefined,
  others: Node[] | undefined,
  where: Node | undefined,
  parent: Scope | undefined,
  context: Context,
  expressions: object,
): void {
  const scope: Scope = { parent, refs: [], pinned: new Set() }
  const conditions: Condition[] = []
  const later: (() => void)[] = []
  if (relation) scope.refs.push(refOf(relation, context))
  for (const item of others ?? []) addFromItem(item, scope, conditions, later, context)
  conditions.push(...whereConditions(where, scope))
  settle(scope, conditions, context)
  forEachSubquery({ where, expressions }, (query) => checkStatement(query, scope, context))
  for (const check of later) check()
}

function whereConditions(where: Node | undefined, scope: Scope): Condition[] {
  return conjunctsOf(where).map((expr) => ({ expr, pins: scope.refs }))
}

function isScoped(relation: RangeVar, context: Context): boolean {
  const name = relation.relname ?? ''
  const cte = !relation.schemaname && context.ctes.has(name)
  return !cte && context.scoped.has(name) && (relation.schemaname ?? 'public') === 'public'
}

function refOf(relation: RangeVar, context: Context): Ref {
  const table = relation.relname ?? ''
  return { table, name: relation.alias?.aliasname ?? table, scoped: isScoped(relation, context) }
}

/** Adds a FROM item's references (and its joins' conditions); subqueries are checked `later`. */
function addFromItem(
  item: Node,
  scope: Scope,
  conditions: Condition[],
  later: (() => void)[],
  context: Context,
): Ref[] {
  if ('RangeVar' in item) {
    const ref = refOf(item.RangeVar, context)
    scope.refs.push(ref)
    return [ref]
  }
  if ('JoinExpr' in item) return addJoin(item.JoinExpr, scope, conditions, later, context)
  if ('RangeSubselect' in item) {
    const { subquery, alias, lateral } = item.RangeSubselect
    const ref: Ref = { table: '(subquery)', name: alias?.aliasname ?? '', scoped: false }
    scope.refs.push(ref)
    if (subquery)
      later.push(() => checkStatement(subquery, lateral ? scope : scope.parent, context))
    return [ref]
  }
  if ('RangeFunction' in item) {
    const ref: Ref = {
      table: '(function)',
      name: item.RangeFunction.alias?.aliasname ?? '',
      scoped: false,
    }
    scope.refs.push(ref)
    later.push(() =>
      forEachSubquery(item.RangeFunction.functions, (query) =>
        checkStatement(query, scope, context),
      ),
    )
    return [ref]
  }
  return []
}

function addJoin(
  join: JoinExpr,
  scope: Scope,
  conditions: Condition[],
  later: (() => void)[],
  context: Context,
): Ref[] {
  const left = join.larg ? addFromItem(join.larg, scope, conditions, later, context) : []
  const right = join.rarg ? addFromItem(join.rarg, scope, conditions, later, context) : []
  const both = [...left, ...right]
  const pins =
    join.jointype === 'JOIN_LEFT'
      ? right
      : join.jointype === 'JOIN_RIGHT'
        ? left
        : join.jointype === 'JOIN_FULL'
          ? []
          : both
  for (const expr of conjunctsOf(join.quals)) conditions.push({ expr, pins })
  if (stringsOf(join.usingClause).includes('business_id')) {
    for (const a of left.filter((ref) => ref.scoped))
      for (const b of right.filter((ref) => ref.scoped))
        conditions.push({ expr: usingEquality(a, b), pins })
  }
  later.push(() => forEachSubquery(join.quals, (query) => checkStatement(query, scope, context)))
  return both
}

const columnRef = (ref: Ref): Node => ({
  ColumnRef: { fields: [{ String: { sval: ref.name } }, { String: { sval: 'business_id' } }] },
})

/** `JOIN … USING (business_id)` as the equality it stands for. */
const usingEquality = (a: Ref, b: Ref): Node => ({
  A_Expr: {
    kind: 'AEXPR_OP',
    name: [{ String: { sval: '=' } }],
    lexpr: columnRef(a),
    rexpr: columnRef(b),
  },
})

/** The business-scoped reference a column stands for, when it is a business_id column. */
function businessIdOf(expr: Node, scope: Scope): Ref | undefined {
  if ('TypeCast' in expr && expr.TypeCast.arg) return businessIdOf(expr.TypeCast.arg, scope)
  if (!('ColumnRef' in expr)) return undefined
  const fields = stringsOf(expr.ColumnRef.fields)
  if (fields.length !== (expr.ColumnRef.fields ?? []).length || fields.at(-1) !== 'business_id')
    return undefined
  const qualifier = fields.at(-2)
  for (let level: Scope | undefined = scope; level; level = level.parent) {
    if (qualifier === undefined) {
      if (level.refs.length === 0) continue
      const scoped = level.refs.filter((ref) => ref.scoped)
      return scoped.length === 1 ? scoped[0] : undefined
    }
    const ref = level.refs.find((candidate) => candidate.name === qualifier)
    if (ref) return ref.scoped ? ref : undefined
  }
  return undefined
}

const isPinned = (ref: Ref, scope: Scope): boolean => {
  for (let level: Scope | undefined = scope; level; level = level.parent)
    if (level.pinned.has(ref)) return true
  return false
}

/** Pins what the conditions pin, following business_id = business_id until nothing changes. */
function settle(scope: Scope, conditions: Condition[], context: Context): void {
  const links: { a: Ref | 'value'; b: Ref | 'value'; pins: readonly Ref[] }[] = []
  for (const { expr, pins } of conditions) {
    for (const [left, right] of equalitiesOf(expr)) {
      const a = businessIdOf(left, scope) ?? (isValue(left) ? 'value' : undefined)
      const b = businessIdOf(right, scope) ?? (isValue(right) ? 'value' : undefined)
      if (a && b) links.push({ a, b, pins })
    }
  }
  const known = (side: Ref | 'value'): boolean => side === 'value' || isPinned(side, scope)
  let changed = true
  while (changed) {
    changed = false
    for (const { a, b, pins } of links) {
      for (const [from, to] of [
        [a, b],
        [b, a],
      ] as const) {
        if (to !== 'value' && pins.includes(to) && !scope.pinned.has(to) && known(from)) {
          scope.pinned.add(to)
          changed = true
        }
      }
    }
  }
  for (const ref of scope.refs) {
    if (ref.scoped && !scope.pinned.has(ref))
      context.found.push({
        table: ref.table,
        reason: `no business_id equality${ref.name === ref.table ? '' : ` (as ${ref.name})`}`,
      })
  }
}
