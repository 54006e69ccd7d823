/**
 * Following one job: its past events from `GET /v1/history`, then its live events on `job:{id}`
 * from exactly where the history ended, and its record from `GET /v1/jobs/:id`, folded into one
 * snapshot (status, progress, logs, result, error). The record is read once the stream is open, so
 * no change falls between the two; events newer than the record win.
 */
import { TidingsClient, type ClientOptions, type ClientState } from './client.js'
import { parseJson } from './transport.js'
import type { TidingsEvent } from './types.js'

/** Default number of events a {@link JobFollower} keeps. */
export const DEFAULT_JOB_EVENTS = 500

/** A job's status (see docs/jobs.md#records). */
export type JobStatus = 'delayed' | 'queued' | 'running' | 'retrying' | 'succeeded' | 'failed' | 'cancelled'

const FINAL_EVENTS: readonly string[] = ['job.succeeded', 'job.failed', 'job.cancelled']

/** Statuses a job does not leave unless retried. */
export const FINISHED_JOB_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'cancelled']

/** A job's progress. */
export interface JobProgressView {
  readonly current: number
  readonly total: number | null
  readonly percent: number | null
  readonly message: string | null
}

/** One `job.log` line. */
export interface JobLogLine {
  readonly level: string
  readonly message: string
  readonly at: string
}

/** What a {@link JobFollower} knows about its job. */
export interface JobView {
  readonly id: string
  /** Null until the first event or the record arrives. */
  readonly status: JobStatus | null
  readonly name: string | null
  readonly attempt: number | null
  readonly progress: JobProgressView | null
  readonly result: unknown
  readonly error: { readonly message: string; readonly code: string | null } | null
  readonly logs: readonly JobLogLine[]
  /** The job's events, oldest first. */
  readonly events: readonly TidingsEvent[]
  /** The record as `GET /v1/jobs/:id` returned it, or null. */
  readonly record: Readonly<Record<string, unknown>> | null
  /** The stream's state. */
  readonly connection: ClientState
  /** Why the job could not be read (`TIDINGS_ERR_JOB_NOT_FOUND`), or null. */
  readonly failure: string | null
}

/** Options of {@link JobFollower}. */
export interface JobFollowOptions extends Omit<ClientOptions, 'channels' | 'since'> {
  /** Read the job's past events first. @defaultValue true */
  history?: boolean
  /** @defaultValue {@link DEFAULT_JOB_EVENTS} */
  maxEvents?: number
}

type Fetch = (url: string, init: { headers: Record<string, string> }) => Promise<{ ok: boolean; status: number; text(): Promise<string> }>

/** One job, live. `start()` it; `stop()` when done. */
export class JobFollower {
  readonly id: string
  readonly #options: JobFollowOptions
  readonly #listeners = new Set<() => void>()
  readonly #fetch: Fetch
  readonly #seen = new Set<string>()
  #client: TidingsClient | null = null
  #view: JobView
  #recordAt = ''
  #stopped = false

  constructor(id: string, options: JobFollowOptions = {}) {
    this.id = id
    this.#options = options
    const f = (options.fetch ?? (globalThis as { fetch?: unknown }).fetch) as Fetch | undefined
    if (f === undefined) throw new TypeError('no fetch here: pass options.fetch')
    this.#fetch = options.fetch === undefined ? f.bind(globalThis) : f
    this.#view = { id, status: null, name: null, attempt: null, progress: null, result: null, error: null, logs: [], events: [], record: null, connection: 'disconnected', failure: null }
  }

  /** The current view (the same object until something changes). */
  readonly getSnapshot = (): JobView => this.#view

  /** Calls `listener` after each change; returns its removal. */
  readonly subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Reads the history, then follows the job. Never rejects: a failure shows in `failure`. */
  async start(): Promise<void> {
    try {
      await this.#start()
    } catch (err) {
      this.#fail(err)
    }
  }

  #fail(err: unknown): void {
    this.#view = { ...this.#view, failure: err instanceof Error ? err.message : String(err) }
    this.#emit()
  }

  async #start(): Promise<void> {
    let since: string | null = null
    if (this.#options.history !== false) {
      const page = await this.#get(`/v1/history?channel=${encodeURIComponent(`job:${this.id}`)}&limit=1000`)
      if (this.#stopped) return
      if (page !== null) {
        const { events, next } = page as { events: { event: TidingsEvent }[]; next: string | null }
        for (const e of events) this.#apply(e.event)
        since = next
        this.#emit()
      }
    }
    const client = new TidingsClient({ ...this.#options, channels: [`job:${this.id}`], since })
    this.#client = client
    client.on('state', ({ newState }) => {
      this.#view = { ...this.#view, connection: newState }
      this.#emit()
      if (newState === 'connected') void this.#loadRecord().catch((err: unknown) => this.#fail(err))
    })
    client.on('event', (event) => {
      this.#apply(event)
      this.#emit()
      // The final record carries what events do not: durations, the finish time.
      if (event.job?.id === this.id && FINAL_EVENTS.includes(event.type)) void this.#loadRecord().catch((err: unknown) => this.#fail(err))
    })
    client.on('reset', () => void this.#loadRecord().catch((err: unknown) => this.#fail(err)))
    client.connect()
  }

  /** Stops following. */
  stop(): void {
    this.#stopped = true
    this.#client?.disconnect()
  }

  async #loadRecord(): Promise<void> {
    const record = (await this.#get(`/v1/jobs/${encodeURIComponent(this.id)}`)) as Record<string, unknown> | null
    if (record === null || this.#stopped) return
    const at = typeof record.updatedAt === 'string' ? record.updatedAt : ''
    this.#recordAt = at
    const newer = this.#view.events.some((e) => e.occurredAt > at)
    const err = record.error as { message?: string; code?: string | null } | null
    this.#view = {
      ...this.#view,
      record,
      name: typeof record.name === 'string' ? record.name : this.#view.name,
      ...(newer
        ? {}
        : {
            status: record.status as JobStatus,
            attempt: typeof record.attempts === 'number' ? record.attempts : this.#view.attempt,
            progress: (record.progress as JobProgressView | null) ?? this.#view.progress,
            result: record.result ?? this.#view.result,
            error: err ? { message: err.message ?? '', code: err.code ?? null } : this.#view.error,
          }),
    }
    this.#emit()
  }

  /** Folds one event into the view. */
  #apply(event: TidingsEvent): void {
    if (this.#seen.has(event.id) || event.job?.id !== this.id) return
    this.#seen.add(event.id)
    const max = this.#options.maxEvents ?? DEFAULT_JOB_EVENTS
    const events = [...this.#view.events, event].slice(-max)
    const v: { -readonly [K in keyof JobView]: JobView[K] } = { ...this.#view, events, name: event.job.name, attempt: event.job.attempt }
    const d = (event.data ?? {}) as Record<string, unknown>
    const stale = this.#recordAt !== '' && event.occurredAt < this.#recordAt
    switch (event.type) {
      case 'job.queued':
        if (!stale) v.status = d.delayed === true ? 'delayed' : 'queued'
        break
      case 'job.started':
        if (!stale) v.status = 'running'
        break
      case 'job.progress':
        if (!stale) v.progress = { current: Number(d.current), total: (d.total as number | null) ?? null, percent: (d.percent as number | null) ?? null, message: (d.message as string | null) ?? null }
        break
      case 'job.log':
        v.logs = [...v.logs, { level: String(d.level ?? 'info'), message: String(d.message ?? ''), at: event.occurredAt }]
        break
      case 'job.retrying':
        if (!stale) v.status = 'retrying'
        break
      case 'job.succeeded':
        v.status = 'succeeded'
        v.result = d.result ?? null
        break
      case 'job.failed': {
        const e = d.error as { message?: string; code?: string | null } | undefined
        v.status = 'failed'
        v.error = { message: e?.message ?? 'failed', code: e?.code ?? null }
        break
      }
      case 'job.cancelled':
        v.status = 'cancelled'
        break
      default:
    }
    this.#view = v
  }

  async #get(path: string): Promise<unknown> {
    const token = this.#options.getToken ? await this.#options.getToken({ reason: 'connect' }) : (this.#options.token ?? null)
    const base = (this.#options.url ?? '').replace(/\/+$/, '')
    const res = await this.#fetch(`${base}${path}`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } })
    const body = parseJson(await res.text()) as { error?: { code?: string } } | null
    if (!res.ok) {
      this.#view = { ...this.#view, failure: body?.error?.code ?? `HTTP ${res.status}` }
      this.#emit()
      return null
    }
    return body
  }

  #emit(): void {
    for (const fn of [...this.#listeners]) fn()
  }
}
