/**
 * Cron schedules (seed 002's ScheduledJob) on croner. Schedules live in the job queue's store, so
 * every process sees the same set; each running scheduler sets a timer for each enabled schedule's
 * next tick, and when it fires, claims that tick in the store. The claim is atomic (it checks that
 * the tick is later than the last one fired, and enqueues the job in the same step), so however
 * many schedulers run, each tick fires exactly once. A tick is identified by its time, computed
 * from the pattern, never by when a timer happened to fire; the job also carries the dedup key
 * `schedule:{name}:{tick}`.
 */
import { Cron } from 'croner'
import { TidingsError } from '../errors.js'
import type { JobQueue, ScheduleRecord } from '../job-queue.js'
import type { Logger } from '../logger.js'
import { SCHEDULE_CHANGED, type ControlFeed } from './control.js'
import type { Jobs } from './jobs.js'
import type { JobEvents } from './lifecycle.js'
import type { JobRegistry } from './registry.js'

/** Default interval at which a scheduler reloads schedules from the store (control events make changes show up sooner). */
export const DEFAULT_SCHEDULE_SYNC_MS = 10_000
/** A tick missed by more than this (the process was busy or asleep) is skipped rather than fired late. */
export const SCHEDULE_LATE_MS = 1_000
/** Schedule names: safe in URLs and in dedup keys. */
export const SCHEDULE_NAME_RE = /^[A-Za-z0-9._:-]{1,128}$/
/** The longest a Node timer can wait; longer waits are split. */
const MAX_TIMER_MS = 2 ** 31 - 1

/** A schedule as the application or an API caller describes it. */
export interface ScheduleDefinition {
  /** 1–128 characters of `[A-Za-z0-9._:-]`. */
  name: string
  /** A croner pattern: 5 fields (`0 9 * * 1-5`), or 6 with seconds first (`*\/10 * * * * *`). */
  cron: string
  /** The job to enqueue at each tick; this process must know its definition. */
  job: string
  /** The job's payload, checked against its schema. @defaultValue `{}` */
  payload?: unknown
  /** IANA zone the pattern is read in. @defaultValue UTC */
  timezone?: string | null
  /** @defaultValue true */
  enabled?: boolean
}

/** A change to a schedule; absent fields keep their value. */
export type SchedulePatch = Partial<Omit<ScheduleDefinition, 'name'>>

/** Settings of a scheduler. */
export interface SchedulerOptions {
  /** @defaultValue {@link DEFAULT_SCHEDULE_SYNC_MS} */
  syncMs?: number
}

/** What this scheduler did: ticks it fired, and ticks another process (or an earlier run) had already claimed. */
export interface SchedulerStats {
  readonly fired: number
  readonly skipped: number
}

/** What a scheduler needs from its Tidings instance. */
export interface SchedulerDeps {
  readonly queue: JobQueue
  readonly registry: JobRegistry
  readonly jobs: Jobs
  readonly events: JobEvents
  readonly control: ControlFeed
  readonly logger: Logger
}

interface Armed {
  readonly revision: number
  timer: NodeJS.Timeout
}

/** Keeps schedules (CRUD, at any time) and, once started, fires them. */
export class Scheduler {
  readonly #deps: SchedulerDeps
  readonly #syncMs: number
  readonly #armed = new Map<string, Armed>()
  readonly #inflight = new Set<Promise<void>>()
  #started = false
  #syncTimer: NodeJS.Timeout | undefined
  #offChanged: (() => void) | undefined
  #syncing: Promise<void> | undefined
  #syncAgain = false
  #fired = 0
  #skipped = 0

  constructor(deps: SchedulerDeps, options: SchedulerOptions = {}) {
    this.#deps = deps
    this.#syncMs = options.syncMs ?? DEFAULT_SCHEDULE_SYNC_MS
    if (!Number.isFinite(this.#syncMs) || this.#syncMs < 10) {
      throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: 'scheduler.syncMs must be at least 10 ms' })
    }
  }

  /** True once started and until stopped. */
  get started(): boolean {
    return this.#started
  }

  /** Ticks this scheduler fired and skipped. */
  get stats(): SchedulerStats {
    return { fired: this.#fired, skipped: this.#skipped }
  }

  /**
   * Creates or replaces a schedule (code-defined schedules call this at start), keeping when it last
   * ran. Throws `TIDINGS_ERR_INVALID_SCHEDULE`, `TIDINGS_ERR_UNKNOWN_JOB` or `TIDINGS_ERR_INVALID_PAYLOAD`.
   */
  async put(definition: ScheduleDefinition): Promise<ScheduleRecord> {
    const s = this.#validate(definition)
    const record = await this.#deps.queue.putSchedule({ ...s, nextRunAt: s.enabled ? nextTick(s.cron, s.timezone, new Date()) : null })
    await this.#changed(s.name)
    return record
  }

  /** Creates a schedule; throws `TIDINGS_ERR_SCHEDULE_EXISTS` when the name is taken. */
  async create(definition: ScheduleDefinition): Promise<ScheduleRecord> {
    this.#validate(definition)
    if ((await this.#deps.queue.getSchedule(definition.name)) !== null) {
      throw new TidingsError('TIDINGS_ERR_SCHEDULE_EXISTS', { detail: `schedule ${definition.name}` })
    }
    return this.put(definition)
  }

  /** Changes a schedule; throws `TIDINGS_ERR_SCHEDULE_NOT_FOUND`. */
  async update(name: string, patch: SchedulePatch): Promise<ScheduleRecord> {
    const old = await this.#deps.queue.getSchedule(name)
    if (old === null) throw new TidingsError('TIDINGS_ERR_SCHEDULE_NOT_FOUND', { detail: `schedule ${name}` })
    return this.put({
      name,
      cron: patch.cron ?? old.cron,
      job: patch.job ?? old.job,
      payload: 'payload' in patch ? patch.payload : old.payload,
      timezone: patch.timezone === undefined ? old.timezone : patch.timezone,
      enabled: patch.enabled ?? old.enabled,
    })
  }

  /** Starts firing a schedule again. */
  enable(name: string): Promise<ScheduleRecord> {
    return this.update(name, { enabled: true })
  }

  /** Stops firing a schedule, keeping it. */
  disable(name: string): Promise<ScheduleRecord> {
    return this.update(name, { enabled: false })
  }

  /** Deletes a schedule; throws `TIDINGS_ERR_SCHEDULE_NOT_FOUND`. */
  async remove(name: string): Promise<void> {
    if (!(await this.#deps.queue.deleteSchedule(name))) throw new TidingsError('TIDINGS_ERR_SCHEDULE_NOT_FOUND', { detail: `schedule ${name}` })
    await this.#changed(name)
  }

  /** One schedule, or null. */
  get(name: string): Promise<ScheduleRecord | null> {
    return this.#deps.queue.getSchedule(name)
  }

  /** Every schedule, by name. */
  list(): Promise<ScheduleRecord[]> {
    return this.#deps.queue.listSchedules()
  }

  /** Loads the schedules and starts firing them; follows changes from every process. Idempotent. */
  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    this.#offChanged = this.#deps.control.on(SCHEDULE_CHANGED, () => void this.#sync())
    this.#syncTimer = setInterval(() => void this.#sync(), this.#syncMs)
    this.#syncTimer.unref()
    await this.#sync()
  }

  /** Stops firing; waits for ticks being claimed. Schedules stay in the store. */
  async stop(): Promise<void> {
    if (!this.#started) return
    this.#started = false
    clearInterval(this.#syncTimer)
    this.#offChanged?.()
    for (const a of this.#armed.values()) clearTimeout(a.timer)
    this.#armed.clear()
    await this.#syncing
    await Promise.allSettled([...this.#inflight])
  }

  #validate(d: ScheduleDefinition): Required<ScheduleDefinition> & { timezone: string | null } {
    const bad = (detail: string): never => {
      throw new TidingsError('TIDINGS_ERR_INVALID_SCHEDULE', { detail })
    }
    if (typeof d.name !== 'string' || !SCHEDULE_NAME_RE.test(d.name)) bad('name must be 1–128 characters of [A-Za-z0-9._:-]')
    if (typeof d.cron !== 'string') bad('cron must be a string')
    const timezone = d.timezone ?? null
    if (timezone !== null && typeof timezone !== 'string') bad('timezone must be a string')
    if (d.enabled !== undefined && typeof d.enabled !== 'boolean') bad('enabled must be true or false')
    try {
      if (nextTick(d.cron, timezone, new Date()) === null) bad(`cron ${JSON.stringify(d.cron)} never fires`)
    } catch (err) {
      if (err instanceof TidingsError) throw err
      bad(`cron ${JSON.stringify(d.cron)}${timezone === null ? '' : ` in ${timezone}`}: ${(err as Error).message}`)
    }
    if (typeof d.job !== 'string') throw new TidingsError('TIDINGS_ERR_UNKNOWN_JOB', { detail: 'job must be the name of a defined job' })
    const payload = d.payload === undefined ? {} : d.payload
    this.#deps.jobs.prepare(this.#deps.registry.require(d.job), payload)
    return { name: d.name, cron: d.cron.trim(), job: d.job, payload, timezone, enabled: d.enabled ?? true }
  }

  async #changed(name: string): Promise<void> {
    try {
      await this.#deps.control.send(SCHEDULE_CHANGED, { name })
    } catch (err) {
      this.#deps.logger.warn({ err, schedule: name }, 'could not announce a schedule change; other processes pick it up at their next sync')
    }
    if (this.#started) await this.#sync()
  }

  /** Reloads every schedule from the store and (re)arms the timers whose schedule changed. */
  #sync(): Promise<void> {
    if (this.#syncing !== undefined) {
      this.#syncAgain = true
      return this.#syncing
    }
    this.#syncing = (async () => {
      do {
        this.#syncAgain = false
        try {
          const schedules = await this.#deps.queue.listSchedules()
          if (!this.#started) return
          const seen = new Set<string>()
          for (const s of schedules) {
            seen.add(s.name)
            if (!s.enabled) this.#disarm(s.name)
            else if (this.#armed.get(s.name)?.revision !== s.revision) this.#arm(s)
          }
          for (const name of [...this.#armed.keys()]) if (!seen.has(name)) this.#disarm(name)
        } catch (err) {
          this.#deps.logger.warn({ err }, 'could not load schedules; trying again at the next sync')
        }
      } while (this.#syncAgain && this.#started)
    })().finally(() => (this.#syncing = undefined))
    return this.#syncing
  }

  #disarm(name: string): void {
    const a = this.#armed.get(name)
    if (a !== undefined) clearTimeout(a.timer)
    this.#armed.delete(name)
  }

  #arm(s: ScheduleRecord): void {
    this.#disarm(s.name)
    let cron: Cron
    try {
      cron = makeCron(s.cron, s.timezone)
    } catch (err) {
      this.#deps.logger.error({ err, schedule: s.name }, 'stored schedule has an invalid pattern; not firing it')
      return
    }
    const tick = cron.nextRun(new Date())
    if (tick !== null) this.#setTimer(s, cron, tick)
  }

  #setTimer(s: ScheduleRecord, cron: Cron, tick: Date): void {
    const delay = tick.getTime() - Date.now()
    const timer =
      delay > MAX_TIMER_MS
        ? setTimeout(() => this.#setTimer(s, cron, tick), MAX_TIMER_MS)
        : setTimeout(() => this.#fire(s, cron, tick), Math.max(0, delay))
    const armed = this.#armed.get(s.name)
    if (armed !== undefined && armed.revision === s.revision) armed.timer = timer
    else this.#armed.set(s.name, { revision: s.revision, timer })
  }

  #fire(s: ScheduleRecord, cron: Cron, tick: Date): void {
    if (!this.#started || this.#armed.get(s.name)?.revision !== s.revision) return
    const now = Date.now()
    let next = cron.nextRun(tick)
    if (next !== null && next.getTime() < now - SCHEDULE_LATE_MS) next = cron.nextRun(new Date(now))
    if (next === null) this.#armed.delete(s.name)
    else this.#setTimer(s, cron, next)
    const claim = this.#claim(s, tick, next)
    this.#inflight.add(claim)
    void claim.finally(() => this.#inflight.delete(claim))
  }

  async #claim(s: ScheduleRecord, tick: Date, next: Date | null): Promise<void> {
    const definition = this.#deps.registry.get(s.job)
    // A process that does not know the job leaves the tick to one that does.
    if (definition === undefined) return
    try {
      const job = this.#deps.jobs.prepare(definition, s.payload, { key: `schedule:${s.name}:${tick.toISOString()}` })
      const record = await this.#deps.queue.claimScheduleTick(s.name, s.revision, tick, next, job)
      if (record === null) {
        this.#skipped++
        return
      }
      this.#fired++
      await this.#deps.events.queued(record, 'enqueued', s.name)
    } catch (err) {
      this.#deps.logger.error({ err, schedule: s.name, tick: tick.toISOString() }, 'schedule tick failed')
    }
  }
}

/** A croner instance that only computes times (this module keeps its own timers). */
function makeCron(pattern: string, timezone: string | null): Cron {
  return new Cron(pattern, { paused: true, timezone: timezone ?? 'UTC', mode: '5-or-6-parts' })
}

/** The first tick after `from`, or null when the pattern never fires again. Throws croner's errors. */
export function nextTick(pattern: string, timezone: string | null, from: Date): Date | null {
  return makeCron(pattern, timezone).nextRun(from)
}
