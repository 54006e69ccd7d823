/**
 * The webhook part of the OpenAPI document: schemas and paths, spread into `openapi.ts`.
 */
const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } })
const jsonBody = (schema: object) => ({ required: true, content: { 'application/json': { schema } } })
const jsonAnswer = (description: string, schema: object) => ({ description, content: { 'application/json': { schema } } })
const nullable = (type: string, extra: object = {}) => ({ type: [type, 'null'], ...extra })
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' }, description: 'The endpoint id.' }
const deliveryParam = { name: 'deliveryId', in: 'path', required: true, schema: { type: 'string' } }
const endpointRef = { $ref: '#/components/schemas/WebhookEndpoint' }
const deliveryRef = { $ref: '#/components/schemas/WebhookDelivery' }
const attemptRef = { $ref: '#/components/schemas/WebhookAttempt' }
const notYours = errorResponse('No such endpoint, or not one the caller may manage.')
const forbidden = errorResponse('Neither an admin nor a principal of a tenant.')

const endpointFields = {
  url: { type: 'string', format: 'uri', maxLength: 2048, description: 'http(s), no credentials; must not resolve to a private, loopback, link-local or metadata address.', example: 'https://example.com/hooks/tidings' },
  eventTypes: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 100, description: 'Event-type patterns; `*` matches any run of characters.', example: ['order.*'] },
  channels: { type: ['array', 'null'], items: { type: 'string' }, minItems: 1, maxItems: 100, description: 'Channel names or patterns the event must be on; null = every channel.' },
  headers: { type: 'object', additionalProperties: { type: 'string', maxLength: 1024 }, maxProperties: 20, description: 'Extra headers sent with each delivery (not webhook-*, content-type, host, user-agent).' },
  rateLimit: nullable('integer', { minimum: 1, maximum: 10000, description: 'Most attempts per second (per delivering process).' }),
  enabled: { type: 'boolean', default: true },
  retrySchedule: { type: ['array', 'null'], items: { type: 'number', minimum: 0 }, maxItems: 50, description: 'Seconds before each retry; null = the global schedule (Svix\'s: 5, 300, 1800, 7200, 18000, 36000, 36000).' },
}

const health = {
  type: 'object',
  required: ['lastSuccessAt', 'lastFailureAt', 'lastStatus', 'failureStreak', 'failingSince', 'disabledAt', 'disabledReason'],
  properties: {
    lastSuccessAt: nullable('string', { format: 'date-time' }),
    lastFailureAt: nullable('string', { format: 'date-time' }),
    lastStatus: nullable('integer', { description: '0 = no answer.' }),
    failureStreak: { type: 'integer' },
    failingSince: nullable('string', { format: 'date-time' }),
    disabledAt: nullable('string', { format: 'date-time' }),
    disabledReason: { enum: ['manual', 'gone', 'failing', null] },
  },
}

/** Schemas of webhook endpoints, deliveries and attempts. */
export const webhookSchemas = {
  WebhookEndpoint: {
    type: 'object',
    required: ['id', 'url', 'eventTypes', 'channels', 'tenant', 'headers', 'rateLimit', 'enabled', 'retrySchedule', 'cursor', 'health', 'createdAt', 'updatedAt', 'revision', 'previousSecretsExpireAt'],
    properties: {
      id: { type: 'string' },
      ...endpointFields,
      tenant: nullable('string', { description: 'A tenant\'s endpoint receives only that tenant\'s events.' }),
      cursor: nullable('string', { description: 'How far the dispatcher has enqueued deliveries.' }),
      health,
      createdAt: { type: 'string', format: 'date-time' },
      updatedAt: { type: 'string', format: 'date-time' },
      revision: { type: 'integer' },
      previousSecretsExpireAt: nullable('string', { format: 'date-time', description: 'Rotated-out secrets sign until then.' }),
    },
  },
  WebhookAttempt: {
    type: 'object',
    required: ['id', 'deliveryId', 'endpointId', 'eventId', 'attempt', 'at', 'url', 'status', 'durationMs', 'responseBody', 'error', 'trigger'],
    properties: {
      id: { type: 'string' },
      deliveryId: { type: 'string' },
      endpointId: { type: 'string' },
      eventId: { type: 'string', description: 'The webhook-id header.' },
      attempt: { type: 'integer', minimum: 1 },
      at: { type: 'string', format: 'date-time' },
      url: { type: 'string' },
      status: { type: 'integer', description: 'HTTP status; 0 when no answer came (refused, timeout, DNS, SSRF guard).' },
      durationMs: { type: 'integer' },
      responseBody: { type: 'string', maxLength: 20480, description: 'Cut to 20 KB.' },
      error: nullable('string'),
      trigger: { enum: ['scheduled', 'manual'] },
    },
  },
  WebhookDelivery: {
    type: 'object',
    description: 'One (endpoint, event) delivery. Lists leave `event` out; every form carries `attemptLog`.',
    required: ['id', 'endpointId', 'eventId', 'eventType', 'status', 'attempts', 'runs', 'jobId', 'nextTrigger', 'lastStatus', 'lastAttemptAt', 'nextAttemptAt', 'failureReason', 'createdAt', 'updatedAt'],
    properties: {
      id: { type: 'string' },
      endpointId: { type: 'string' },
      eventId: { type: 'string' },
      eventType: { type: 'string' },
      event: { $ref: '#/components/schemas/Event' },
      status: { enum: ['pending', 'succeeded', 'failed'] },
      attempts: { type: 'integer' },
      runs: { type: 'integer', description: '1, plus one per resend or recovery.' },
      jobId: nullable('string'),
      nextTrigger: { enum: ['scheduled', 'manual'] },
      lastStatus: nullable('integer'),
      lastAttemptAt: nullable('string', { format: 'date-time' }),
      nextAttemptAt: nullable('string', { format: 'date-time' }),
      failureReason: nullable('string', { description: '`exhausted`, `gone` or `endpoint disabled`.' }),
      createdAt: { type: 'string', format: 'date-time' },
      updatedAt: { type: 'string', format: 'date-time' },
      attemptLog: { type: 'array', items: attemptRef },
    },
  },
}

/** Paths of the webhook routes. */
export const webhookPaths = {
  '/v1/webhooks': {
    post: {
      summary: 'Create a webhook endpoint (admins; a tenant\'s principals for their tenant)',
      requestBody: jsonBody({
        type: 'object',
        required: ['url', 'eventTypes'],
        additionalProperties: false,
        properties: {
          ...endpointFields,
          secret: { type: 'string', description: '`whsec_` + base64 of 24–64 bytes; generated when absent.' },
          tenant: nullable('string', { description: 'Admins only; a tenant\'s principal always creates for its own tenant.' }),
        },
      }),
      responses: {
        '201': jsonAnswer('Created; the only answer besides a rotation that shows the secret.', { allOf: [endpointRef, { type: 'object', required: ['secret'], properties: { secret: { type: 'string' } } }] }),
        '400': errorResponse('Invalid URL, pattern, channel, header, schedule or secret, or a forbidden target.'),
        '401': errorResponse('No or bad token.'),
        '403': errorResponse('Neither an admin nor a principal of a tenant, or another tenant named.'),
      },
    },
    get: {
      summary: 'List endpoints the caller may manage',
      parameters: [{ name: 'tenant', in: 'query', required: false, schema: { type: 'string' }, description: 'Admins only.' }],
      responses: { '200': jsonAnswer('Endpoints, oldest first.', { type: 'object', properties: { endpoints: { type: 'array', items: endpointRef } } }), '403': forbidden },
    },
  },
  '/v1/webhooks/{id}': {
    get: { summary: 'One endpoint, with its health', parameters: [idParam], responses: { '200': jsonAnswer('The endpoint.', endpointRef), '404': notYours } },
    patch: {
      summary: 'Change, disable or enable an endpoint',
      description: 'Enabling clears the failure record and resumes from the endpoint\'s cursor.',
      parameters: [idParam],
      requestBody: jsonBody({ type: 'object', additionalProperties: false, properties: endpointFields }),
      responses: { '200': jsonAnswer('The changed endpoint.', endpointRef), '400': errorResponse('Invalid change or forbidden target.'), '404': notYours },
    },
    delete: { summary: 'Delete an endpoint with its deliveries', parameters: [idParam], responses: { '204': { description: 'Deleted.' }, '404': notYours } },
  },
  '/v1/webhooks/{id}/secret/rotate': {
    post: {
      summary: 'Rotate the signing secret',
      parameters: [idParam],
      requestBody: {
        required: false,
        content: {
          'application/json': {
            schema: {
              type: 'object',
              additionalProperties: false,
              properties: {
                secret: { type: 'string', description: 'The new secret; generated when absent.' },
                graceSeconds: { type: 'number', minimum: 0, default: 86400, description: 'How long previous secrets keep signing; 0 stops them now.' },
              },
            },
          },
        },
      },
      responses: { '200': jsonAnswer('The new secret and the endpoint.', { type: 'object', properties: { secret: { type: 'string' }, endpoint: endpointRef } }), '400': errorResponse('Malformed secret.'), '404': notYours },
    },
  },
  '/v1/webhooks/{id}/deliveries': {
    get: {
      summary: 'The attempt log: deliveries with their attempts, newest first',
      parameters: [
        idParam,
        { name: 'status', in: 'query', required: false, schema: { enum: ['pending', 'succeeded', 'failed'] } },
        { name: 'since', in: 'query', required: false, schema: { type: 'string', format: 'date-time' }, description: 'Created at or after.' },
        { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 } },
        { name: 'cursor', in: 'query', required: false, schema: { type: 'string' }, description: 'The `next` of the previous page.' },
      ],
      responses: { '200': jsonAnswer('A page.', { type: 'object', properties: { deliveries: { type: 'array', items: deliveryRef }, next: nullable('string') } }), '400': errorResponse('Bad parameters.'), '404': notYours },
    },
  },
  '/v1/webhooks/{id}/deliveries/{deliveryId}': {
    get: { summary: 'One delivery with its event and attempts', parameters: [idParam, deliveryParam], responses: { '200': jsonAnswer('The delivery.', deliveryRef), '404': errorResponse('No such endpoint or delivery.') } },
  },
  '/v1/webhooks/{id}/deliveries/{deliveryId}/resend': {
    post: {
      summary: 'Send a delivery again (a fresh schedule; the first attempt is logged as manual)',
      parameters: [idParam, deliveryParam],
      responses: {
        '202': jsonAnswer('Enqueued.', { type: 'object', properties: { delivery: deliveryRef } }),
        '404': errorResponse('No such endpoint or delivery.'),
        '409': errorResponse('Still being attempted, or the endpoint is disabled.'),
      },
    },
  },
  '/v1/webhooks/{id}/recover': {
    post: {
      summary: 'Send again every failed delivery created since a time',
      parameters: [idParam],
      requestBody: jsonBody({ type: 'object', required: ['since'], additionalProperties: false, properties: { since: { type: 'string', format: 'date-time' } } }),
      responses: { '202': jsonAnswer('Enqueued.', { type: 'object', properties: { recovered: { type: 'integer' } } }), '400': errorResponse('No or bad since.'), '404': notYours, '409': errorResponse('The endpoint is disabled.') },
    },
  },
  '/v1/webhooks/{id}/replay': {
    post: {
      summary: 'Deliver from the log what the endpoint never received: events since a time, or after a cursor',
      parameters: [idParam],
      requestBody: jsonBody({
        type: 'object',
        additionalProperties: false,
        description: 'Exactly one of since and after.',
        properties: { since: { type: 'string', format: 'date-time' }, after: { type: 'string', maxLength: 128, description: 'A cursor (SSE id).' } },
      }),
      responses: {
        '202': jsonAnswer('Enqueued.', { type: 'object', properties: { enqueued: { type: 'integer' }, scanned: { type: 'integer' }, truncated: { type: 'boolean', description: 'Part of the range had left the log.' } } }),
        '400': errorResponse('Neither or both of since and after, or a malformed cursor.'),
        '404': notYours,
        '409': errorResponse('The endpoint is disabled.'),
        '410': errorResponse('The cursor is from an earlier log.'),
      },
    },
  },
}
