/**
 * Prometheus metrics of one Tidings instance, on a registry of its own so that several instances in
 * one process (tests, embedded use) never collide.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'

/** The counters and gauges the hub, the publisher and the HTTP layer update. */
export class TidingsMetrics {
  readonly registry = new Registry()
  readonly connections = new Gauge({ name: 'tidings_connections', help: 'Open subscriber connections', labelNames: ['transport'] as const, registers: [this.registry] })
  readonly eventsAppended = new Counter({ name: 'tidings_events_appended_total', help: 'Events appended to the log by this instance', registers: [this.registry] })
  readonly publishFailures = new Counter({ name: 'tidings_publish_failures_total', help: 'Publishes the log did not accept', labelNames: ['mode'] as const, registers: [this.registry] })
  readonly eventsDelivered = new Counter({ name: 'tidings_events_delivered_total', help: 'Events written to subscriber connections (one per connection)', registers: [this.registry] })
  readonly bytesDelivered = new Counter({ name: 'tidings_bytes_delivered_total', help: 'Bytes written to subscriber connections', registers: [this.registry] })
  readonly slowConsumerCuts = new Counter({ name: 'tidings_slow_consumer_cuts_total', help: 'Connections cut because their buffer passed its bound', registers: [this.registry] })
  readonly resumes = new Counter({ name: 'tidings_resumes_total', help: 'Connections that resumed from a cursor', labelNames: ['source'] as const, registers: [this.registry] })
  readonly resets = new Counter({ name: 'tidings_resets_total', help: 'tidings.reset events sent', labelNames: ['reason'] as const, registers: [this.registry] })
  readonly tailedEvents = new Counter({ name: 'tidings_hub_events_tailed_total', help: 'Events the hub read from the log tail', registers: [this.registry] })

  readonly #collectors: (() => void)[] = []

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry })
  }

  /** Registers a function that folds hot-path counters into the metrics before each scrape. */
  addCollector(fn: () => void): void {
    this.#collectors.push(fn)
  }

  /** The Prometheus text exposition. */
  async render(): Promise<string> {
    for (const fn of this.#collectors) fn()
    return this.registry.metrics()
  }
}
