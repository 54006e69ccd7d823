/**
 * Mounts Tidings in a Fastify app: `app.register(tidingsFastify, { tidings })`. Routes are handed
 * to Tidings' own `node:http` handler untouched (body included), so behaviour is identical.
 */
import type { Tidings } from '../tidings.js'

/** The subset of Fastify's instance this plugin uses, so Fastify stays an optional peer. */
interface FastifyLike {
  removeAllContentTypeParsers(): void
  addContentTypeParser(type: string, fn: (req: unknown, payload: unknown, done: (err: Error | null, body?: unknown) => void) => void): void
  route(opts: { method: string[]; url: string; handler: (req: { raw: import('node:http').IncomingMessage }, reply: { raw: import('node:http').ServerResponse; hijack(): void }) => void }): void
}

/** Options of the Fastify plugin. */
export interface TidingsFastifyOptions {
  tidings: Tidings
  /** Also mount `/` and its `/assets/*`, `/healthz`, `/readyz` and `/metrics`. @defaultValue true */
  operational?: boolean
}

/**
 * A Fastify plugin. Register it without a prefix so paths match the HTTP reference; it stays
 * encapsulated, so its pass-through body parser does not touch the app's other routes.
 */
export async function tidingsFastify(fastify: FastifyLike, options: TidingsFastifyOptions): Promise<void> {
  // Leave request bodies unread: Tidings' handler reads and limits them itself.
  fastify.removeAllContentTypeParsers()
  fastify.addContentTypeParser('*', (_req, _payload, done) => done(null))
  const methods = ['GET', 'POST', 'PATCH', 'DELETE', 'OPTIONS']
  const handler = options.tidings.handler
  const pass = (req: { raw: import('node:http').IncomingMessage }, reply: { raw: import('node:http').ServerResponse; hijack(): void }): void => {
    reply.hijack()
    handler(req.raw, reply.raw)
  }
  fastify.route({ method: methods, url: '/v1/*', handler: pass })
  if (options.operational !== false) {
    for (const url of ['/', '/assets/*', '/healthz', '/readyz', '/metrics']) fastify.route({ method: ['GET'], url, handler: pass })
  }
}

export default tidingsFastify
