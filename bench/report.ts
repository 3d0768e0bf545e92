import type { CpuUsage } from './cpu.js'
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
  /** The recorded window's CPU: the service's and PostgreSQL's, per completed request. */
  cpu: CpuUsage
  /** The same SQL through pg directly; its `cpu.process…` is this bench's process. */
  raw?: { rps: number; p50: number; p99: number; errors: number; cpu: CpuUsage }
  target?: { rps: number; p99?: number }
  totalsExact?: boolean
}

export interface Report {
  date: string
  machine: {
    cores: number
    node: string
    /** The PostgreSQL server's version and `shared_buffers`. */
    postgres: { version: string; sharedBuffers: string }
    /** 1-, 5- and 15-minute load averages when the run started and when it ended. */
    loadAverage: { start: number[]; end: number[] }
  }
  settings: {
    duration: number
    warmup: number
    connections: number
    businessId: number
    customers: number
    sales: number
  }
  peakRssMb: number
  /** IDLE_SECONDS with no load after the service started: its background and PostgreSQL's. */
  idleCpu: CpuUsage
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

const perSecond = (cpuSeconds: number, seconds: number) =>
  seconds > 0 ? Math.round((cpuSeconds * 1000) / seconds) : 0

const loadAverage = (values: number[]) => values.map((value) => value.toFixed(2)).join(' ')

export function renderMarkdown(report: Report): string {
  const rows = report.results.map((result) => {
    const ratio = result.raw ? (result.rps / result.raw.rps).toFixed(2) : ''
    const raw = result.raw
      ? `${result.raw.rps.toFixed(0)} (p99 ${result.raw.p99.toFixed(1)} ms)`
      : ''
    const ms = (value: number | undefined) => (value === undefined ? '' : value.toFixed(2))
    const cpu = `${ms(result.cpu.processMsPerRequest)} | ${ms(result.cpu.postgresMsPerRequest)}`
    const rawCpu = `${ms(result.raw?.cpu.processMsPerRequest)} | ${ms(result.raw?.cpu.postgresMsPerRequest)}`
    const elsewhere = (result.cpu.elsewhereSeconds + result.cpu.otherDatabasesSeconds).toFixed(1)
    const exact = result.totalsExact === undefined ? '' : result.totalsExact ? 'exact' : 'NOT exact'
    return `| ${result.scenario} | ${result.rps.toFixed(0)} | ${result.p50} | ${result.p99} | ${result.non2xx} | ${cpu} | ${raw} | ${rawCpu} | ${ratio} | ${elsewhere} | ${result.peakRssMb} | ${verdict(result)} ${exact} |`
  })
  return [
    `# Benchmark ${report.date}`,
    '',
    `${report.machine.cores} cores, Node ${report.machine.node}, PostgreSQL ${report.machine.postgres.version} (shared_buffers ${report.machine.postgres.sharedBuffers}); business ${report.settings.businessId} with ${report.settings.customers} customers and ${report.settings.sales} sales; ${report.settings.connections} connections, ${report.settings.duration} s per scenario after ${report.settings.warmup} s of warm-up. Peak RSS of the service: ${report.peakRssMb} MB. Load average (1, 5, 15 min) ${loadAverage(report.machine.loadAverage.start)} at the start, ${loadAverage(report.machine.loadAverage.end)} at the end. With no load (${report.idleCpu.seconds} s), the service used ${perSecond(report.idleCpu.processSeconds, report.idleCpu.seconds)} ms of CPU a second and PostgreSQL ${perSecond(report.idleCpu.postgresSeconds, report.idleCpu.seconds)} ms (part of every window below).`,
    '',
    'CPU columns: milliseconds of CPU per completed request in the recorded window (webhooks: per event), from /proc (10 ms ticks). "service" is the service process with its worker threads; "PG" every PostgreSQL process of the benchmark database and the server\'s own (walwriter, checkpointer, …); the raw SQL floor\'s "client" is this bench\'s process sending the same SQL through pg. "other load" is the CPU seconds the machine spent in the window on anything else (other databases, other processes; autocannon excluded): the noise beside that row.',
    '',
    ...(rows.length === 0
      ? []
      : [
          '| scenario | req/s | p50 ms | p99 ms | non-2xx | service CPU ms/req | PG CPU ms/req | raw SQL req/s | raw client CPU ms/req | raw PG CPU ms/req | API ÷ raw | other load CPU s | RSS MB | target |',
          '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
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
