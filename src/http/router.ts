/**
 * A route table for `node:http`: `METHOD /path/:param` patterns, exact segments, nothing else.
 * Hand-written because the surface is a dozen fixed routes and the handler must stay mountable in
 * any framework (Express, Fastify, plain node:http) without pulling one in.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Principal } from '../core/auth.js'

/** What a route handler receives. */
export interface RouteContext {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly url: URL
  readonly params: Readonly<Record<string, string>>
  /** Resolves the caller's principal (401 when there is none); cached per request. */
  principal(): Promise<Principal>
}

/** A route handler. */
export type RouteHandler = (ctx: RouteContext) => Promise<void> | void

interface Route {
  readonly method: string
  readonly segments: readonly string[]
  readonly handler: RouteHandler
}

/** Result of a lookup. */
export type RouteMatch =
  | { readonly kind: 'found'; readonly handler: RouteHandler; readonly params: Record<string, string> }
  | { readonly kind: 'method-not-allowed'; readonly allow: string[] }
  | { readonly kind: 'not-found' }

/** Routes requests by method and path. */
export class Router {
  readonly #routes: Route[] = []

  /** Adds a route; `path` segments starting with `:` capture a parameter. */
  add(method: string, path: string, handler: RouteHandler): this {
    this.#routes.push({ method: method.toUpperCase(), segments: path.split('/').filter(Boolean), handler })
    return this
  }

  /** Finds the route for a method and path. */
  match(method: string, pathname: string): RouteMatch {
    const parts = pathname.split('/').filter(Boolean)
    const allow: string[] = []
    for (const route of this.#routes) {
      const params = matchSegments(route.segments, parts)
      if (params === null) continue
      if (route.method === method || (method === 'HEAD' && route.method === 'GET')) return { kind: 'found', handler: route.handler, params }
      allow.push(route.method)
    }
    return allow.length > 0 ? { kind: 'method-not-allowed', allow } : { kind: 'not-found' }
  }
}

function matchSegments(pattern: readonly string[], parts: readonly string[]): Record<string, string> | null {
  if (pattern.length !== parts.length) return null
  const params: Record<string, string> = {}
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!
    const v = parts[i]!
    if (p.startsWith(':')) {
      try {
        params[p.slice(1)] = decodeURIComponent(v)
      } catch {
        return null
      }
    } else if (p !== v) return null
  }
  return params
}
