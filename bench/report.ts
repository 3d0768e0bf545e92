import { renderExport, type ExportResult } from './export.js'
import { renderImport, type ImportBenchResult } from './import.js'
import { renderOverload, type OverloadResult } from './overload.js'
import { renderOutbox, type OutboxResult } from './outbox.js'
import { renderDeliveries, type DeliveryResult } from './deliveries.js'

export interface ScenarioResult {
  scenario: string
  rps: number
  p50: number
  p99: number
  non2xx: number
  statusCodes: Record<string, number>
  peakRssMb: number
  raw?: { rps: number; p50: number; p99: number; errors: number }
  target?: { rps: number; p99?: number }
  totalsExact?: boolean
}

export interface Report {
  date: string
  machine: { cores: number; node: string }
  settings: {
    duration: number
    warmup: number
    connections: number
    businessId: number
    customers: number
    sales: number
  }
  peakRssMb: number
  results: ScenarioResult[]
  overload?: OverloadResult
  export?: ExportResult
  import?: ImportBenchResult
  outbox?: OutboxResult
  deliveries?: DeliveryResult
}

function verdict(result: ScenarioResult): string {
  if (!result.target) return ''
  const rpsMet = result.rps >= result.target.rps
  const p99Met = result.target.p99 === undefined || result.p99 <= result.target.p99
  const wanted = `≥ ${result.target.rps}${result.target.p99 ? `, p99 ≤ ${result.target.p99} ms` : ''}`
  return `${rpsMet && p99Met ? 'met' : 'NOT met'} (${wanted})`
}

export function renderMarkdown(report: Report): string {
  const rows = report.results.map((result) => {
    const ratio = result.raw ? (result.rps / result.raw.rps).toFixed(2) : ''
    const raw = result.raw
      ? `${result.raw.rps.toFixed(0)} (p99 ${result.raw.p99.toFixed(1)} ms)`
      : ''
    const exact = result.totalsExact === undefined ? '' : result.totalsExact ? 'exact' : 'NOT exact'
    return `| ${result.scenario} | ${result.rps.toFixed(0)} | ${result.p50} | ${result.p99} | ${result.non2xx} | ${raw} | ${ratio} | ${result.peakRssMb} | ${verdict(result)} ${exact} |`
  })
  return [
    `# Benchmark ${report.date}`,
    '',
    `${report.machine.cores} cores, Node ${report.machine.node}; business ${report.settings.businessId} with ${report.settings.customers} customers and ${report.settings.sales} sales; ${report.settings.connections} connections, ${report.settings.duration} s per scenario after ${report.settings.warmup} s of warm-up. Peak RSS of the service: ${report.peakRssMb} MB.`,
    '',
    ...(rows.length === 0
      ? []
      : [
          '| scenario | req/s | p50 ms | p99 ms | non-2xx | raw SQL req/s | API ÷ raw | RSS MB | target |',
          '|---|---|---|---|---|---|---|---|---|',
          ...rows,
          '',
        ]),
    ...(report.export ? [renderExport(report.export)] : []),
    ...(report.import ? [renderImport(report.import)] : []),
    ...(report.outbox ? [renderOutbox(report.outbox)] : []),
    ...(report.deliveries ? [renderDeliveries(report.deliveries)] : []),
    ...(report.overload ? [renderOverload(report.overload)] : []),
  ].join('\n')
}
