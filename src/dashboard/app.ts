/**
 * The dashboard's behaviour, a browser module. Two connections of `tidings/client`: the jobs feed
 * follows `queue:*` (every job lifecycle event) and drives the jobs table, the job detail and the
 * demo runner; the event inspector follows the channels the user types and keeps its list and
 * cursor in sessionStorage, so a reload resumes where it stopped with nothing lost or repeated.
 * The rest is the JSON API, polled: schedules, webhooks (only when `/v1/webhooks` answers), and the
 * server's connection and delivery counters from `/readyz` and `/metrics`. All text is set with
 * `textContent`: event data is never read as HTML.
 */
import { TidingsClient, type ClientState, type TidingsEvent, type TransportName } from '../client/index.js'

/** Most events the inspector shows and keeps across reloads. */
const INSPECTOR_SIZE = 300
/** Most jobs in the table. */
const JOBS_SIZE = 100
/** Interval of the metrics refresh. */
const METRICS_REFRESH_MS = 5_000
/** Interval of the schedules and webhooks refresh. */
const LISTS_REFRESH_MS = 10_000
const INSPECTOR_KEY = 'tidings.inspector'

const params = new URLSearchParams(location.search)
const token = params.get('token')
const transport: TransportName = params.get('transport') === 'websocket' ? 'websocket' : 'sse'

function $(id: string): HTMLElement {
  const node = document.getElementById(id)
  if (node === null) throw new Error(`#${id} is missing from the page`)
  return node
}

function el(tag: string, className: string | null, text?: string): HTMLElement {
  const node = document.createElement(tag)
  if (className !== null) node.className = className
  if (text !== undefined) node.textContent = text
  return node
}

function time(iso: unknown): string {
  if (typeof iso !== 'string') return '–'
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? '–' : d.toLocaleTimeString()
}

interface ApiAnswer {
  readonly status: number
  readonly body: Record<string, unknown> | null
}

async function api(method: string, path: string, body?: unknown): Promise<ApiAnswer> {
  const headers: Record<string, string> = {}
  if (token !== null) headers.authorization = `Bearer ${token}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await res.text()
  let parsed: Record<string, unknown> | null
  try {
    parsed = text === '' ? null : (JSON.parse(text) as Record<string, unknown>)
  } catch {
    parsed = null
  }
  return { status: res.status, body: parsed }
}

function errorText(answer: ApiAnswer): string {
  const e = answer.body?.error as { message?: string } | undefined
  return e?.message ?? `HTTP ${answer.status}`
}

function client(channels: readonly string[], since: string | null): TidingsClient {
  return new TidingsClient({ channels, since, transport, token })
}

function setBar(bar: Element, percent: number | null): void {
  const p = percent === null ? 0 : Math.max(0, Math.min(100, Math.round(percent)))
  bar.setAttribute('aria-valuenow', String(p))
  const fill = bar.querySelector<HTMLElement>('.fill')
  if (fill !== null) fill.style.width = `${p}%`
}

// ── Header ───────────────────────────────────────────────────────────────────────────────────

const transportSelect = $('transport') as HTMLSelectElement
transportSelect.value = transport
transportSelect.addEventListener('change', () => {
  params.set('transport', transportSelect.value)
  location.search = params.toString()
})

function showState(state: ClientState): void {
  const node = $('state')
  node.dataset.state = state
  node.textContent = state
}

// ── Event inspector ──────────────────────────────────────────────────────────────────────────

interface InspectorItem {
  readonly id: string
  readonly type: string
  readonly channels: readonly string[]
  readonly cursor: string | null
  readonly data: string
  readonly reset: boolean
}

interface InspectorStore {
  channels: string[]
  cursor: string | null
  items: InspectorItem[]
}

function loadInspector(): InspectorStore {
  try {
    const raw = sessionStorage.getItem(INSPECTOR_KEY)
    if (raw !== null) {
      const s = JSON.parse(raw) as InspectorStore
      if (Array.isArray(s.channels) && Array.isArray(s.items)) return s
    }
  } catch {
    // A damaged entry is dropped: the inspector starts live.
  }
  return { channels: ['*'], cursor: null, items: [] }
}

const inspector = loadInspector()
const eventList = $('events')
const channelsInput = $('channels') as HTMLInputElement
channelsInput.value = inspector.channels.join(',')
let eventCount = inspector.items.length

function renderItem(item: InspectorItem): void {
  const li = el('li', item.reset ? 'reset' : null)
  li.dataset.id = item.id
  li.appendChild(el('div', 'type', item.type))
  li.appendChild(el('div', 'meta', `${item.channels.length > 0 ? item.channels.join(' ') + ' · ' : ''}cursor ${item.cursor ?? '–'}`))
  li.appendChild(el('pre', null, item.data))
  eventList.insertBefore(li, eventList.firstChild)
  while (eventList.children.length > INSPECTOR_SIZE) eventList.lastChild?.remove()
  $('count').textContent = `${eventCount} events`
}

function saveInspector(): void {
  try {
    sessionStorage.setItem(INSPECTOR_KEY, JSON.stringify(inspector))
  } catch {
    // Storage full or disabled: the inspector still works, it just will not resume.
  }
}

function record(item: InspectorItem): void {
  inspector.items.push(item)
  if (inspector.items.length > INSPECTOR_SIZE) inspector.items.splice(0, inspector.items.length - INSPECTOR_SIZE)
  eventCount++
  renderItem(item)
}

for (const item of inspector.items) renderItem(item)
const inspectorClient = client(inspector.channels, inspector.cursor)
inspectorClient.on('state', ({ newState }) => showState(newState))
inspectorClient.on('event', (ev) => {
  record({ id: ev.id, type: ev.type, channels: ev.channels, cursor: inspectorClient.cursor, data: JSON.stringify(ev.data), reset: false })
  inspector.cursor = inspectorClient.cursor
  saveInspector()
})
inspectorClient.on('reset', (r) => {
  record({ id: r.event.id, type: 'tidings.reset', channels: [], cursor: r.cursor, data: JSON.stringify(r.event.data), reset: true })
  inspector.cursor = r.cursor
  saveInspector()
})
inspectorClient.connect()

$('follow').addEventListener('submit', (e) => {
  e.preventDefault()
  const wanted = [...new Set(channelsInput.value.split(',').map((s) => s.trim()).filter((s) => s !== ''))]
  if (wanted.length === 0) return
  const added = wanted.filter((c) => !inspector.channels.includes(c))
  const removed = inspector.channels.filter((c) => !wanted.includes(c))
  inspector.channels = wanted
  inspectorClient.subscribe(added)
  inspectorClient.unsubscribe(removed)
  saveInspector()
})

$('publish').addEventListener('submit', (e) => {
  e.preventDefault()
  const result = $('presult')
  let data: unknown
  try {
    data = JSON.parse(($('pdata') as HTMLTextAreaElement).value)
  } catch {
    result.textContent = 'data is not JSON'
    return
  }
  const body = { type: ($('ptype') as HTMLInputElement).value, channels: [($('pchannel') as HTMLInputElement).value], data }
  void api('POST', '/v1/publish', body).then((a) => {
    result.textContent = a.status === 202 ? `published ${String(a.body?.id)}` : errorText(a)
  })
})

// ── Jobs ─────────────────────────────────────────────────────────────────────────────────────

interface JobRow {
  id: string
  name: string
  status: string
  percent: number | null
  attempts: number
  enqueuedAt: string | null
  tr: HTMLTableRowElement
}

const jobs = new Map<string, JobRow>()
const jobsBody = $('jobs')
const jobsFilter = $('jobs-filter') as HTMLSelectElement
let selected: string | null = null

function jobRow(id: string, name: string): JobRow {
  let row = jobs.get(id)
  if (row !== undefined) return row
  const tr = document.createElement('tr')
  tr.className = 'clickable'
  tr.dataset.jobId = id
  tr.addEventListener('click', () => void selectJob(id))
  row = { id, name, status: 'queued', percent: null, attempts: 0, enqueuedAt: null, tr }
  jobs.set(id, row)
  jobsBody.insertBefore(tr, jobsBody.firstChild)
  while (jobsBody.children.length > JOBS_SIZE) {
    const last = jobsBody.lastElementChild as HTMLElement | null
    if (last === null) break
    jobs.delete(last.dataset.jobId ?? '')
    last.remove()
  }
  return row
}

function renderJob(row: JobRow): void {
  const tr = row.tr
  tr.dataset.status = row.status
  tr.replaceChildren()
  const name = el('td', null)
  name.appendChild(el('div', null, row.name))
  name.appendChild(el('div', 'meta mono', row.id.slice(-12)))
  const status = el('td', null)
  status.appendChild(el('span', `badge ${row.status}`, row.status))
  const progress = el('td', null)
  const bar = el('div', 'bar')
  bar.setAttribute('role', 'progressbar')
  bar.setAttribute('aria-valuemin', '0')
  bar.setAttribute('aria-valuemax', '100')
  bar.appendChild(el('div', 'fill'))
  progress.dataset.status = row.status
  progress.appendChild(bar)
  setBar(bar, row.status === 'succeeded' ? 100 : row.percent)
  tr.append(name, status, progress, el('td', null, String(row.attempts)), el('td', 'meta', time(row.enqueuedAt)))
  tr.classList.toggle('selected', row.id === selected)
  tr.hidden = jobsFilter.value !== '' && jobsFilter.value !== row.status
  const visible = [...jobs.values()].filter((j) => !j.tr.hidden).length
  $('jobs-count').textContent = `${visible} shown`
  $('jobs-empty').hidden = jobs.size > 0
}

jobsFilter.addEventListener('change', () => {
  for (const row of jobs.values()) renderJob(row)
})

/** Jobs whose row an event has changed since the last list request started: the list must not undo it. */
let touchedSinceList = new Set<string>()

async function loadJobs(): Promise<void> {
  touchedSinceList = new Set()
  const a = await api('GET', `/v1/jobs?limit=${JOBS_SIZE}`)
  if (a.status !== 200) return
  const list = (a.body?.jobs as Record<string, unknown>[] | undefined) ?? []
  for (const j of [...list].reverse()) {
    const id = String(j.id)
    if (touchedSinceList.has(id)) continue
    const row = jobRow(id, String(j.name))
    row.status = String(j.status)
    const progress = j.progress as { percent?: number | null } | null
    row.percent = progress?.percent ?? null
    row.attempts = Number(j.attempts ?? 0)
    row.enqueuedAt = typeof j.enqueuedAt === 'string' ? j.enqueuedAt : null
    renderJob(row)
  }
  $('jobs-empty').hidden = jobs.size > 0
}

const STATUS_OF: Record<string, string> = {
  'job.started': 'running',
  'job.retrying': 'retrying',
  'job.succeeded': 'succeeded',
  'job.failed': 'failed',
  'job.cancelled': 'cancelled',
}

function onJobEvent(ev: TidingsEvent): void {
  const ref = ev.job
  if (ref === null) return
  touchedSinceList.add(ref.id)
  const row = jobRow(ref.id, ref.name)
  const d = (ev.data ?? {}) as Record<string, unknown>
  if (ev.type === 'job.queued') {
    row.status = d.delayed === true ? 'delayed' : 'queued'
    row.enqueuedAt ??= ev.occurredAt
    if (d.reason === 'retried') row.percent = null
    if (typeof d.schedule === 'string') refresh(loadSchedules)
  } else if (ev.type === 'job.progress') {
    row.percent = typeof d.percent === 'number' ? d.percent : row.percent
  } else if (ev.type in STATUS_OF) {
    row.status = STATUS_OF[ev.type]!
  }
  if (ev.type === 'job.started') row.attempts = typeof d.attempt === 'number' ? d.attempt : row.attempts
  renderJob(row)
  if (ref.id === selected) detailEvent(ev)
  demoEvent(ev)
}

const jobsClient = client(['queue:*'], null)
jobsClient.on('state', ({ newState }) => {
  $('jobs-panel').dataset.state = newState
  if (newState === 'connected') {
    void loadJobs()
    if (selected !== null) void selectJob(selected)
  }
})
jobsClient.on('event', onJobEvent)
jobsClient.on('reset', () => void loadJobs())
jobsClient.connect()

// ── Job detail ───────────────────────────────────────────────────────────────────────────────

const detail = $('job-detail')
let detailSeen = new Set<string>()

function detailRecord(job: Record<string, unknown>): void {
  const status = String(job.status)
  detail.dataset.status = status
  $('jname').textContent = String(job.name)
  $('jid').textContent = String(job.id)
  const badge = $('jstatus')
  badge.className = `badge ${status}`
  badge.textContent = status
  const progress = job.progress as { percent?: number | null; current?: number; total?: number | null; message?: string | null } | null
  setBar(detail.querySelector('.bar')!, status === 'succeeded' ? 100 : (progress?.percent ?? null))
  $('jprogress').textContent = progress ? `${progress.current}${progress.total == null ? '' : `/${progress.total}`}${progress.message ? ` · ${progress.message}` : ''}` : ''
  ;($('jcancel') as HTMLButtonElement).disabled = !['queued', 'running', 'retrying', 'delayed'].includes(status)
  ;($('jretry') as HTMLButtonElement).disabled = !['failed', 'cancelled'].includes(status)
  const kv = $('jrecord')
  kv.replaceChildren()
  const fields: [string, unknown][] = [
    ['attempts', `${String(job.attempts)} of ${String(job.maxAttempts)}`],
    ['queue', job.queue],
    ['enqueued', job.enqueuedAt],
    ['started', job.startedAt],
    ['finished', job.finishedAt],
    ['duration', job.durationMs == null ? null : `${String(job.durationMs)} ms`],
    ['payload', JSON.stringify(job.payload)],
    ['result', job.result === null ? null : JSON.stringify(job.result)],
    ['error', (job.error as { message?: string } | null)?.message ?? null],
    ['worker', job.workerId],
  ]
  for (const [k, v] of fields) {
    if (v === null || v === undefined) continue
    kv.append(el('dt', null, k), el('dd', 'mono', String(v)))
  }
}

function detailEvent(ev: TidingsEvent): void {
  if (detailSeen.has(ev.id)) return
  detailSeen.add(ev.id)
  const d = (ev.data ?? {}) as Record<string, unknown>
  if (ev.type === 'job.log') {
    const li = el('li', null)
    li.append(el('span', 'meta', `${time(ev.occurredAt)} ${String(d.level)} `), el('span', null, String(d.message)))
    $('jlogs').appendChild(li)
  }
  const li = el('li', null)
  li.append(el('div', 'type', ev.type), el('div', 'meta', time(ev.occurredAt)), el('pre', null, JSON.stringify(ev.data)))
  $('jevents').appendChild(li)
  if (ev.type !== 'job.log' && ev.type !== 'job.queued') void refreshDetail()
}

async function refreshDetail(): Promise<void> {
  if (selected === null) return
  const id = selected
  const a = await api('GET', `/v1/jobs/${encodeURIComponent(id)}`)
  if (a.status === 200 && a.body !== null && selected === id) detailRecord(a.body)
}

async function selectJob(id: string): Promise<void> {
  selected = id
  detailSeen = new Set()
  detail.hidden = false
  $('jlogs').replaceChildren()
  $('jevents').replaceChildren()
  $('jaction').textContent = ''
  for (const row of jobs.values()) row.tr.classList.toggle('selected', row.id === id)
  await refreshDetail()
  const h = await api('GET', `/v1/history?channel=${encodeURIComponent(`job:${id}`)}&limit=1000`)
  if (selected !== id || h.status !== 200) return
  for (const e of (h.body?.events as { event: TidingsEvent }[] | undefined) ?? []) detailEvent(e.event)
}

async function jobAction(action: 'cancel' | 'retry'): Promise<void> {
  if (selected === null) return
  const a = await api('POST', `/v1/jobs/${encodeURIComponent(selected)}/${action}`)
  $('jaction').textContent = a.status < 300 ? (action === 'cancel' ? `cancel: ${String(a.body?.outcome)}` : 'queued again') : errorText(a)
  await refreshDetail()
}

$('jcancel').addEventListener('click', () => void jobAction('cancel'))
$('jretry').addEventListener('click', () => void jobAction('retry'))

// ── Demo runner ──────────────────────────────────────────────────────────────────────────────

const demo = $('demo') as HTMLFormElement
let demoJob: string | null = null
/** Events of jobs enqueued from here that arrived before the enqueue answer. */
let early = new Map<string, TidingsEvent[]>()

function demoShow(status: string, percent: number | null, text: string): void {
  demo.dataset.status = status
  if (percent !== null) setBar(demo.querySelector('.bar')!, percent)
  $('dstatus').textContent = text
  ;($('dcancel') as HTMLButtonElement).disabled = !(status === 'queued' || status === 'running')
}

function demoEvent(ev: TidingsEvent): void {
  const id = ev.job?.id
  if (id === undefined) return
  if (id !== demoJob) {
    if (demo.dataset.status === 'enqueueing') {
      const list = early.get(id) ?? []
      list.push(ev)
      early.set(id, list)
    }
    return
  }
  const d = (ev.data ?? {}) as Record<string, unknown>
  if (ev.type === 'job.started') demoShow('running', 0, `running (attempt ${String(d.attempt)})`)
  else if (ev.type === 'job.progress') {
    demoShow('running', typeof d.percent === 'number' ? d.percent : 0, `${String(d.current)}${d.total == null ? '' : `/${String(d.total)}`}${d.message ? ` · ${String(d.message)}` : ''}`)
  } else if (ev.type === 'job.succeeded') demoShow('succeeded', 100, `succeeded: ${JSON.stringify(d.result)}`)
  else if (ev.type === 'job.failed') demoShow('failed', null, `failed: ${String((d.error as { message?: string } | undefined)?.message)}`)
  else if (ev.type === 'job.cancelled') demoShow('cancelled', null, 'cancelled')
}

demo.addEventListener('submit', (e) => {
  e.preventDefault()
  const payload = { steps: Number(($('dsteps') as HTMLInputElement).value), stepMs: Number(($('dstep') as HTMLInputElement).value) }
  early = new Map()
  demoJob = null
  demoShow('enqueueing', 0, 'enqueueing…')
  void api('POST', '/v1/jobs', { name: 'demo.report', payload }).then((a) => {
    if (a.status >= 300) {
      demoShow('failed', 0, errorText(a))
      return
    }
    demoJob = String(a.body?.id)
    demoShow('queued', 0, `queued ${demoJob}`)
    for (const ev of early.get(demoJob) ?? []) demoEvent(ev)
    early = new Map()
  })
})

$('dcancel').addEventListener('click', () => {
  if (demoJob !== null) void api('POST', `/v1/jobs/${encodeURIComponent(demoJob)}/cancel`)
})

// ── Schedules ────────────────────────────────────────────────────────────────────────────────

async function loadSchedules(): Promise<void> {
  const a = await api('GET', '/v1/schedules')
  const body = $('schedules')
  if (a.status !== 200) {
    $('schedules-note').textContent = a.status === 403 ? 'admins only' : errorText(a)
    return
  }
  const list = (a.body?.schedules as Record<string, unknown>[] | undefined) ?? []
  body.replaceChildren()
  for (const s of list) {
    const tr = document.createElement('tr')
    tr.dataset.schedule = String(s.name)
    const tz = typeof s.timezone === 'string' ? ` (${s.timezone})` : ''
    tr.append(el('td', null, String(s.name)), el('td', 'mono', `${String(s.cron)}${tz}`), el('td', null, String(s.job)), el('td', null, s.enabled === true ? 'yes' : 'no'), el('td', 'meta', time(s.lastRunAt)), el('td', 'meta', time(s.nextRunAt)))
    body.appendChild(tr)
  }
  $('schedules-empty').hidden = list.length > 0
}

// ── Webhooks (shown only when the server has them) ──────────────────────────────────────────

function listOf(body: Record<string, unknown> | null, ...keys: string[]): Record<string, unknown>[] {
  if (Array.isArray(body)) return body as Record<string, unknown>[]
  for (const k of keys) {
    const v = body?.[k]
    if (Array.isArray(v)) return v as Record<string, unknown>[]
  }
  return []
}

function healthText(h: Record<string, unknown> | null | undefined): string {
  if (h === null || h === undefined) return '–'
  if (h.disabledAt != null) return `disabled (${String(h.disabledReason ?? 'manual')})`
  if (typeof h.failureStreak === 'number' && h.failureStreak > 0) return `failing ×${h.failureStreak} (last HTTP ${String(h.lastStatus ?? '–')})`
  return h.lastSuccessAt != null ? `ok, last ${time(h.lastSuccessAt)}` : 'no attempts yet'
}

async function loadWebhooks(): Promise<void> {
  const a = await api('GET', '/v1/webhooks')
  const panel = $('webhooks-panel')
  panel.hidden = a.status !== 200
  if (a.status !== 200) return
  const list = listOf(a.body, 'endpoints', 'webhooks', 'items')
  const body = $('webhooks')
  body.replaceChildren()
  for (const w of list) {
    const tr = document.createElement('tr')
    tr.className = 'clickable'
    tr.dataset.webhook = String(w.id)
    tr.addEventListener('click', () => void loadDeliveries(String(w.id)))
    const types = Array.isArray(w.eventTypes) ? (w.eventTypes as string[]).join(' ') : '*'
    const health = healthText(w.health as Record<string, unknown> | null | undefined)
    const cell = el('td', null)
    cell.append(el('div', 'mono', String(w.url)), el('div', 'meta mono', String(w.id)))
    tr.append(cell, el('td', 'mono', types), el('td', null, w.enabled === false ? 'no' : 'yes'), el('td', 'meta', health))
    body.appendChild(tr)
  }
  $('webhooks-empty').hidden = list.length > 0
}

async function loadDeliveries(id: string): Promise<void> {
  const a = await api('GET', `/v1/webhooks/${encodeURIComponent(id)}/deliveries`)
  $('deliveries-panel').hidden = false
  $('deliveries-of').textContent = id
  const body = $('deliveries')
  body.replaceChildren()
  for (const d of listOf(a.body, 'deliveries', 'items')) {
    const tr = document.createElement('tr')
    tr.append(el('td', 'mono', String(d.eventType ?? d.eventId ?? d.id)), el('td', null, String(d.status)), el('td', null, String(d.attempts ?? '–')), el('td', null, String(d.lastStatus ?? '–')), el('td', 'meta', time(d.lastAttemptAt)), el('td', 'meta', time(d.nextAttemptAt)))
    body.appendChild(tr)
  }
}

// ── Server summary ───────────────────────────────────────────────────────────────────────────

/** Sums a Prometheus metric's samples, optionally only those whose labels contain `label`. */
function metric(text: string, name: string, label?: string): number {
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== ' ' && line[name.length] !== '{')) continue
    if (label !== undefined && !line.includes(label)) continue
    const v = Number(line.slice(line.lastIndexOf(' ') + 1))
    if (Number.isFinite(v)) sum += v
  }
  return sum
}

async function loadMetrics(): Promise<void> {
  const ready = await api('GET', '/readyz')
  $('s-engine').textContent = String(ready.body?.engine ?? '–')
  $('s-epoch').textContent = `epoch ${String(ready.body?.epoch ?? '–')}`
  const res = await fetch('/metrics', { headers: token === null ? {} : { authorization: `Bearer ${token}` } })
  if (!res.ok) return
  const text = await res.text()
  const sse = metric(text, 'tidings_connections', 'transport="sse"')
  const ws = metric(text, 'tidings_connections', 'transport="ws"')
  $('s-conn').textContent = String(sse + ws)
  const cells: [string, number][] = [
    ['SSE connections', sse],
    ['WebSocket connections', ws],
    ['events appended', metric(text, 'tidings_events_appended_total')],
    ['events delivered', metric(text, 'tidings_events_delivered_total')],
    ['resumes', metric(text, 'tidings_resumes_total')],
    ['resets', metric(text, 'tidings_resets_total')],
    ['slow-consumer cuts', metric(text, 'tidings_slow_consumer_cuts_total')],
    ['publish failures', metric(text, 'tidings_publish_failures_total')],
  ]
  const box = $('metrics')
  box.replaceChildren()
  for (const [label, value] of cells) {
    const cell = el('div', 'metric')
    cell.append(el('b', null, String(value)), el('span', 'meta', label))
    box.appendChild(cell)
  }
}

/** Runs a refresh; while the server is unreachable the panels keep what they last showed. */
function refresh(load: () => Promise<void>): void {
  load().catch(() => {})
}

refresh(loadSchedules)
refresh(loadWebhooks)
refresh(loadMetrics)
setInterval(() => refresh(loadMetrics), METRICS_REFRESH_MS)
setInterval(() => {
  refresh(loadSchedules)
  refresh(loadWebhooks)
}, LISTS_REFRESH_MS)
