/**
 * `tidings/react`: hooks over `tidings/client` (React is an optional peer dependency).
 *
 * ```tsx
 * const { state, latest } = useTidings<AppEvents>(['user:42'], { url, getToken })
 * const job = useJob(jobId, { url, getToken })   // job.status, job.progress?.percent, job.logs
 * ```
 *
 * @packageDocumentation
 */
import { useEffect, useMemo, useRef, useSyncExternalStore } from 'react'
import { EventFeed, type FeedOptions, type FeedSnapshot } from '../client/feed.js'
import { JobFollower, type JobFollowOptions, type JobView } from '../client/job.js'
import type { EventMap } from '../client/types.js'

/** Options of {@link useTidings}. */
export interface UseTidingsOptions extends FeedOptions {
  /** Follow only while true. @defaultValue true */
  enabled?: boolean
}

/** What {@link useTidings} returns: the feed's snapshot and its client. */
export interface UseTidingsResult<M extends EventMap = EventMap> extends FeedSnapshot<M> {
  readonly client: EventFeed<M>['client'] | null
}

const idleFeed: FeedSnapshot = { state: 'disconnected', events: [], latest: null, reset: null, error: null, cursor: null }
const noop = (): (() => void) => () => {}

/**
 * Follows `channels` while the component is mounted: connection state, the latest events (newest
 * last), the last reset and error. It reconnects when the channel list or the URL changes; the other
 * options are read when it connects (keep callbacks in them stable or not, it does not matter).
 */
export function useTidings<M extends EventMap = EventMap>(channels: readonly string[], options: UseTidingsOptions = {}): UseTidingsResult<M> {
  const key = channels.join('\n')
  const enabled = options.enabled !== false
  const optionsRef = useRef(options)
  optionsRef.current = options
  const feed = useMemo(
    () => (enabled && channels.length > 0 ? new EventFeed<M>(key.split('\n'), optionsRef.current) : null),
    // Keyed by its channels, URL and transport only: the other options are read through the ref.
    [key, enabled, options.url, options.transport],
  )
  useEffect(() => {
    feed?.client.connect()
    return () => feed?.client.disconnect()
  }, [feed])
  const snapshot = useSyncExternalStore(feed?.subscribe ?? noop, feed?.getSnapshot ?? (() => idleFeed as FeedSnapshot<M>), () => idleFeed as FeedSnapshot<M>)
  return { ...snapshot, client: feed?.client ?? null }
}

/**
 * Follows one job while mounted: its status, progress, logs, result and error, from its past
 * events, its live events on `job:{id}` and its record. Pass null to follow nothing.
 */
export function useJob(id: string | null, options: JobFollowOptions = {}): JobView | null {
  const optionsRef = useRef(options)
  optionsRef.current = options
  const follower = useMemo(() => (id === null ? null : new JobFollower(id, optionsRef.current)), [id, options.url, options.transport])
  useEffect(() => {
    void follower?.start()
    return () => follower?.stop()
  }, [follower])
  return useSyncExternalStore(follower?.subscribe ?? noop, follower?.getSnapshot ?? (() => null), () => null)
}

export type { JobView, JobFollowOptions } from '../client/job.js'
export type { FeedSnapshot, FeedOptions } from '../client/feed.js'
