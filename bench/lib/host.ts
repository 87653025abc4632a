// What the machine did during a run (Linux /proc): busy CPU of the whole host, CPU of the bench
// database's PostgreSQL (only when it runs on this host, as the embedded one does), CPU of every
// other process (work that competes with the bench for the cores), and the WAL written.
import { readdir, readFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import type pg from 'pg'

const TICK_MS = 10 // USER_HZ is 100 on Linux

export interface HostSnapshot {
  t: number
  busyMs: number
  totalMs: number
  /** time the hypervisor gave this machine's CPUs to someone else (a VM's "steal") */
  stealMs: number
  postgresCpuMs: number | null
  otherCpuMs: number | null
}

async function hostCpu(): Promise<{ busyMs: number; totalMs: number; stealMs: number }> {
  try {
    const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!
    // user nice system idle iowait irq softirq steal
    const f = line.trim().split(/\s+/).slice(1).map(Number)
    const idle = (f[3] ?? 0) + (f[4] ?? 0)
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0)
    return { busyMs: (total - idle) * TICK_MS, totalMs: total * TICK_MS, stealMs: (f[7] ?? 0) * TICK_MS }
  } catch {
    return { busyMs: NaN, totalMs: NaN, stealMs: NaN }
  }
}

/**
 * The bench database's postmaster on this host, found through a backend of ours (its parent);
 * null when the server is elsewhere. Other PostgreSQL servers on the machine (a test suite's,
 * say) are not counted as the bench's.
 */
export async function findPostmaster(db: pg.Pool): Promise<number | null> {
  try {
    const backend = (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid
    const stat = await readFile(`/proc/${backend}/stat`, 'utf8')
    const close = stat.lastIndexOf(')')
    if (stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') return null
    return Number(stat.slice(close + 2).split(' ')[1])
  } catch {
    return null
  }
}

interface ProcStat {
  ppid: number
  /** utime + stime + cutime + cstime, in ticks (a reaped child's time moves to its parent) */
  ticks: number
}

async function processTable(): Promise<Map<number, ProcStat>> {
  const table = new Map<number, ProcStat>()
  let pids: string[]
  try {
    pids = (await readdir('/proc')).filter((p) => /^\d+$/.test(p))
  } catch {
    return table
  }
  await Promise.all(
    pids.map(async (pid) => {
      try {
        const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
        // f[0] is field 3 (state), f[1] the parent; utime, stime, cutime, cstime are fields 14-17.
        table.set(Number(pid), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) })
      } catch {
        // the process ended meanwhile
      }
    }),
  )
  return table
}

/** pids in the process trees under `roots` */
function descendants(table: Map<number, ProcStat>, roots: number[]): Set<number> {
  const children = new Map<number, number[]>()
  for (const [pid, p] of table) {
    const list = children.get(p.ppid)
    if (list) list.push(pid)
    else children.set(p.ppid, [pid])
  }
  const out = new Set<number>()
  const stack = roots.filter((r) => table.has(r))
  while (stack.length) {
    const pid = stack.pop()!
    if (out.has(pid)) continue
    out.add(pid)
    stack.push(...(children.get(pid) ?? []))
  }
  return out
}

/**
 * CPU of the host; of the bench database's PostgreSQL (its postmaster's tree); and of every
 * process that is neither the bench (this process and its children), nor that PostgreSQL, nor
 * a kernel thread. Summing cutime too keeps processes that end between two snapshots counted:
 * their time reappears in whichever ancestor reaped them.
 */
export async function hostSnapshot(postmaster: number | null = null): Promise<HostSnapshot> {
  const [h, table] = await Promise.all([hostCpu(), processTable()])
  const pgTree = postmaster === null ? null : descendants(table, [postmaster])
  const ours = descendants(table, postmaster === null ? [process.pid] : [process.pid, postmaster])
  const kernel = descendants(table, [2])
  kernel.add(2)
  let pgTicks = 0
  let otherTicks = 0
  for (const [pid, p] of table) {
    if (pgTree?.has(pid)) pgTicks += p.ticks
    else if (!ours.has(pid) && !kernel.has(pid) && p.ppid !== 2) otherTicks += p.ticks
  }
  return {
    t: performance.now(),
    ...h,
    postgresCpuMs: pgTree === null ? null : pgTicks * TICK_MS,
    otherCpuMs: table.size > 0 ? otherTicks * TICK_MS : null,
  }
}

export interface HostDelta {
  /** busy share of all cores, 0..1 */
  hostBusy: number
  /** cores' worth of busy CPU on the whole host */
  hostBusyCores: number
  /** cores' worth of CPU used by the bench database's PostgreSQL */
  postgresCores: number | null
  postgresCpuMs: number | null
  /** cores' worth of CPU used by processes outside the bench and its database */
  otherCores: number | null
  /** cores' worth of CPU time the hypervisor gave to other machines (0 on bare metal) */
  stealCores: number
}

export function hostDelta(a: HostSnapshot, b: HostSnapshot): HostDelta {
  const wallMs = b.t - a.t
  const pgMs = a.postgresCpuMs !== null && b.postgresCpuMs !== null ? b.postgresCpuMs - a.postgresCpuMs : null
  const busy = (b.busyMs - a.busyMs) / (b.totalMs - a.totalMs)
  return {
    hostBusy: busy,
    hostBusyCores: busy * cpus().length,
    postgresCores: pgMs === null ? null : pgMs / wallMs,
    postgresCpuMs: pgMs,
    otherCores: a.otherCpuMs !== null && b.otherCpuMs !== null ? Math.max(0, b.otherCpuMs - a.otherCpuMs) / wallMs : null,
    stealCores: (b.stealMs - a.stealMs) / wallMs,
  }
}

/**
 * WAL position: exact at any instant (pg_stat_database's commit counters are flushed by each
 * backend up to seconds later, so they are not used for per-run figures).
 */
export async function walPosition(db: pg.Pool): Promise<bigint> {
  const r = await db.query<{ wal: string }>(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::text AS wal`)
  return BigInt(r.rows[0]!.wal.split('.')[0]!)
}

export function machine() {
  const c = cpus()
  return { cpus: c.length, cpuModel: c[0]?.model ?? 'unknown' }
}
