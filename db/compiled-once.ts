import { createQueryId, type CompiledQuery, type Compilable } from 'kysely'
import type { Executor } from './executor.js'

/**
 * Values no real call passes (ids and limits are positive): stand-ins for the parameters while
 * the query is compiled the first time, found again in its parameter list.
 */
const STAND_IN_BASE = -7_919_000_001

/** What a compiled query binds: values only, never a choice of what the text says. */
export type BoundValue = number | string | boolean | null

/** A parameter that is not an argument but was computed from one (`%${text}%`) would be frozen. */
const COMPUTED_FROM_STAND_IN = /7919000/

/**
 * A query whose text does not depend on its values (a read by key), built and compiled once:
 * later calls bind their values into the compiled parameters. Kysely otherwise builds and
 * compiles the same query object on every call — measured as the largest CPU cost of a
 * customer read. Kept per database handle without plugins; the first call on a handle checks
 * that every value became a bound parameter and that none was computed from another. While the
 * query compiles the values are numeric stand-ins, whatever their type: `build` must not choose
 * its text from them (callers keep one compiled query per shape) nor compute values from them
 * (callers pass `%${text}%` ready-made).
 */
export function compiledOnce<Args extends BoundValue[], Row>(
  build: (db: Executor, ...args: Args) => Compilable<Row>,
): (db: Executor, ...args: Args) => CompiledQuery<Row> {
  // Per database handle (a transaction is a handle of its own and compiles anew).
  const templates = new WeakMap<Executor, { query: CompiledQuery<Row>; slots: number[] }>()
  return (db, ...args) => {
    // A plugin may transform each query differently (tests inject outages that way): a handle
    // with plugins compiles every call, as Kysely would. The service's handles have none.
    if (db.getExecutor().plugins.length > 0) return build(db, ...args).compile()
    let template = templates.get(db)
    if (template === undefined) {
      const standIns = args.map((_, index) => STAND_IN_BASE - index) as Args
      const query = build(db, ...standIns).compile()
      const slots = query.parameters.map((value) => standIns.indexOf(value as BoundValue))
      const unbound = standIns.filter((_, index) => !slots.includes(index))
      if (unbound.length > 0) {
        throw new Error(`compiledOnce: ${unbound.length} value(s) not bound as parameters`)
      }
      const computed = query.parameters.filter(
        (value, index) => slots[index] === -1 && COMPUTED_FROM_STAND_IN.test(String(value)),
      )
      if (computed.length > 0) {
        throw new Error(`compiledOnce: ${computed.length} parameter(s) computed from a value`)
      }
      template = { query, slots }
      templates.set(db, template)
    }
    const { query, slots } = template
    return {
      ...query,
      queryId: createQueryId(),
      parameters: slots.map((slot, index) => (slot >= 0 ? args[slot] : query.parameters[index])),
    }
  }
}

/**
 * `compiledOnce` for a query whose text depends on a shape (an ordering, which filters are
 * present): one compiled query per distinct `keyOf(shape)`, the values bound as above.
 */
export function compiledPerShape<Shape, Row>(
  keyOf: (shape: Shape) => string,
  build: (db: Executor, shape: Shape, values: BoundValue[]) => Compilable<Row>,
): (shape: Shape) => (db: Executor, ...values: BoundValue[]) => CompiledQuery<Row> {
  const byShape = new Map<string, (db: Executor, ...values: BoundValue[]) => CompiledQuery<Row>>()
  return (shape) => {
    const key = keyOf(shape)
    let query = byShape.get(key)
    if (query === undefined) {
      query = compiledOnce((db: Executor, ...values: BoundValue[]) => build(db, shape, values))
      byShape.set(key, query)
    }
    return query
  }
}
