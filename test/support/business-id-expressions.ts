/** Reading expressions of a libpg-query parse tree, for the business_id check. */
import type { Node } from 'libpg-query'

/** The AND-ed parts of a condition; an OR or NOT is one part that pins nothing. */
export function conjunctsOf(expr: Node | undefined): Node[] {
  if (!expr) return []
  if ('BoolExpr' in expr && expr.BoolExpr.boolop === 'AND_EXPR')
    return (expr.BoolExpr.args ?? []).flatMap(conjunctsOf)
  return [expr]
}

/** The pairs an equality states: `a = b`, or each column of `(a, b) = (c, d)`. */
export function equalitiesOf(expr: Node): [Node, Node][] {
  if (!('A_Expr' in expr)) return []
  const { kind, name, lexpr, rexpr } = expr.A_Expr
  const equal =
    (kind === 'AEXPR_OP' && stringsOf(name).join('.') === '=') || kind === 'AEXPR_NOT_DISTINCT'
  if (!equal || !lexpr || !rexpr) return []
  if ('RowExpr' in lexpr && 'RowExpr' in rexpr) {
    const left = lexpr.RowExpr.args ?? []
    const right = rexpr.RowExpr.args ?? []
    if (left.length !== right.length) return []
    return left.flatMap((item, index) => {
      const other = right[index]
      return other ? [[item, other] as [Node, Node]] : []
    })
  }
  return [[lexpr, rexpr]]
}

/** A value the statement is given: a literal or a parameter, maybe cast. */
export function isValue(expr: Node): boolean {
  if ('A_Const' in expr) return !expr.A_Const.isnull
  if ('ParamRef' in expr) return true
  if ('TypeCast' in expr) return expr.TypeCast.arg !== undefined && isValue(expr.TypeCast.arg)
  return false
}

export function stringsOf(nodes: Node[] | undefined): string[] {
  return (nodes ?? []).flatMap((node) => ('String' in node ? [node.String.sval ?? ''] : []))
}

const STATEMENTS = ['SelectStmt', 'InsertStmt', 'UpdateStmt', 'DeleteStmt']

/** Calls `visit` with each query nested in `value` (subqueries), not looking inside them. */
export function forEachSubquery(value: unknown, visit: (query: Node) => void): void {
  if (Array.isArray(value)) {
    for (const item of value) forEachSubquery(item, visit)
    return
  }
  if (typeof value !== 'object' || value === null) return
  for (const [key, inner] of Object.entries(value)) {
    if (STATEMENTS.includes(key)) {
      visit({ [key]: inner } as Node)
    } else if (key === 'SubLink' && typeof inner === 'object' && inner !== null) {
      const { subselect, testexpr } = inner as { subselect?: Node; testexpr?: Node }
      if (subselect) visit(subselect)
      forEachSubquery(testexpr, visit)
    } else {
      forEachSubquery(inner, visit)
    }
  }
}
