import type { ColumnType, Generated } from 'kysely'

/** bigint ids: both drivers read int8 as a number (db/column-parsers.ts). */
type BigId = ColumnType<number, number, never>
type GeneratedId = Generated<number>
/** numeric columns come back as decimal strings and are never turned into floats. */
type Numeric = ColumnType<string, string | number | undefined, string | number>
type CreatedAt = ColumnType<Date, Date | string | undefined, never>
type UpdatedAt = ColumnType<Date, Date | string | undefined, Date | string>

export type CustomerType = 'walk_in' | 'regular' | 'vip' | 'wholesale'
export type NoteType = 'personal' | 'preference' | 'issue' | 'feedback'
export type PaymentMethod = 'cash' | 'mpesa' | 'credit'
export type RepeatFrequency = 'new' | 'one_time' | 'occasional' | 'regular' | 'frequent'

export interface BusinessesTable {
  id: BigId
  country: Generated<string>
  created_at: Generated<Date>
}

export interface CustomersTable {
  id: GeneratedId
  business_id: BigId
  name: string
  phone: string | null
  email: string | null
  address: string | null
  customer_type: Generated<CustomerType>
  is_active: Generated<boolean>
  prefer_sms: Generated<boolean>
  prefer_email: Generated<boolean>
  prefer_call: Generated<boolean>
  /** 1 at creation, +1 in the statement of every change to the customer or its preferences. */
  version: Generated<number>
  /** SHA-256 of the E.164 phone's digits, kept by the database (a generated column). */
  phone_sha256: ColumnType<Uint8Array | null, never, never>
  /** The customer this one was merged into (it is then inactive); null otherwise. */
  merged_into: ColumnType<number | null, never, number | null>
  /** When the customer was erased (it is then inactive for good); null otherwise. */
  erased_at: ColumnType<Date | null, never, Date | string | null>
  created_at: CreatedAt
  updated_at: UpdatedAt
}

export interface CustomerNotesTable {
  id: GeneratedId
  business_id: BigId
  customer_id: BigId
  note_type: Generated<NoteType>
  content: string
  created_by: BigId
  created_at: CreatedAt
  updated_at: UpdatedAt
}

export interface CustomerPreferencesTable {
  id: GeneratedId
  business_id: BigId
  customer_id: BigId
  favorite_products: ColumnType<number[], number[] | undefined, number[]>
  preferred_payment: PaymentMethod | null
  average_spend: Numeric
  best_contact_time: string | null
  do_not_contact: Generated<boolean>
  can_receive_offers: Generated<boolean>
  can_receive_loyalty: Generated<boolean>
  created_at: CreatedAt
  updated_at: UpdatedAt
}

export interface CustomerPurchaseHistoryTable {
  id: GeneratedId
  business_id: BigId
  customer_id: BigId
  total_purchases: Generated<number>
  total_spent: Numeric
  total_items_bought: Numeric
  avg_transaction_value: Numeric
  first_purchase_date: Date | null
  last_purchase_date: Date | null
  is_repeat_customer: Generated<boolean>
  repeat_frequency: Generated<RepeatFrequency>
  customer_lifetime_value: Numeric
  /** A copy of customers.is_active, kept by a trigger, so analytics counters follow it. */
  is_active: Generated<boolean>
  /** Raised by every merge and undo involving the customer (see lockHistoriesForMerge). */
  merge_epoch: Generated<number>
  created_at: CreatedAt
  updated_at: UpdatedAt
}

export interface CustomerStatsTable {
  business_id: BigId
  slot: number
  is_active: boolean
  repeat_frequency: RepeatFrequency
  customers: ColumnType<number, never, never>
  lifetime_value: ColumnType<string, never, never>
}

export type SaleEventType = 'sale.completed' | 'sale.refunded' | 'sale.voided'

export interface CustomerSalesTable {
  business_id: BigId
  sale_id: string
  /** null while the sale belongs to no customer (a walk-in, or a payer nobody has registered). */
  customer_id: ColumnType<number | null, number | null, number | null>
  total_amount: ColumnType<string | null, string | null | undefined, string | null>
  items_count: ColumnType<string | null, string | null | undefined, string | null>
  payment_method: PaymentMethod | null
  completed_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  refunded_amount: Numeric
  voided: Generated<boolean>
  /** The payer's E.164 phone, when the event gave it as a number. */
  payer_phone: string | null
  /** SHA-256 of the payer's E.164 digits (given, or computed from payer_phone). */
  payer_phone_sha256: ColumnType<Uint8Array | null, never, never>
  /** How the payer decided the sale's customer; null when an event named the customer. */
  matched_by: ColumnType<PayerMatch | null, PayerMatch | null | undefined, PayerMatch | null>
  /** The customer the sale's event named (before following merges); null when none was named. */
  named_customer_id: ColumnType<number | null, number | null | undefined, number | null>
  created_at: CreatedAt
  updated_at: UpdatedAt
}

export type PayerMatch = 'phone' | 'phone_sha256'

export type ConsentChannel = 'sms' | 'email' | 'call' | 'whatsapp'
export type ConsentPurpose = 'marketing' | 'loyalty' | 'service'
export type ConsentStatus = 'granted' | 'withdrawn'
export type ConsentSource = 'in_store' | 'sms_reply' | 'web' | 'import' | 'api'

/** One consent given or withdrawn; append-only (a trigger refuses updates and deletes). */
export interface CustomerConsentsTable {
  id: GeneratedId
  business_id: BigId
  customer_id: BigId
  channel: ConsentChannel
  purpose: ConsentPurpose
  status: ConsentStatus
  source: ConsentSource
  evidence: string | null
  /** `user:<sub>` of the token that wrote it, or `system`: the transaction's change context. */
  actor: Generated<string>
  /** The request that wrote it; null outside a request (the migration's records). */
  request_id: Generated<string | null>
  recorded_at: CreatedAt
}

export type DuplicateReason = 'same_phone' | 'same_email' | 'similar_name'

/** A pair of active customers that are probably one person, lower id first. */
export interface CustomerDuplicatesTable {
  business_id: BigId
  low_id: BigId
  high_id: BigId
  /** numeric(3,2), read as its decimal text. */
  score: Numeric
  reasons: DuplicateReason[]
}

/** What a merge moved and filled, per source: enough to undo it exactly. */
export interface MergeMoved {
  sources: {
    id: number
    note_ids: number[]
    /** The sales that were the source's, and how: its events named it, or the payer rule chose it. */
    sales: { sale_id: string; by: 'named' | 'payer' }[]
  }[]
  /** The target's empty fields the merge filled, with the values it put there. */
  filled: { phone?: string; email?: string; address?: string }
  favorite_products_added: number[]
  /** The target's favorite products as the merge left them. */
  favorite_products_after: number[]
  /**
   * The target's newest change once merged: the undo removes the products the merge added
   * unless a change after this one (not a merge or undo) set the favorites. Absent in merges
   * made before it was recorded; their undo reverts only when the list is still as left.
   */
  target_change_id?: number
  do_not_contact_turned_on: boolean
  /**
   * The target's consents the merge withdrew to turn do_not_contact on (the undo grants them
   * again); absent in merges made before the consent ledger.
   */
  consents_withdrawn?: { channel: ConsentChannel; purpose: ConsentPurpose }[]
}

export interface CustomerMergesTable {
  id: GeneratedId
  business_id: BigId
  target_id: BigId
  source_ids: ColumnType<number[], number[], never>
  moved: ColumnType<MergeMoved, string, never>
  created_at: CreatedAt
  undone_at: ColumnType<Date | null, never, Date | string>
}

export interface SalesEventsTable {
  business_id: BigId
  event_id: string
  event_type: SaleEventType
  sale_id: string
  outcome: string
  received_at: Generated<Date>
}

export interface CustomerCountsTable {
  business_id: BigId
  /** customer_id % 16: the counters are spread over slots (2026-12-04T1200); readers sum them. */
  slot: ColumnType<number, never, never>
  customer_type: CustomerType
  is_active: boolean
  count: ColumnType<number, never, never>
}

export interface IdempotencyKeysTable {
  business_id: BigId
  user_sub: BigId
  key: string
  method: string
  path: string
  body_sha256: string
  /** null only inside the transaction that claimed the key, before its answer is stored. */
  status_code: number | null
  response_body: ColumnType<unknown, string | null | undefined, string | null>
  response_headers: ColumnType<Record<string, string>, string | undefined, string>
  created_at: ColumnType<Date, Date | string | undefined, Date | string>
}

/** Written only by the change-history trigger (migration 2026-12-03T1200-change-history). */
export interface CustomerChangesTable {
  id: GeneratedId
  business_id: BigId
  customer_id: BigId
  transaction_id: ColumnType<string, never, never>
  at: ColumnType<Date, never, never>
  actor: string
  request_id: string | null
  action: ChangeAction
  fields: ColumnType<Record<string, { from: unknown; to: unknown }>, string, string>
}

export type ChangeAction =
  | 'created'
  | 'updated'
  | 'deleted'
  | 'reactivated'
  | 'merged'
  | 'unmerged'
  | 'erased'
  | 'consent_changed'

export type ImportMode = 'create' | 'upsert'
export type ImportStatus = 'queued' | 'running' | 'succeeded' | 'failed'

/** A bulk import (migration 2026-12-03T1400-customer-imports). */
export interface CustomerImportsTable {
  id: GeneratedId
  business_id: BigId
  mode: ImportMode
  dry_run: boolean
  status: Generated<ImportStatus>
  /** The file's header: the column of each cell of a staged row. */
  columns: string[]
  rows: number
  processed: Generated<number>
  created: Generated<number>
  updated: Generated<number>
  skipped: Generated<number>
  failed_rows: Generated<number>
  /** The token's `sub` of the upload: the author of the notes the import adds. */
  created_by: BigId
  /** The upload's request id: the import's changes are recorded under it. */
  request_id: string | null
  created_at: CreatedAt
  started_at: ColumnType<Date | null, never, Date | string | null>
  finished_at: ColumnType<Date | null, never, Date | string | null>
}

/** A data row of an import's file, staged until a batch applies it. */
export interface CustomerImportRowsTable {
  business_id: BigId
  import_id: BigId
  /** 1 = the first data row after the header. */
  row_number: number
  cells: string[]
}

/** A problem of a rejected row: `position` orders a row's problems (0: the whole row). */
export interface CustomerImportErrorsTable {
  business_id: BigId
  import_id: BigId
  row_number: number
  position: number
  column: string
  message: string
}

/** Every event type of the feed (customer_events.type), in the document's order. */
export const EVENT_TYPES = [
  'customer.created',
  'customer.updated',
  'customer.deleted',
  'customer.reactivated',
  'customer.merged',
  'customer.unmerged',
  'customer.erased',
  'consent.changed',
  'purchase_history.updated',
] as const

export type EventType = (typeof EVENT_TYPES)[number]

/**
 * Written only by triggers (migration 2026-12-03T1500-customer-events), complete at commit: a
 * committed event has its type and its snapshots (from which the feed builds its `data`);
 * `position` comes from the sequencer. Its column `data` (JSON, before 2026-12-04T2200) is empty
 * since 2026-12-05T0500 and read by nothing here; a later release drops it.
 */
export interface CustomerEventsTable {
  id: GeneratedId
  business_id: BigId
  customer_id: BigId
  transaction_id: ColumnType<string, never, never>
  type: ColumnType<EventType | null, never, never>
  customer_snapshot: ColumnType<string | null, never, never>
  preferences_snapshot: ColumnType<string | null, never, never>
  history_snapshot: ColumnType<string | null, never, never>
  created_at: ColumnType<Date, never, never>
  position: ColumnType<number | null, never, never>
}

/**
 * Where the sequencer's next run starts (migration 2026-12-05T0100): no event left unnumbered
 * has an older transaction, in the cluster `system_identifier` names. Written only by
 * customer_events_start_at (the sequencer and the seed).
 */
export interface CustomerEventSequencingTable {
  business_id: ColumnType<number, never, never>
  unnumbered_from: ColumnType<string, never, never>
  system_identifier: ColumnType<string, never, never>
}

/** Migration 2026-12-03T1510-webhook-endpoints. */
export interface WebhookEndpointsTable {
  id: GeneratedId
  business_id: BigId
  url: string
  events: EventType[]
  enabled: ColumnType<boolean, boolean | undefined, boolean>
  secret: ColumnType<string, string, never>
  delivered_position: ColumnType<number, number | undefined, number>
  failing_since: ColumnType<Date | null, never, Date | string | null>
  next_attempt_at: ColumnType<Date | null, never, Date | string | null>
  created_at: ColumnType<Date, never, never>
  updated_at: ColumnType<Date, never, Date | string>
}

export interface WebhookDeliveriesTable {
  id: GeneratedId
  business_id: BigId
  endpoint_id: BigId
  event_id: BigId
  attempt: number
  status_code: number | null
  error: string | null
  duration_ms: number
  at: ColumnType<Date, never, never>
}

export interface Database {
  businesses: BusinessesTable
  customers: CustomersTable
  customer_notes: CustomerNotesTable
  customer_preferences: CustomerPreferencesTable
  customer_purchase_history: CustomerPurchaseHistoryTable
  customer_counts: CustomerCountsTable
  customer_stats: CustomerStatsTable
  customer_sales: CustomerSalesTable
  customer_duplicates: CustomerDuplicatesTable
  customer_merges: CustomerMergesTable
  customer_consents: CustomerConsentsTable
  customer_changes: CustomerChangesTable
  customer_events: CustomerEventsTable
  customer_event_sequencing: CustomerEventSequencingTable
  webhook_endpoints: WebhookEndpointsTable
  webhook_deliveries: WebhookDeliveriesTable
  sales_events: SalesEventsTable
  idempotency_keys: IdempotencyKeysTable
  customer_imports: CustomerImportsTable
  customer_import_rows: CustomerImportRowsTable
  customer_import_errors: CustomerImportErrorsTable
}
