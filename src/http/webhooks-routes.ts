/**
 * The webhooks part of the HTTP API (DESIGN §5, §6), on the same router and auth as the rest.
 *
 * Permissions: admins manage every endpoint. A principal with a tenant (and no admin right)
 * manages its tenant's endpoints: what it creates belongs to its tenant, and it sees, changes,
 * deletes, resends, recovers and replays only those; others answer 404, as if they did not exist.
 * Principals with neither get 403. Whoever may manage an endpoint may also follow `webhook:{id}`,
 * where `webhook.exhausted` and `webhook.endpoint.disabled` are published.
 */
import { z } from 'zod'
import type { Principal } from '../core/auth.js'
import { TidingsError } from '../core/errors.js'
import { endpointInputSchema, endpointPatchSchema, parseEndpointBody, type WebhookEndpointView } from '../webhooks/endpoints.js'
import type { DeliveryStatus } from '../webhooks/store.js'
import type { Webhooks } from '../webhooks/webhooks.js'
import type { HttpSurface } from './handler.js'
import { DEFAULT_MAX_BODY_BYTES, readJson, sendJson } from './respond.js'
import type { RouteContext } from './router.js'

const DELIVERY_STATUSES: readonly DeliveryStatus[] = ['pending', 'succeeded', 'failed']

const rotateBody = z.strictObject({ secret: z.string().max(200).optional(), graceSeconds: z.number().min(0).max(30 * 24 * 3600).optional() })
const recoverBody = z.strictObject({ since: z.iso.datetime({ offset: true }) })
const replayBody = z.strictObject({ since: z.iso.datetime({ offset: true }).optional(), after: z.string().max(128).optional() })

/** What the webhook routes need. */
export interface WebhookRoutesDeps {
  /** The instance's webhooks, created on first use. */
  readonly webhooks: () => Webhooks
  /** @defaultValue {@link DEFAULT_MAX_BODY_BYTES} */
  readonly maxBodyBytes?: number
}

/** True when the principal may manage the endpoint: an admin, or a principal of the endpoint's tenant. */
export function managesEndpoint(p: Principal, endpoint: Pick<WebhookEndpointView, 'tenant'>): boolean {
  return p.admin || (p.tenant !== null && endpoint.tenant === p.tenant)
}

/** Adds the `/v1/webhooks` routes, and lets whoever manages an endpoint follow `webhook:{id}`. */
export function registerWebhookRoutes(http: HttpSurface, deps: WebhookRoutesDeps): void {
  const maxBodyBytes = deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
  const webhooks = deps.webhooks

  const manager = async (ctx: RouteContext): Promise<Principal> => {
    const p = await ctx.principal()
    if (!p.admin && p.tenant === null) throw new TidingsError('TIDINGS_ERR_FORBIDDEN', { detail: 'webhooks are managed by admins, or by principals of a tenant for that tenant' })
    return p
  }
  const visible = async (ctx: RouteContext): Promise<WebhookEndpointView> => {
    const p = await manager(ctx)
    const id = ctx.params.id!
    const e = await webhooks().get(id)
    if (e === null || !managesEndpoint(p, e)) throw new TidingsError('TIDINGS_ERR_WEBHOOK_NOT_FOUND', { detail: `endpoint ${id}` })
    return e
  }
  const body = async <T>(ctx: RouteContext, schema: z.ZodType<T>): Promise<T> => parseEndpointBody(schema, await readJson(ctx.req, maxBodyBytes))

  http.addChannelAuthorizer(async (p, channel) => {
    if (!channel.startsWith('webhook:') || (!p.admin && p.tenant === null)) return false
    const e = await webhooks().get(channel.slice('webhook:'.length))
    return e !== null && managesEndpoint(p, e)
  })

  http.router
    .add('POST', '/v1/webhooks', async (ctx) => {
      const p = await manager(ctx)
      const input = await body(ctx, endpointInputSchema)
      if (!p.admin) {
        if (input.tenant !== undefined && input.tenant !== p.tenant) throw new TidingsError('TIDINGS_ERR_FORBIDDEN', { detail: `this token may create endpoints for tenant ${p.tenant} only` })
        input.tenant = p.tenant
      }
      sendJson(ctx.res, 201, await webhooks().create(input))
    })
    .add('GET', '/v1/webhooks', async (ctx) => {
      const p = await manager(ctx)
      const tenant = ctx.url.searchParams.get('tenant')
      const endpoints = await webhooks().list(p.admin ? (tenant === null ? {} : { tenant }) : { tenant: p.tenant })
      sendJson(ctx.res, 200, { endpoints })
    })
    .add('GET', '/v1/webhooks/:id', async (ctx) => {
      sendJson(ctx.res, 200, await visible(ctx))
    })
    .add('PATCH', '/v1/webhooks/:id', async (ctx) => {
      const e = await visible(ctx)
      sendJson(ctx.res, 200, await webhooks().update(e.id, await body(ctx, endpointPatchSchema)))
    })
    .add('DELETE', '/v1/webhooks/:id', async (ctx) => {
      const e = await visible(ctx)
      await webhooks().delete(e.id)
      ctx.res.writeHead(204, { 'cache-control': 'no-store' })
      ctx.res.end()
    })
    .add('POST', '/v1/webhooks/:id/secret/rotate', async (ctx) => {
      const e = await visible(ctx)
      const b = ctx.req.headers['content-length'] === '0' || ctx.req.headers['content-type'] === undefined ? {} : await body(ctx, rotateBody)
      const graceMs = b.graceSeconds === undefined ? undefined : b.graceSeconds * 1000
      sendJson(ctx.res, 200, await webhooks().rotateSecret(e.id, { secret: b.secret, graceMs }))
    })
    .add('GET', '/v1/webhooks/:id/deliveries', async (ctx) => {
      const e = await visible(ctx)
      const q = ctx.url.searchParams
      const status = q.get('status')
      if (status !== null && !(DELIVERY_STATUSES as readonly string[]).includes(status)) {
        throw new TidingsError('TIDINGS_ERR_INVALID_QUERY', { detail: `status must be one of ${DELIVERY_STATUSES.join(', ')}` })
      }
      const sinceParam = q.get('since')
      const since = sinceParam === null ? undefined : new Date(sinceParam)
      if (since !== undefined && Number.isNaN(since.getTime())) throw new TidingsError('TIDINGS_ERR_INVALID_QUERY', { detail: 'since must be an ISO 8601 time' })
      const limitParam = q.get('limit')
      const limit = limitParam === null ? undefined : Number(limitParam)
      sendJson(ctx.res, 200, await webhooks().deliveries(e.id, { status: (status ?? undefined) as DeliveryStatus | undefined, since, limit, cursor: q.get('cursor') }))
    })
    .add('GET', '/v1/webhooks/:id/deliveries/:deliveryId', async (ctx) => {
      const e = await visible(ctx)
      sendJson(ctx.res, 200, await webhooks().delivery(e.id, ctx.params.deliveryId!))
    })
    .add('POST', '/v1/webhooks/:id/deliveries/:deliveryId/resend', async (ctx) => {
      const e = await visible(ctx)
      const { event: _event, ...delivery } = await webhooks().resend(e.id, ctx.params.deliveryId!)
      sendJson(ctx.res, 202, { delivery })
    })
    .add('POST', '/v1/webhooks/:id/recover', async (ctx) => {
      const e = await visible(ctx)
      const b = await body(ctx, recoverBody)
      sendJson(ctx.res, 202, await webhooks().recover(e.id, { since: new Date(b.since) }))
    })
    .add('POST', '/v1/webhooks/:id/replay', async (ctx) => {
      const e = await visible(ctx)
      const b = await body(ctx, replayBody)
      sendJson(ctx.res, 202, await webhooks().replay(e.id, { since: b.since === undefined ? undefined : new Date(b.since), after: b.after }))
    })
}
