/**
 * The OpenAPI 3.1 document of the JSON endpoints, served at `GET /v1/openapi.json` and copied to
 * `docs/openapi.json` (a test keeps the copy in step).
 */
import { webhookPaths, webhookSchemas } from './webhooks-openapi.js'

const errorRef = { $ref: '#/components/schemas/Error' }
const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: errorRef } } })
const jobRef = { $ref: '#/components/schemas/Job' }
const scheduleRef = { $ref: '#/components/schemas/Schedule' }
const jsonBody = (schema: object) => ({ required: true, content: { 'application/json': { schema } } })
const jsonAnswer = (description: string, schema: object) => ({ description, content: { 'application/json': { schema } } })
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } }
const nameParam = { name: 'name', in: 'path', required: true, schema: { type: 'string' } }
const nullable = (type: string, extra: object = {}) => ({ type: [type, 'null'], ...extra })
const jobError = { type: ['object', 'null'], required: ['message', 'code', 'stack'], properties: { message: { type: 'string' }, code: nullable('string'), stack: nullable('string') } }
const scheduleFields = {
  cron: { type: 'string', description: 'A croner pattern: 5 fields, or 6 with seconds first.', example: '0 9 * * 1-5' },
  job: { type: 'string', description: 'The job each tick enqueues.' },
  payload: { description: 'The job\'s payload, checked against its schema.' },
  timezone: nullable('string', { description: 'IANA zone; null = UTC.', example: 'Europe/Paris' }),
  enabled: { type: 'boolean', default: true },
}
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
      Job: {
        type: 'object',
        description: 'A job record (null fields present). See docs/jobs.md#records.',
        required: ['id', 'name', 'queue', 'status', 'payload', 'priority', 'key', 'owner', 'attempts', 'maxAttempts', 'enqueuedAt', 'runAt', 'startedAt', 'finishedAt', 'durationMs', 'progress', 'result', 'error', 'workerId', 'leaseExpiresAt', 'cancelRequestedAt', 'updatedAt'],
        properties: {
          id: { type: 'string' },
          name: { type: 'string', example: 'demo.report' },
          queue: { type: 'string', example: 'default' },
          status: { enum: ['delayed', 'queued', 'running', 'retrying', 'succeeded', 'failed', 'cancelled'] },
          payload: {},
          priority: { type: 'integer', minimum: -1000, maximum: 1000 },
          key: nullable('string'),
          owner: { type: ['object', 'null'], properties: { user: nullable('string'), tenant: nullable('string') } },
          attempts: { type: 'integer' },
          maxAttempts: { type: 'integer' },
          enqueuedAt: { type: 'string', format: 'date-time' },
          runAt: { type: 'string', format: 'date-time' },
          startedAt: nullable('string', { format: 'date-time' }),
          finishedAt: nullable('string', { format: 'date-time' }),
          durationMs: nullable('integer'),
          progress: {
            type: ['object', 'null'],
            properties: { current: { type: 'number' }, total: nullable('number'), percent: nullable('number'), message: nullable('string'), at: { type: 'string', format: 'date-time' } },
          },
          result: {},
          error: jobError,
          workerId: nullable('string'),
          leaseExpiresAt: nullable('string', { format: 'date-time' }),
          cancelRequestedAt: nullable('string', { format: 'date-time' }),
          updatedAt: { type: 'string', format: 'date-time' },
        },
      },
      Schedule: {
        type: 'object',
        required: ['name', 'cron', 'timezone', 'job', 'payload', 'enabled', 'lastRunAt', 'lastJobId', 'nextRunAt', 'revision', 'createdAt', 'updatedAt'],
        properties: {
          name: { type: 'string' },
          ...scheduleFields,
          lastRunAt: nullable('string', { format: 'date-time' }),
          lastJobId: nullable('string'),
          nextRunAt: nullable('string', { format: 'date-time' }),
          revision: { type: 'integer' },
          createdAt: { type: 'string', format: 'date-time' },
          updatedAt: { type: 'string', format: 'date-time' },
        },
      },
      ...webhookSchemas,
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
    '/v1/ws': {
      get: {
        summary: 'Follow channels over a WebSocket (upgrade); see docs/http-api.md for the messages',
        description:
          'The same stream as /v1/events as JSON text messages: `{"op":"event","cursor","event"}`, `{"op":"hb"}`; the client sends `{"op":"subscribe"|"unsubscribe","channels","id"?,"lastEventId"?}`. Refusals after the upgrade close with 4000 + the HTTP status (4401, 4403, …).',
        parameters: [
          { ...channelParam, required: false, description: 'Channels to follow from the start; more can be subscribed later.' },
          { name: 'lastEventId', in: 'query', required: false, schema: { type: 'string', maxLength: 128 }, description: 'Resume after this cursor.' },
        ],
        responses: {
          '101': { description: 'Switching protocols: the socket is open.' },
          '403': { description: 'The page\'s origin is neither this server\'s nor a CORS origin.' },
          '426': errorResponse('Not a WebSocket upgrade.'),
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
    '/v1/jobs': {
      post: {
        summary: 'Enqueue a job; the caller becomes its owner',
        description: 'Needs a token whose `tidings.enqueue` patterns name the job (admins: any). A non-admin\'s `key` is scoped to the caller.',
        requestBody: jsonBody({
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', example: 'demo.report' },
            payload: { description: 'Checked against the job\'s schema.', example: { steps: 5, stepMs: 500 } },
            delay: { type: 'number', minimum: 0, description: 'Milliseconds from now.' },
            runAt: { type: 'string', format: 'date-time' },
            priority: { type: 'integer', minimum: -1000, maximum: 1000 },
            key: { type: 'string', maxLength: 256, description: 'Dedup key.' },
          },
        }),
        responses: {
          '202': jsonAnswer('Enqueued.', {
            type: 'object',
            properties: {
              id: { type: 'string' },
              status: { type: 'string' },
              created: { const: true },
              followFrom: nullable('string', { description: 'A cursor from before the job existed: follow `job:{id}` with it as Last-Event-ID to see every event of the job.' }),
              job: jobRef,
            },
          }),
          '200': jsonAnswer('A retained job had the same key; nothing was enqueued (`created: false`).', { type: 'object' }),
          '400': errorResponse('Unknown job, payload failing its schema, or bad options.'),
          '401': errorResponse('No or bad token.'),
          '403': errorResponse('The token may not enqueue this job.'),
        },
      },
      get: {
        summary: 'List jobs, newest first: the caller\'s own, or every job for an admin',
        parameters: [
          { name: 'status', in: 'query', required: false, schema: { type: 'array', items: { type: 'string' } }, style: 'form', explode: true, description: 'Repeat or comma-separate.' },
          { name: 'name', in: 'query', required: false, schema: { type: 'string' } },
          { name: 'queue', in: 'query', required: false, schema: { type: 'string' } },
          { name: 'user', in: 'query', required: false, schema: { type: 'string' }, description: 'Owner (admins only).' },
          { name: 'tenant', in: 'query', required: false, schema: { type: 'string' }, description: 'Owner\'s tenant (admins only).' },
          { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 } },
          { name: 'cursor', in: 'query', required: false, schema: { type: 'string' }, description: 'The `next` of the previous page.' },
        ],
        responses: {
          '200': jsonAnswer('A page of jobs.', { type: 'object', properties: { jobs: { type: 'array', items: jobRef }, next: nullable('string') } }),
          '400': errorResponse('Bad parameters.'),
          '401': errorResponse('No or bad token.'),
          '403': errorResponse('A token without `sub` that is not an admin.'),
        },
      },
    },
    '/v1/jobs/{id}': {
      get: {
        summary: 'One job (its owner or an admin)',
        parameters: [idParam],
        responses: { '200': jsonAnswer('The record.', jobRef), '401': errorResponse('No or bad token.'), '404': errorResponse('No such job, or not the caller\'s.') },
      },
    },
    '/v1/jobs/{id}/cancel': {
      post: {
        summary: 'Cancel a job from any process (its owner or an admin)',
        parameters: [idParam],
        responses: {
          '200': jsonAnswer('It was waiting and is now cancelled.', { type: 'object', properties: { outcome: { const: 'cancelled' }, job: jobRef } }),
          '202': jsonAnswer('It is running: its worker was asked to stop it; `job.cancelled` follows.', { type: 'object', properties: { outcome: { const: 'requested' }, job: jobRef } }),
          '404': errorResponse('No such job, or not the caller\'s.'),
          '409': errorResponse('The job has already finished.'),
        },
      },
    },
    '/v1/jobs/{id}/retry': {
      post: {
        summary: 'Queue a failed or cancelled job again (its owner or an admin)',
        parameters: [idParam],
        responses: {
          '202': jsonAnswer('Queued again with a fresh attempt count.', { type: 'object', properties: { id: { type: 'string' }, status: { type: 'string' }, job: jobRef } }),
          '404': errorResponse('No such job, or not the caller\'s.'),
          '409': errorResponse('The job is neither failed nor cancelled.'),
        },
      },
    },
    '/v1/schedules': {
      get: {
        summary: 'List cron schedules (admins)',
        responses: { '200': jsonAnswer('Every schedule, by name.', { type: 'object', properties: { schedules: { type: 'array', items: scheduleRef } } }), '403': errorResponse('Not an admin.') },
      },
      post: {
        summary: 'Create a cron schedule (admins)',
        requestBody: jsonBody({ type: 'object', required: ['name', 'cron', 'job'], additionalProperties: false, properties: { name: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' }, ...scheduleFields } }),
        responses: {
          '201': jsonAnswer('Created.', scheduleRef),
          '400': errorResponse('Invalid cron, time zone or name; unknown job; payload failing its schema.'),
          '403': errorResponse('Not an admin.'),
          '409': errorResponse('A schedule with this name exists.'),
        },
      },
    },
    '/v1/schedules/{name}': {
      get: { summary: 'One schedule (admins)', parameters: [nameParam], responses: { '200': jsonAnswer('The schedule.', scheduleRef), '403': errorResponse('Not an admin.'), '404': errorResponse('No such schedule.') } },
      patch: {
        summary: 'Change, enable or disable a schedule (admins)',
        parameters: [nameParam],
        requestBody: jsonBody({ type: 'object', additionalProperties: false, properties: scheduleFields }),
        responses: { '200': jsonAnswer('The changed schedule.', scheduleRef), '400': errorResponse('Invalid change.'), '403': errorResponse('Not an admin.'), '404': errorResponse('No such schedule.') },
      },
      delete: { summary: 'Delete a schedule (admins)', parameters: [nameParam], responses: { '204': { description: 'Deleted.' }, '403': errorResponse('Not an admin.'), '404': errorResponse('No such schedule.') } },
    },
    ...webhookPaths,
    '/healthz': { get: { summary: 'Liveness', security: [], responses: { '200': { description: 'The process answers.' } } } },
    '/readyz': { get: { summary: 'Readiness: the log answers', security: [], responses: { '200': { description: 'Ready.' }, '503': { description: 'The log does not answer.' } } } },
    '/metrics': { get: { summary: 'Prometheus metrics', security: [], responses: { '200': { description: 'Prometheus text format.' } } } },
  },
} as const
