import { sql } from 'kysely'
import { crossBusiness } from './cross-business.js'
import type { Executor } from './executor.js'

/** Whose key it is: keys are per business and per user (the token's `sub`). */
export interface KeyScope {
  businessId: number
  userSub: number
  key: string
}

/** What a repeat must match to be the same request. */
export interface RequestFingerprint {
  method: string
  path: string
  bodySha256: string
}

export interface StoredAnswer {
  status: number
  body: unknown
  headers: Record<string, string>
}

export interface StoredKey extends RequestFingerprint {
  /** null while the request that claimed the key has not committed (never seen committed). */
  answer: StoredAnswer | null
  expired: boolean
}

/** How long an answer is kept and replayed. */
export const KEY_LIFETIME = sql`interval '24 hours'`

/**
 * The transaction-scoped advisory lock of a key: held from the claim until the request's
 * transaction ends, so a second request with the key never waits on the first, it is told.
 */
const keyLock = (scope: KeyScope) =>
  sql<boolean>`pg_try_advisory_xact_lock(hashtextextended(${`${scope.businessId}:${scope.userSub}:${scope.key}`}, 0))`

export interface ClaimResult {
  /** false: another transaction holds the key now (its request is running). */
  free: boolean
  /** true: this transaction inserted the key; its answer must be stored before commit. */
  claimed: boolean
}

/**
 * In one statement: take the key's lock without waiting, and if it was free insert the key
 * (nothing if a row is there already). Run inside the request's transaction.
 */
export async function claimKey(
  trx: Executor,
  scope: KeyScope,
  fingerprint: RequestFingerprint,
): Promise<ClaimResult> {
  const { rows } = await sql<ClaimResult>`
    with attempt as (select ${keyLock(scope)} as free),
    claim as (
      insert into idempotency_keys (business_id, user_sub, key, method, path, body_sha256)
      select ${scope.businessId}::bigint, ${scope.userSub}::bigint, ${scope.key}::text,
        ${fingerprint.method}::text, ${fingerprint.path}::text, ${fingerprint.bodySha256}::text
      from attempt where attempt.free
      on conflict (business_id, user_sub, key) do nothing
      returning true as claimed
    )
    select attempt.free, exists (select 1 from claim) as claimed from attempt`.execute(trx)
  const [row] = rows
  if (!row) throw new Error('the key claim returned no row')
  return row
}

/** The key's stored request and answer, as committed. */
export async function findKey(db: Executor, scope: KeyScope): Promise<StoredKey | undefined> {
  const row = await db
    .selectFrom('idempotency_keys')
    .select([
      'method',
      'path',
      'body_sha256',
      'status_code',
      'response_body',
      'response_headers',
      sql<boolean>`created_at < now() - ${KEY_LIFETIME}`.as('expired'),
    ])
    .where('business_id', '=', scope.businessId)
    .where('user_sub', '=', scope.userSub)
    .where('key', '=', scope.key)
    .executeTakeFirst()
  if (!row) return undefined
  return {
    method: row.method,
    path: row.path,
    bodySha256: row.body_sha256,
    answer:
      row.status_code === null
        ? null
        : { status: row.status_code, body: row.response_body, headers: row.response_headers },
    expired: row.expired,
  }
}

/** Removes the key if it has expired (the caller holds its lock, then claims it afresh). */
export async function deleteExpiredKey(db: Executor, scope: KeyScope): Promise<void> {
  await db
    .deleteFrom('idempotency_keys')
    .where('business_id', '=', scope.businessId)
    .where('user_sub', '=', scope.userSub)
    .where('key', '=', scope.key)
    .where(sql<boolean>`created_at < now() - ${KEY_LIFETIME}`)
    .execute()
}

/** Completes the claimed key with the answer, in the transaction that claimed it. */
export async function storeAnswer(
  trx: Executor,
  scope: KeyScope,
  answer: StoredAnswer,
): Promise<void> {
  await trx
    .updateTable('idempotency_keys')
    .set({
      status_code: answer.status,
      response_body: sql`${JSON.stringify(answer.body)}::jsonb`,
      response_headers: sql`${JSON.stringify(answer.headers)}::jsonb`,
    })
    .where('business_id', '=', scope.businessId)
    .where('user_sub', '=', scope.userSub)
    .where('key', '=', scope.key)
    .execute()
}

/**
 * Stores a refusal that changed nothing (its transaction was rolled back) as the key's answer,
 * in a statement of its own; skipped when another request holds the key by then.
 */
export async function storeRefusal(
  db: Executor,
  scope: KeyScope,
  fingerprint: RequestFingerprint,
  answer: StoredAnswer,
): Promise<void> {
  await sql`
    insert into idempotency_keys (business_id, user_sub, key, method, path, body_sha256,
      status_code, response_body, response_headers)
    select ${scope.businessId}::bigint, ${scope.userSub}::bigint, ${scope.key}::text,
      ${fingerprint.method}::text, ${fingerprint.path}::text, ${fingerprint.bodySha256}::text,
      ${answer.status}::smallint, ${JSON.stringify(answer.body)}::jsonb,
      ${JSON.stringify(answer.headers)}::jsonb
    where ${keyLock(scope)}
    on conflict (business_id, user_sub, key) do nothing`.execute(db)
}

/**
 * Deletes up to `limit` expired keys of any business (maintenance, not a request: the one
 * statement here that is not scoped to a business). Rows locked by a running request are
 * skipped, so the purge never waits and never blocks one; returns how many it deleted.
 */
export async function deleteExpiredKeys(db: Executor, limit: number): Promise<number> {
  const result = await sql`${crossBusiness('the purge of expired keys of every business')}
    delete from idempotency_keys
    where (business_id, user_sub, key) in (
      select business_id, user_sub, key from idempotency_keys
      where created_at < now() - ${KEY_LIFETIME}
      order by created_at
      limit ${limit}
      for update skip locked
    )`.execute(db)
  return Number(result.numAffectedRows ?? 0n)
}

/** A stored answer that may show the customer: the customer's create, or any of its paths. */
export interface StoredAnswerAbout {
  user_sub: number
  key: string
  response_body: unknown
}

/** The stored answers that may show the customer (its create, and every write to its paths). */
export async function findStoredAnswersAbout(
  db: Executor,
  businessId: number,
  customerId: number,
): Promise<StoredAnswerAbout[]> {
  const own = `/api/customers/${businessId}/${customerId}`
  const { rows } = await sql<StoredAnswerAbout>`select user_sub, key, response_body
    from idempotency_keys
    where business_id = ${businessId} and status_code is not null
      and (path = ${own} or path like ${`${own}/%`} or path like ${`${own}?%`}
        or response_body @> ${JSON.stringify({ customer: { id: customerId } })}::jsonb)
    for update`.execute(db)
  return rows
}

/** Replaces a stored answer's body (the erasure's: the same answer, its personal data gone). */
export async function rewriteStoredAnswer(
  db: Executor,
  scope: KeyScope,
  body: unknown,
): Promise<void> {
  await db
    .updateTable('idempotency_keys')
    .set({ response_body: sql`${JSON.stringify(body)}::jsonb` })
    .where('business_id', '=', scope.businessId)
    .where('user_sub', '=', scope.userSub)
    .where('key', '=', scope.key)
    .execute()
}
