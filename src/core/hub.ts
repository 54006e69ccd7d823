/**
 * The hub (DESIGN §1, §3, §8): one tail reader on the log, a channel index, and fan-out to the
 * subscribers this process holds. Each event is serialised once into its SSE frame; the same bytes
 * go to every matching subscriber. A recent window of entries serves short resumes from memory;
 * longer ones page through the engine. The seam between replay and live is closed synchronously:
 * the final part of every replay comes from the window in the same turn that the subscriber joins
 * the index, so nothing is lost or repeated.
 *
 * The fan-out hot path keeps per-connection work to a minimum: the entries of one tail batch on a
 * channel form one {@link HubRun}, whose frames are joined once; every subscriber that follows that
 * channel alone (the common case) gets the run in one call and writes the same bytes, so each
 * connection costs one call and one write per batch whatever the number of events in it.
 */
import { isPattern, patternToRegExp } from './channels.js'
import { canSubscribe, tenantAllows, type Principal } from './auth.js'
import { newEventId, serializeEvent, type TidingsEvent } from './envelope.js'
import { TidingsError, isTidingsError } from './errors.js'
import { formatCursor, type EventLog, type LogEntry } from './event-log.js'
import type { TidingsMetrics } from './metrics.js'
import type { Logger } from './logger.js'

/** Default number of recent entries the hub keeps for resumes served from memory. */
export const DEFAULT_WINDOW_SIZE = 10_000
/** Default page size of replays read from the engine. */
export const DEFAULT_REPLAY_PAGE = 1_000
/** Default longest wait for this hub's tail to reach a cursor another hub issued. */
export const DEFAULT_CATCH_UP_WAIT_MS = 5_000
/** Default pause before the hub retries a failed tail. */
export const DEFAULT_TAIL_RETRY_MS = 500

/** Why a subscriber got `tidings.reset`. */
export type ResetReason = 'truncated' | 'epoch' | 'unknown'

/** One event as the hub holds it: serialised once, shared by every subscriber. */
export interface HubEntry {
  readonly position: string
  /** `<epoch>.<position>`, the SSE `id:`. */
  readonly cursor: string
  readonly event: TidingsEvent
  readonly json: string
  /** `id: …\nevent: …\ndata: …\n\n`, built once. */
  readonly sseFrame: Buffer
  /** The frame without its `event:` line, built on first use by {@link sseMessageFrame}. */
  sseMessage: Buffer | undefined
  /** The WebSocket message, built on first use by {@link wsMessage}. */
  wsMessage: Buffer | undefined
  /** Earlier entries in the window with the same `id` or `key`: the only entries dedup must examine. */
  dupOf: HubEntry[] | null
}

/**
 * The entries of one tail batch on one channel, in log order, shared by every subscriber that
 * follows only that channel. Joined frames are built once, on first use ({@link sseRunFrame}).
 */
export interface HubRun {
  readonly entries: readonly HubEntry[]
  /** The entries' `sseFrame`s joined. */
  sse: Buffer | undefined
  /** The entries' {@link sseMessageFrame}s joined. */
  sseMessage: Buffer | undefined
}

/**
 * A consumer of the hub: an SSE response, a WebSocket, a server-side iterator. The hub calls
 * `deliver` for each matching entry of a batch (or `deliverRun` once for a run of them) and `flush`
 * once at the end of the batch, so a subscriber can join one batch's frames into one write.
 */
export interface HubSubscriber {
  readonly principal: Principal
  /** Channel names and patterns followed; checked against the principal's rights at attach. */
  readonly channels: readonly string[]
  deliver(entry: HubEntry): void
  /**
   * Optional: the same as `deliver` for each entry of the run, in order. Subscribers that have it
   * can hand the run's joined bytes, shared with every other subscriber, to their socket.
   */
  deliverRun?(run: HubRun): void
  /** A `tidings.reset` for this subscriber, already framed. */
  deliverReset(entry: HubEntry): void
  flush(): void
  /** Called when the hub drops the subscriber (hub closing, engine failure). */
  close(reason: string): void
}

/** Hub settings. */
export interface HubOptions {
  /** @defaultValue {@link DEFAULT_WINDOW_SIZE} */
  windowSize?: number
  /** @defaultValue {@link DEFAULT_REPLAY_PAGE} */
  replayPageSize?: number
  /** @defaultValue {@link DEFAULT_CATCH_UP_WAIT_MS} */
  catchUpWaitMs?: number
  /** @defaultValue {@link DEFAULT_TAIL_RETRY_MS} */
  tailRetryMs?: number
}

/** Per-subscriber state the hub keeps. */
interface Attached {
  readonly sub: HubSubscriber
  /** The subscriber has every matching entry after this position (null: since the log's start). */
  since: string | null
  exact: string[]
  patterns: string[]
  patternRes: RegExp[]
  live: boolean
  closed: boolean
  /** Already in the current batch's flush list. */
  dirty: boolean
  /** Follows exactly one channel name and no pattern: served by runs, indexed in `#solo`. */
  readonly solo: boolean
}

interface PatternSlot {
  readonly re: RegExp
  readonly subs: Set<Attached>
}

/** Builds the SSE frame of an entry. Type and cursor are validated upstream and hold no CR/LF. */
export function sseFrame(cursor: string, type: string, json: string): Buffer {
  return Buffer.from(`id: ${cursor}\nevent: ${type}\ndata: ${json}\n\n`)
}

/**
 * The entry as an SSE frame without `event:`, which an EventSource dispatches as `message` (the
 * type stays in the envelope): for clients that cannot name every type in advance. Built once per
 * entry, on first use.
 */
export function sseMessageFrame(entry: HubEntry): Buffer {
  return (entry.sseMessage ??= Buffer.from(`id: ${entry.cursor}\ndata: ${entry.json}\n\n`))
}

/** The entry as a WebSocket text message `{"op":"event","cursor":…,"event":…}`, built once per entry, on first use. */
export function wsMessage(entry: HubEntry): Buffer {
  return (entry.wsMessage ??= wsEventMessage(entry.cursor, entry.json))
}

/** The run's SSE frames joined into one Buffer, built once per run (a lone frame is not copied). */
export function sseRunFrame(run: HubRun): Buffer {
  return (run.sse ??= joinFrames(run.entries, (e) => e.sseFrame))
}

/** The run's {@link sseMessageFrame}s joined into one Buffer, built once per run. */
export function sseRunMessage(run: HubRun): Buffer {
  return (run.sseMessage ??= joinFrames(run.entries, sseMessageFrame))
}

function joinFrames(entries: readonly HubEntry[], frame: (e: HubEntry) => Buffer): Buffer {
  if (entries.length === 1) return frame(entries[0]!)
  let length = 0
  for (const e of entries) length += frame(e).length
  const out = Buffer.allocUnsafe(length)
  let at = 0
  for (const e of entries) at += frame(e).copy(out, at)
  return out
}

function wsEventMessage(cursor: string | null, json: string): Buffer {
  return Buffer.from(`{"op":"event","cursor":${JSON.stringify(cursor)},"event":${json}}`)
}

/** Fans one log out to this process's subscribers. */
export class Hub {
  readonly #log: EventLog
  readonly #metrics: TidingsMetrics
  readonly #logger: Logger
  readonly #windowSize: number
  readonly #replayPage: number
  readonly #catchUpWaitMs: number
  readonly #tailRetryMs: number

  /** Channel → live subscribers following it among other channels or patterns. */
  readonly #exact = new Map<string, Set<Attached>>()
  /** Channel → live subscribers following that channel alone (served by runs). */
  readonly #solo = new Map<string, Set<Attached>>()
  /** Channel → entries of the current batch for `#solo` subscribers; emptied after each batch. */
  readonly #runs = new Map<string, HubEntry[]>()
  readonly #patterns = new Map<string, PatternSlot>()
  readonly #bySub = new Map<HubSubscriber, Attached>()
  /** Ring buffer of recent entries, oldest at #winStart. */
  #window: (HubEntry | undefined)[] = []
  #winStart = 0
  #winCount = 0
  /** Position just before the window's oldest entry; null = the window holds everything since the log began. */
  #windowFloor: string | null = null
  readonly #byId = new Map<string, HubEntry[]>()
  readonly #byKey = new Map<string, HubEntry[]>()
  #dirty: Attached[] = []

  #epoch = ''
  /** Bumped when the hub loses its place (epoch change, truncation); replays started before it are void. */
  #generation = 0
  #lastLoss: ResetReason = 'epoch'
  /** Newest position this hub has fanned out. */
  #position: string | null = null
  #started: Promise<void> | undefined
  #abort = new AbortController()
  #closed = false
  #positionWaiters: { position: string; resolve: (ok: boolean) => void }[] = []

  constructor(log: EventLog, metrics: TidingsMetrics, logger: Logger, options: HubOptions = {}) {
    this.#log = log
    this.#metrics = metrics
    this.#logger = logger
    this.#windowSize = options.windowSize ?? DEFAULT_WINDOW_SIZE
    this.#replayPage = options.replayPageSize ?? DEFAULT_REPLAY_PAGE
    this.#catchUpWaitMs = options.catchUpWaitMs ?? DEFAULT_CATCH_UP_WAIT_MS
    this.#tailRetryMs = options.tailRetryMs ?? DEFAULT_TAIL_RETRY_MS
    if (!Number.isInteger(this.#windowSize) || this.#windowSize < 1) {
      throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: 'hub.windowSize must be a positive integer' })
    }
  }

  /** Starts the tail reader. Idempotent; `attach` calls it. */
  start(): Promise<void> {
    this.#started ??= (async () => {
      await this.#log.ready()
      this.#epoch = await this.#log.epoch()
      this.#position = await this.#log.head()
      this.#windowFloor = this.#position
      void this.#runTail()
    })()
    return this.#started
  }

  /** The epoch the hub follows. */
  get epoch(): string {
    return this.#epoch
  }

  /** The cursor of the newest entry this hub has fanned out (null before the first event). */
  get cursor(): string | null {
    return this.#position === null ? null : formatCursor(this.#epoch, this.#position)
  }

  /** Number of attached subscribers. */
  get size(): number {
    return this.#bySub.size
  }

  /**
   * Attaches a subscriber. With a cursor, replays what it missed — from the window when it can,
   * else from the engine — then joins live delivery in the same turn as the last replayed entry.
   * A cursor from another epoch, past retention or unknown gets `tidings.reset`, then live events.
   * Throws 403 if the principal may not follow one of the channels.
   */
  async attach(sub: HubSubscriber, cursor: string | null): Promise<void> {
    for (const c of sub.channels) {
      if (!canSubscribe(sub.principal, c)) {
        throw new TidingsError('TIDINGS_ERR_FORBIDDEN_CHANNEL', { detail: `this token may not follow ${c}` })
      }
    }
    await this.start()
    if (this.#closed) throw new TidingsError('TIDINGS_ERR_CLOSED')
    const patterns = sub.channels.filter(isPattern)
    const exact = [...new Set(sub.channels.filter((c) => !isPattern(c)))]
    const a: Attached = {
      sub,
      since: null,
      exact,
      patterns,
      patternRes: patterns.map(patternToRegExp),
      live: false,
      closed: false,
      dirty: false,
      solo: exact.length === 1 && patterns.length === 0,
    }
    this.#bySub.set(sub, a)
    if (cursor === null) {
      this.#goLive(a, this.#position)
      return
    }
    const parsed = this.#positionOf(cursor)
    if (typeof parsed !== 'string') {
      this.#reset(a, parsed.reset)
      return
    }
    const position = parsed
    if (!(await this.#reachable(position))) {
      if (!a.closed) this.#reset(a, 'unknown')
      return
    }
    this.#metrics.resumes.inc({ source: this.#windowCovers(position) ? 'window' : 'engine' })
    await this.#replay(a, position)
  }

  /** Detaches a subscriber (its connection closed). Safe to call twice. */
  detach(sub: HubSubscriber): void {
    const a = this.#bySub.get(sub)
    if (!a) return
    a.closed = true
    this.#bySub.delete(sub)
    if (!a.live) return
    const index = a.solo ? this.#solo : this.#exact
    for (const c of a.exact) {
      const set = index.get(c)
      set?.delete(a)
      if (set?.size === 0) index.delete(c)
    }
    for (const p of a.patterns) {
      const slot = this.#patterns.get(p)
      slot?.subs.delete(a)
      if (slot?.subs.size === 0) this.#patterns.delete(p)
    }
  }

  /** Stops the tail and closes every subscriber. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#abort.abort()
    for (const w of this.#positionWaiters) w.resolve(false)
    this.#positionWaiters = []
    for (const a of [...this.#bySub.values()]) {
      this.detach(a.sub)
      a.sub.close('hub closing')
    }
  }

  /** Cursor string → position in this epoch, or why it cannot be one. */
  #positionOf(cursor: string): string | { reset: ResetReason } {
    const dot = cursor.indexOf('.')
    if (cursor.length > 128 || dot <= 0 || !/^[A-Za-z0-9._:-]+$/.test(cursor)) return { reset: 'unknown' }
    if (cursor.slice(0, dot) !== this.#epoch) return { reset: 'epoch' }
    const position = cursor.slice(dot + 1)
    return this.#log.isPosition(position) ? position : { reset: 'unknown' }
  }

  /**
   * The cursor a live subscriber may advance to between batches (an SSE `id:`-only frame), so a
   * resume never rescans events it was not sent; null while it is still replaying.
   */
  heartbeatCursor(sub: HubSubscriber): string | null {
    const a = this.#bySub.get(sub)
    return a !== undefined && a.live ? this.cursor : null
  }

  /** True when the position exists in the log; waits briefly if another hub issued it before this one saw it. */
  async #reachable(position: string): Promise<boolean> {
    if (this.#position !== null && this.#log.comparePositions(position, this.#position) <= 0) return true
    const head = await this.#log.head()
    if (head === null || this.#log.comparePositions(position, head) > 0) return false
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.#positionWaiters = this.#positionWaiters.filter((w) => w.resolve !== done)
        resolve(false)
      }, this.#catchUpWaitMs)
      const done = (ok: boolean): void => {
        clearTimeout(timer)
        resolve(ok)
      }
      this.#positionWaiters.push({ position, resolve: done })
    })
  }

  #windowCovers(position: string | null): boolean {
    if (this.#windowFloor === null) return true
    if (position === null) return false
    return this.#log.comparePositions(position, this.#windowFloor) >= 0
  }

  async #replay(a: Attached, from: string): Promise<void> {
    let pos = from
    let seen: Set<string> | null = null
    const generation = this.#generation
    while (!a.closed) {
      if (generation !== this.#generation) {
        this.#reset(a, this.#lastLoss)
        return
      }
      if (this.#windowCovers(pos)) {
        this.#replayFromWindow(a, pos, seen)
        this.#goLive(a, from)
        return
      }
      const res = await this.#log.read(pos, { limit: this.#replayPage, channels: { exact: a.exact, patterns: a.patterns } })
      if (a.closed) return
      if (res.truncated) {
        this.#reset(a, 'truncated')
        return
      }
      seen ??= new Set()
      for (const e of res.entries) {
        const ev = e.event
        if (!this.#matches(a, ev.channels) || !tenantAllows(a.sub.principal, ev.tenant)) continue
        if (seen.has(`i:${ev.id}`) || (ev.key !== null && seen.has(`k:${ev.key}`))) continue
        seen.add(`i:${ev.id}`)
        if (ev.key !== null) seen.add(`k:${ev.key}`)
        a.sub.deliver(this.#entry(e))
      }
      a.sub.flush()
      if (res.next === null || res.next === pos) {
        // The engine has nothing after `pos` although the window starts later: only retention can
        // explain it, so say so instead of guessing.
        this.#reset(a, 'truncated')
        return
      }
      pos = res.next
    }
  }

  #replayFromWindow(a: Attached, after: string, seen: Set<string> | null): void {
    const cmp = this.#log.comparePositions.bind(this.#log)
    // Binary search for the first window entry after `after`.
    let lo = 0
    let hi = this.#winCount
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (cmp(this.#at(mid).position, after) <= 0) lo = mid + 1
      else hi = mid
    }
    for (let i = lo; i < this.#winCount; i++) {
      const e = this.#at(i)
      const ev = e.event
      if (!this.#matches(a, ev.channels) || !tenantAllows(a.sub.principal, ev.tenant)) continue
      if (seen !== null && (seen.has(`i:${ev.id}`) || (ev.key !== null && seen.has(`k:${ev.key}`)))) continue
      if (e.dupOf !== null && this.#alreadyDelivered(a, e, after)) continue
      a.sub.deliver(e)
    }
    a.sub.flush()
  }

  #goLive(a: Attached, since: string | null): void {
    if (a.closed) return
    a.since = since
    a.live = true
    const index = a.solo ? this.#solo : this.#exact
    for (const c of a.exact) {
      let set = index.get(c)
      if (!set) index.set(c, (set = new Set()))
      set.add(a)
    }
    a.patterns.forEach((p, i) => {
      let slot = this.#patterns.get(p)
      if (!slot) this.#patterns.set(p, (slot = { re: a.patternRes[i]!, subs: new Set() }))
      slot.subs.add(a)
    })
  }

  #reset(a: Attached, reason: ResetReason): void {
    this.#metrics.resets.inc({ reason })
    a.sub.deliverReset(this.#resetEntry(reason))
    a.sub.flush()
    this.#goLive(a, this.#position)
  }

  #resetEntry(reason: ResetReason): HubEntry {
    const event: TidingsEvent = {
      id: newEventId(),
      schemaVersion: 1,
      type: 'tidings.reset',
      channels: [],
      tenant: null,
      key: null,
      occurredAt: new Date().toISOString(),
      data: { reason, epoch: this.#epoch, cursor: this.cursor },
      job: null,
      traceparent: null,
    }
    const json = serializeEvent(event)
    const cursor = this.cursor ?? `${this.#epoch}.`
    // Before the log's first event there is no position to resume from: omit `id:` so the client
    // keeps no stale cursor, and a resume without one starts live.
    if (this.#position === null) {
      return {
        position: '',
        cursor,
        event,
        json,
        sseFrame: Buffer.from(`event: tidings.reset\ndata: ${json}\n\n`),
        sseMessage: Buffer.from(`data: ${json}\n\n`),
        wsMessage: wsEventMessage(null, json),
        dupOf: null,
      }
    }
    return { position: this.#position, cursor, event, json, sseFrame: sseFrame(cursor, event.type, json), sseMessage: undefined, wsMessage: undefined, dupOf: null }
  }

  #entry(e: LogEntry): HubEntry {
    const json = e.json ?? serializeEvent(e.event)
    const cursor = formatCursor(this.#epoch, e.position)
    return { position: e.position, cursor, event: e.event, json, sseFrame: sseFrame(cursor, e.event.type, json), sseMessage: undefined, wsMessage: undefined, dupOf: null }
  }

  #at(i: number): HubEntry {
    return this.#window[(this.#winStart + i) % this.#windowSize]!
  }

  #matches(a: Attached, channels: readonly string[]): boolean {
    for (const c of channels) {
      if (a.exact.includes(c)) return true
      for (const re of a.patternRes) if (re.test(c)) return true
    }
    return false
  }

  /** For an entry with earlier twins (same id or key): did `a` get one of them after `since`? */
  #alreadyDelivered(a: Attached, e: HubEntry, since: string | null): boolean {
    for (const twin of e.dupOf!) {
      if (since !== null && this.#log.comparePositions(twin.position, since) <= 0) continue
      if (this.#matches(a, twin.event.channels) && tenantAllows(a.sub.principal, twin.event.tenant)) return true
    }
    return false
  }

  async #runTail(): Promise<void> {
    while (!this.#closed) {
      try {
        for await (const batch of this.#log.tail(this.#position, this.#abort.signal)) {
          this.#fanOut(batch)
        }
        if (this.#closed) return
      } catch (err) {
        if (this.#closed) return
        if (isTidingsError(err, 'TIDINGS_ERR_EPOCH_CHANGED') || isTidingsError(err, 'TIDINGS_ERR_LOG_TRUNCATED')) {
          await this.#restartAfterLoss(isTidingsError(err, 'TIDINGS_ERR_EPOCH_CHANGED') ? 'epoch' : 'truncated')
          continue
        }
        this.#logger.warn({ err }, 'hub tail failed; retrying')
        await new Promise((r) => setTimeout(r, this.#tailRetryMs))
      }
    }
  }

  /** The log lost what this hub had not read yet, or was recreated: every subscriber gets a reset. */
  async #restartAfterLoss(reason: ResetReason): Promise<void> {
    this.#logger.warn({ reason }, 'hub lost its place in the log; resetting every subscriber')
    try {
      this.#epoch = await this.#log.epoch()
      // A recreated log is followed from its very first entry, so events written in the new epoch
      // before this hub noticed are delivered too; lost ones (truncation) cannot be.
      this.#position = reason === 'epoch' && this.#log.origin !== undefined ? this.#log.origin : await this.#log.head()
    } catch (err) {
      this.#logger.warn({ err }, 'could not read the log head; retrying')
      await new Promise((r) => setTimeout(r, this.#tailRetryMs))
      return
    }
    this.#generation++
    this.#lastLoss = reason
    this.#window = []
    this.#winStart = 0
    this.#winCount = 0
    this.#windowFloor = this.#position
    this.#byId.clear()
    this.#byKey.clear()
    for (const a of this.#bySub.values()) {
      if (!a.live) continue
      a.since = this.#position
      this.#metrics.resets.inc({ reason })
      a.sub.deliverReset(this.#resetEntry(reason))
      a.sub.flush()
    }
  }

  /**
   * The hot path: one batch from the tail, fanned out, then one flush per touched subscriber.
   * Subscribers following one channel alone get that channel's entries as one shared run; the
   * others are offered entry by entry.
   */
  #fanOut(batch: readonly LogEntry[]): void {
    const dirty = this.#dirty
    const runs = this.#runs
    const solo = this.#solo
    const others = this.#exact.size > 0 || this.#patterns.size > 0
    for (const le of batch) {
      const e = this.#entry(le)
      this.#remember(e)
      this.#position = e.position
      const ev = e.event
      const chans = ev.channels
      if (solo.size > 0) {
        for (const c of chans) {
          if (!solo.has(c)) continue
          const run = runs.get(c)
          if (run === undefined) runs.set(c, [e])
          else if (run[run.length - 1] !== e) run.push(e)
        }
      }
      if (!others) continue
      if (chans.length === 1 && this.#patterns.size === 0) {
        const set = this.#exact.get(chans[0]!)
        if (set !== undefined) for (const a of set) this.#offer(a, e, dirty)
        continue
      }
      const targets = new Set<Attached>()
      for (const c of chans) {
        const set = this.#exact.get(c)
        if (set !== undefined) for (const a of set) targets.add(a)
        for (const slot of this.#patterns.values()) if (slot.re.test(c)) for (const a of slot.subs) targets.add(a)
      }
      for (const a of targets) this.#offer(a, e, dirty)
    }
    if (runs.size > 0) {
      for (const [c, entries] of runs) this.#deliverRun(solo.get(c)!, entries, dirty)
      runs.clear()
    }
    this.#metrics.tailedEvents.inc(batch.length)
    for (const a of dirty) {
      a.dirty = false
      a.sub.flush()
    }
    dirty.length = 0
    this.#wakePositionWaiters()
  }

  /** One channel's entries of a batch to the subscribers following that channel alone. */
  #deliverRun(subs: Set<Attached>, entries: HubEntry[], dirty: Attached[]): void {
    let shared = true
    for (const e of entries) {
      if (e.event.tenant !== null || e.dupOf !== null) {
        shared = false
        break
      }
    }
    if (!shared) {
      // Tenant checks or dedup decide per subscriber: entry by entry, as for everyone else.
      for (const a of subs) for (const e of entries) this.#offer(a, e, dirty)
      return
    }
    const run: HubRun = { entries, sse: undefined, sseMessage: undefined }
    // A solo subscriber gets nothing else in this batch, so it can flush at once.
    for (const a of subs) {
      const sub = a.sub
      if (sub.deliverRun !== undefined) sub.deliverRun(run)
      else for (const e of entries) sub.deliver(e)
      sub.flush()
    }
  }

  #offer(a: Attached, e: HubEntry, dirty: Attached[]): void {
    if (e.event.tenant !== null && !tenantAllows(a.sub.principal, e.event.tenant)) return
    if (e.dupOf !== null && this.#alreadyDelivered(a, e, a.since)) return
    if (!a.dirty) {
      a.dirty = true
      dirty.push(a)
    }
    a.sub.deliver(e)
  }

  /** Adds an entry to the window and the dedup indexes, evicting the oldest. */
  #remember(e: HubEntry): void {
    const twins = this.#twins(e)
    if (twins.length > 0) e.dupOf = twins
    if (this.#winCount === this.#windowSize) {
      const old = this.#window[this.#winStart]!
      this.#forget(old)
      this.#windowFloor = old.position
      this.#window[this.#winStart] = e
      this.#winStart = (this.#winStart + 1) % this.#windowSize
    } else {
      this.#window[(this.#winStart + this.#winCount) % this.#windowSize] = e
      this.#winCount++
    }
    this.#index(this.#byId, e.event.id, e)
    if (e.event.key !== null) this.#index(this.#byKey, e.event.key, e)
  }

  #twins(e: HubEntry): HubEntry[] {
    const byId = this.#byId.get(e.event.id)
    const byKey = e.event.key === null ? undefined : this.#byKey.get(e.event.key)
    if (byId === undefined && byKey === undefined) return []
    return [...new Set([...(byId ?? []), ...(byKey ?? [])])]
  }

  #index(map: Map<string, HubEntry[]>, k: string, e: HubEntry): void {
    const list = map.get(k)
    if (list === undefined) map.set(k, [e])
    else list.push(e)
  }

  #forget(e: HubEntry): void {
    this.#unindex(this.#byId, e.event.id, e)
    if (e.event.key !== null) this.#unindex(this.#byKey, e.event.key, e)
  }

  #unindex(map: Map<string, HubEntry[]>, k: string, e: HubEntry): void {
    const list = map.get(k)
    if (list === undefined) return
    const i = list.indexOf(e)
    if (i >= 0) list.splice(i, 1)
    if (list.length === 0) map.delete(k)
  }

  #wakePositionWaiters(): void {
    if (this.#positionWaiters.length === 0 || this.#position === null) return
    const pos = this.#position
    this.#positionWaiters = this.#positionWaiters.filter((w) => {
      if (this.#log.comparePositions(w.position, pos) > 0) return true
      w.resolve(true)
      return false
    })
  }
}
