import type { ImportRow } from '../db/customer-imports.js'
import type { Import } from '../generated/schemas/Import.js'
import type { Consent } from '../generated/schemas/Consent.js'
import type { Customer } from '../generated/schemas/Customer.js'
import type { Event } from '../generated/schemas/Event.js'
import type { CustomerAnalytics } from '../generated/schemas/CustomerAnalytics.js'
import type { CustomerMetrics } from '../generated/schemas/CustomerMetrics.js'
import type { RepeatCustomer } from '../generated/schemas/RepeatCustomer.js'
import type { Sale } from '../generated/schemas/Sale.js'
import type { Note } from '../generated/schemas/Note.js'
import type { Preferences } from '../generated/schemas/Preferences.js'
import type { PurchaseHistory } from '../generated/schemas/PurchaseHistory.js'
import type { CustomerRow } from '../db/customers.js'
import type { EventRow } from '../db/customer-events.js'
import type { DeliveryRow } from '../db/webhook-deliveries.js'
import type { EndpointRow } from '../db/webhook-endpoints.js'
import type { WebhookDelivery } from '../generated/schemas/WebhookDelivery.js'
import type { WebhookEndpoint } from '../generated/schemas/WebhookEndpoint.js'
import type { ConsentRow } from '../db/customer-consents.js'
import type { NoteRow } from '../db/customer-notes.js'
import type { PreferencesRow } from '../db/customer-preferences.js'
import type {
  customerAnalytics,
  MetricsRow,
  PurchaseHistoryRow,
  RepeatCustomerRow,
} from '../db/customer-purchase-history.js'
import type { SaleRow } from '../db/customer-sales.js'
import type { RepeatFrequency } from '../db/database.js'
import { isZero } from '../lib/money.js'

const DAY_MS = 24 * 60 * 60 * 1000

const iso = (value: Date): string => value.toISOString()
const isoOrNull = (value: Date | null): string | null => (value ? iso(value) : null)

export function toCustomer(row: Omit<CustomerRow, 'phone_sha256'>): Customer {
  return {
    id: row.id,
    business_id: row.business_id,
    name: row.name,
    phone: row.phone,
    email: row.email,
    address: row.address,
    customer_type: row.customer_type,
    is_active: row.is_active,
    prefer_sms: row.prefer_sms,
    prefer_email: row.prefer_email,
    prefer_call: row.prefer_call,
    version: row.version,
    merged_into: row.merged_into,
    erased_at: row.erased_at === null ? null : iso(row.erased_at),
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
  }
}

/** `data` is rendered by the database (customer_event_json) in this module's shape. */
export function toEvent(row: EventRow): Event {
  return {
    id: row.id,
    type: row.type,
    business_id: row.business_id,
    customer_id: row.customer_id,
    created_at: iso(row.created_at),
    data: row.data as Event['data'],
  }
}

export function toWebhookEndpoint(row: EndpointRow): WebhookEndpoint {
  return {
    id: row.id,
    url: row.url,
    events: row.events,
    enabled: row.enabled,
    created_at: iso(row.created_at),
  }
}

export function toWebhookDelivery(row: DeliveryRow): WebhookDelivery {
  return {
    event_id: row.event_id,
    attempt: row.attempt,
    status_code: row.status_code,
    error: row.error,
    duration_ms: row.duration_ms,
    at: iso(row.at),
  }
}

export function toNote(row: NoteRow): Note {
  return {
    id: row.id,
    customer_id: row.customer_id,
    business_id: row.business_id,
    note_type: row.note_type,
    content: row.content,
    created_by: row.created_by,
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
  }
}

export function toConsent(row: ConsentRow): Consent {
  return {
    id: row.id,
    customer_id: row.customer_id,
    business_id: row.business_id,
    channel: row.channel,
    purpose: row.purpose,
    status: row.status,
    source: row.source,
    evidence: row.evidence,
    actor: row.actor,
    request_id: row.request_id,
    recorded_at: iso(row.recorded_at),
  }
}

/** `version` is the customer's: preferences share it. */
export function toPreferences(row: PreferencesRow & { version: number }): Preferences {
  return {
    id: row.id,
    customer_id: row.customer_id,
    business_id: row.business_id,
    favorite_products: row.favorite_products,
    preferred_payment: row.preferred_payment,
    average_spend: row.average_spend,
    best_contact_time: row.best_contact_time,
    do_not_contact: row.do_not_contact,
    can_receive_offers: row.can_receive_offers,
    can_receive_loyalty: row.can_receive_loyalty,
    version: row.version,
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
  }
}

/** Whole days since the last purchase, computed at read so it never goes stale. */
export function daysSince(last: Date | null, now = new Date()): number | null {
  if (!last) return null
  return Math.max(0, Math.floor((now.getTime() - last.getTime()) / DAY_MS))
}

/** SPEC classifies loyalty by the repeat-frequency rule: the tier is the customer's frequency. */
export const loyaltyTier = (repeatFrequency: RepeatFrequency): RepeatFrequency => repeatFrequency

export function toPurchaseHistory(
  row: Omit<PurchaseHistoryRow, 'is_active' | 'merge_epoch'>,
  now = new Date(),
): PurchaseHistory {
  return {
    id: row.id,
    customer_id: row.customer_id,
    business_id: row.business_id,
    total_purchases: row.total_purchases,
    total_spent: row.total_spent,
    total_items_bought: row.total_items_bought,
    avg_transaction_value: row.avg_transaction_value,
    first_purchase_date: isoOrNull(row.first_purchase_date),
    last_purchase_date: isoOrNull(row.last_purchase_date),
    days_since_last_purchase: daysSince(row.last_purchase_date, now),
    is_repeat_customer: row.is_repeat_customer,
    repeat_frequency: row.repeat_frequency,
    customer_lifetime_value: row.customer_lifetime_value,
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
  }
}

export function toMetrics(row: MetricsRow, now = new Date()): CustomerMetrics {
  return {
    customer_id: row.customer_id,
    name: row.name,
    customer_type: row.customer_type,
    created_at: iso(row.created_at),
    total_purchases: row.total_purchases,
    total_spent: row.total_spent,
    avg_transaction_value: row.avg_transaction_value,
    total_items_bought: row.total_items_bought,
    first_purchase_date: isoOrNull(row.first_purchase_date),
    last_purchase_date: isoOrNull(row.last_purchase_date),
    days_since_last_purchase: daysSince(row.last_purchase_date, now),
    is_repeat_customer: row.is_repeat_customer,
    repeat_frequency: row.repeat_frequency,
    loyalty_tier: loyaltyTier(row.repeat_frequency),
    customer_lifetime_value: row.customer_lifetime_value,
    preferred_payment: row.preferred_payment,
    favorite_products: row.favorite_products,
    can_receive_offers: row.can_receive_offers,
    can_receive_loyalty: row.can_receive_loyalty,
    do_not_contact: row.do_not_contact,
    phone: row.phone,
    email: row.email,
    prefer_sms: row.prefer_sms,
    prefer_email: row.prefer_email,
    prefer_call: row.prefer_call,
  }
}

/** A completed sale as history shows it; `voided` wins over `refunded`. */
export function toSale(row: SaleRow): Sale {
  if (row.total_amount === null || row.completed_at === null) {
    throw new Error(`sale ${row.sale_id} has no completion and cannot be shown`)
  }
  const status = row.voided ? 'voided' : isZero(row.refunded_amount) ? 'completed' : 'refunded'
  return {
    sale_id: row.sale_id,
    total_amount: row.total_amount,
    refunded_amount: row.refunded_amount,
    // numeric(12,3) has at most 12 significant digits: exact as a JSON number (3, 2.5).
    items_count: Number(row.items_count ?? '0'),
    payment_method: row.payment_method,
    status,
    completed_at: iso(row.completed_at),
  }
}

export function toRepeatCustomer(row: RepeatCustomerRow): RepeatCustomer {
  return {
    ...toCustomer(row),
    total_purchases: row.total_purchases,
    total_spent: row.total_spent,
    avg_transaction_value: row.avg_transaction_value,
    last_purchase_date: isoOrNull(row.last_purchase_date),
    repeat_frequency: row.repeat_frequency,
    customer_lifetime_value: row.customer_lifetime_value,
  }
}

type AnalyticsRow = Awaited<ReturnType<typeof customerAnalytics>>

/** Percent with two decimals, computed on integers so 1 of 3 is exactly 33.33. */
const percent = (part: number, whole: number): number =>
  whole === 0 ? 0 : Math.round((part * 10000) / whole) / 100

export function toAnalytics(row: AnalyticsRow): CustomerAnalytics {
  const active = row.active_customers
  const repeat = row.repeat_customers
  return {
    total_customers: row.total_customers,
    active_customers: active,
    repeat_customers: repeat,
    repeat_customer_rate: percent(repeat, active),
    average_lifetime_value: row.average_lifetime_value,
    frequency_distribution: {
      new: row.new,
      one_time: row.one_time,
      occasional: row.occasional,
      regular: row.regular,
      frequent: row.frequent,
    },
  }
}

/** An import as the API shows it. */
export function toImport(row: ImportRow): Import {
  return {
    id: row.id,
    status: row.status,
    mode: row.mode,
    dry_run: row.dry_run,
    rows: row.rows,
    processed: row.processed,
    created: row.created,
    updated: row.updated,
    skipped: row.skipped,
    failed_rows: row.failed_rows,
    created_at: iso(row.created_at),
    started_at: isoOrNull(row.started_at),
    finished_at: isoOrNull(row.finished_at),
  }
}
