import t from 'tap'
import {
  cpuUsageBetween,
  parseProcStat,
  processTicks,
  type CpuSnapshot,
  type PostgresRole,
} from '../../bench/cpu.js'

t.test('a /proc/<pid>/stat line, its command holding spaces and parentheses', async (t) => {
  const line =
    '5905 (postgres: user db 127.0.0.1(5432) idle) S 2210 5905 5905 0 -1 4194368 702048 0 51 0 14100 2444 7 3 20 0 1 0 4085 226836480 3542 18446744073709551615\n'
  t.same(
    parseProcStat(line),
    {
      pid: 5905,
      comm: 'postgres: user db 127.0.0.1(5432) idle',
      ppid: 2210,
      utime: 14100,
      stime: 2444,
    },
    'pid, command, parent, user and system ticks (not the children’s 7 and 3)',
  )
  t.same(
    parseProcStat(
      '2210 (postgres) S 1 2210 2210 0 -1 4194304 4549 267268 0 19 5 10 13738 1732 20 0',
    ),
    { pid: 2210, comm: 'postgres', ppid: 1, utime: 5, stime: 10 },
    'a plain command',
  )
  t.throws(
    () => parseProcStat('garbage'),
    { message: /not a \/proc\/<pid>\/stat line/ },
    'no command',
  )
  t.throws(
    () => parseProcStat('12 (node) S 1'),
    { message: /not a \/proc\/<pid>\/stat line/ },
    'cut short',
  )
})

t.test('this process has used some CPU, a process that does not exist none', async (t) => {
  t.ok(processTicks(process.pid) >= 0, 'this process')
  t.equal(processTicks(2 ** 30), 0, 'no such process')
})

function snapshot(
  at: number,
  process: number,
  bench: number,
  postgres: [number, number, PostgresRole][],
  machine: { busy: number; total: number },
): CpuSnapshot {
  return {
    at,
    process,
    bench,
    postgres: new Map(postgres.map(([pid, ticks, role]) => [pid, { ticks, role }])),
    machine,
  }
}

t.test('CPU per request over a recorded window', async (t) => {
  // 10 s at 100 ticks a second on 2 cores: 2,000 ticks of machine time.
  const start = snapshot(
    1_000,
    5_000,
    800,
    [
      [1, 50, 'server'], // the postmaster
      [2, 1_000, 'ours'],
      [3, 2_000, 'ours'], // exits in the window: its CPU there is lost
      [4, 300, 'other database'],
    ],
    { busy: 10_000, total: 40_000 },
  )
  const end = snapshot(
    11_000,
    5_600, // 600 ticks: 6 s
    1_100, // autocannon: 300 ticks
    [
      [1, 52, 'server'],
      [2, 1_250, 'ours'],
      [5, 48, 'ours'], // started in the window: counted whole
      [4, 400, 'other database'],
    ],
    { busy: 11_500, total: 42_000 },
  )
  t.same(
    cpuUsageBetween(start, end, 12_000, 100),
    {
      seconds: 10,
      requests: 12_000,
      processSeconds: 6,
      processMsPerRequest: 0.5, // 6,000 ms ÷ 12,000
      postgresSeconds: 3, // 2 + 250 + 48 ticks
      postgresMsPerRequest: 0.25,
      postgresServerSeconds: 0.02, // the postmaster's 2 ticks
      otherDatabasesSeconds: 1,
      benchSeconds: 3,
      elsewhereSeconds: 2, // 1,500 busy − 600 − 300 − 100 − 300 ticks
      machineBusyShare: 0.75,
    },
    'the service, PostgreSQL apart from other databases, the rest of the machine',
  )

  const raw = cpuUsageBetween(start, end, 12_000, 100, true)
  t.equal(raw.benchSeconds, 0, 'the raw SQL floor: the bench is the process, not counted twice')
  t.equal(raw.elsewhereSeconds, 5, 'and the rest of the machine is what is left')

  const none = cpuUsageBetween(start, end, 0, 100)
  t.equal(none.processMsPerRequest, 0, 'no request completed: no division by zero')
  t.equal(none.postgresMsPerRequest, 0, 'nor for PostgreSQL')

  t.equal(cpuUsageBetween(start, end, 12_000, 1_000).processMsPerRequest, 0.05, 'another tick rate')
})
