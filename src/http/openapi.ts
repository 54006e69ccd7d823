/**
 * The OpenAPI 3.1 document of the JSON endpoints, served at `GET /v1/openapi.json` and copied to
 * `docs/openapi.json` (a test keeps the copy in step).
 */
const errorRef = { $ref: '#/components/schemas/Error' }
const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: errorRef } } })
const channelParam = {
  name: 'channel',
  in: 'query',
  required: true,
  description: 'A channel name or `*` pattern; repeat for several.',
  schema: { type: 'array', items: { type: 'string' } },
  style: 'form',
  explode: true,
}

/** The OpenAPI document. */
export const openApiDocument = {
  openapi: '3.1.0',
  info: { title: 'Tidings HTTP API', version: '1', description: 'See docs/http-api.md for the prose reference.' },
  components: {
    securitySchemes: {
      bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
      queryToken: { type: 'apiKey', in: 'query', name: 'token' },
      cookieToken: { type: 'apiKey', in: 'cookie', name: 'tidings_token' },
    },
    schemas: {
      Error: {
        type: 'object',
        required: ['error'],
        properties: {
          error: {
            type: 'object',
            required: ['code', 'message'],
            properties: { code: { type: 'string', example: 'TIDINGS_ERR_INVALID_EVENT' }, message: { type: 'string' }, details: {} },
          },
        },
      },
      Event: {
        type: 'object',
        description: 'The event envelope (camelCase, null fields present).',
        required: ['id', 'schemaVersion', 'type', 'channels', 'tenant', 'key', 'occurredAt', 'data', 'job', 'traceparent'],
        properties: {
          id: { type: 'string' },
          schemaVersion: { const: 1 },
          type: { type: 'string', example: 'job.progress' },
          channels: { type: 'array', items: { type: 'string' } },
          tenant: { type: ['string', 'null'] },
          key: { type: ['string', 'null'] },
          occurredAt: { type: 'string', format: 'date-time' },
          data: {},
          job: {
            type: ['object', 'null'],
            properties: { id: { type: 'string' }, name: { type: 'string' }, queue: { type: 'string' }, attempt: { type: 'integer' } },
          },
          traceparent: { type: ['string', 'null'] },
        },
      },
      PublishInput: {
        oneOf: [
          {
            type: 'object',
            required: ['type', 'channels'],
            additionalProperties: false,
            properties: {
              id: { type: 'string' },
              schemaVersion: { const: 1 },
              type: { type: 'string' },
              channels: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 32 },
              tenant: { type: ['string', 'null'] },
              key: { type: ['string', 'null'] },
              occurredAt: { type: 'string', format: 'date-time' },
              data: {},
              job: { type: ['object', 'null'] },
              traceparent: { type: ['string', 'null'] },
            },
          },
          {
            type: 'object',
            description: 'Seed 000 snake_case form; user_id becomes channel user:{user_id}.',
            required: ['event_type', 'user_id'],
            additionalProperties: false,
            properties: {
              event_id: { type: 'string' },
              event_type: { type: 'string' },
              user_id: { type: 'string' },
              data: {},
              occurred_at: { type: 'string', format: 'date-time' },
            },
          },
        ],
      },
      Published: { type: 'object', required: ['id', 'cursor'], properties: { id: { type: 'string' }, cursor: { type: 'string' } } },
    },
  },
  security: [{ bearer: [] }, { queryToken: [] }, { cookieToken: [] }],
  paths: {
    '/v1/events': {
      get: {
        summary: 'Follow channels as a Server-Sent Events stream',
        parameters: [
          channelParam,
          { name: 'lastEventId', in: 'query', required: false, schema: { type: 'string', maxLength: 128 }, description: 'Resume after this cursor (the Last-Event-ID header wins).' },
          { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string', maxLength: 128 } },
        ],
        responses: {
          '200': { description: 'An event stream (text/event-stream).', content: { 'text/event-stream': { schema: { type: 'string' } } } },
          '400': errorResponse('Bad channel list.'),
          '401': errorResponse('No or bad token.'),
          '403': errorResponse('A channel outside the token\'s rights.'),
          '429': errorResponse('Too many connections for this principal.'),
        },
      },
    },
    '/v1/publish': {
      post: {
        summary: 'Publish one event or a batch',
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: { oneOf: [{ $ref: '#/components/schemas/PublishInput' }, { type: 'array', items: { $ref: '#/components/schemas/PublishInput' } }] },
            },
          },
        },
        responses: {
          '202': {
            description: 'Appended to the log. A single event answers `{id, cursor}`; a batch `{events: [{id, cursor}]}`.',
            content: { 'application/json': { schema: { oneOf: [{ $ref: '#/components/schemas/Published' }, { type: 'object', properties: { events: { type: 'array', items: { $ref: '#/components/schemas/Published' } } } }] } } },
          },
          '400': errorResponse('Malformed JSON or an invalid event.'),
          '401': errorResponse('No or bad token.'),
          '403': errorResponse('The token may not publish to a channel or tenant.'),
          '413': errorResponse('Event or body too large.'),
          '415': errorResponse('Body is not JSON.'),
          '503': errorResponse('The log did not accept the event.'),
        },
      },
    },
    '/v1/history': {
      get: {
        summary: 'Read the log for channels (polling fallback, debugging)',
        parameters: [
          channelParam,
          { name: 'after', in: 'query', required: false, schema: { type: 'string' }, description: 'A cursor; omitted = from the oldest retained event.' },
          { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
        ],
        responses: {
          '200': {
            description: 'A page of events.',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: {
                    epoch: { type: 'string' },
                    events: { type: 'array', items: { type: 'object', properties: { cursor: { type: 'string' }, event: { $ref: '#/components/schemas/Event' } } } },
                    next: { type: ['string', 'null'], description: 'Pass as `after` for the next page.' },
                    truncated: { type: 'boolean', description: 'Events after `after` were dropped by retention.' },
                  },
                },
              },
            },
          },
          '400': errorResponse('Bad parameters.'),
          '401': errorResponse('No or bad token.'),
          '403': errorResponse('A channel outside the token\'s rights.'),
          '410': errorResponse('The cursor is from another epoch of the log.'),
        },
      },
    },
    '/healthz': { get: { summary: 'Liveness', security: [], responses: { '200': { description: 'The process answers.' } } } },
    '/readyz': { get: { summary: 'Readiness: the log answers', security: [], responses: { '200': { description: 'Ready.' }, '503': { description: 'The log does not answer.' } } } },
    '/metrics': { get: { summary: 'Prometheus metrics', security: [], responses: { '200': { description: 'Prometheus text format.' } } } },
  },
} as const
