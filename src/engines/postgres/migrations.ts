/**
 * Versioned migrations for the PostgreSQL engine. Each component (`events` here; the job queue adds
 * its own) keeps an ordered list of migrations; `migrate` applies the missing ones in one
 * transaction under an advisory lock, so any number of processes may start at once: the first
 * migrates, the others wait for its commit and find nothing left to do. DDL is transactional in
 * PostgreSQL, so a failed migration leaves nothing half-applied.
 */
import { createHash, randomBytes } from 'node:crypto'
import type { ClientBase } from 'pg'
import { TidingsError } from '../../core/errors.js'

/** Default schema the engine creates its tables in. */
export const DEFAULT_SCHEMA = 'tidings'
/**
 * Schema names the engine accepts: lower-case letters, digits and `_`, at most 48 characters, so
 * that the derived `LISTEN` channel (`tidings:<schema>:events`) stays within PostgreSQL's 63-byte
 * identifier limit.
 */
export const SCHEMA_NAME_RE = /^[a-z_][a-z0-9_]{0,47}$/

/** Throws `TIDINGS_ERR_INVALID_CONFIG` unless `schema` is a schema name the engine accepts. */
export function assertSchemaName(schema: string): void {
  if (!SCHEMA_NAME_RE.test(schema)) {
    throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', {
      detail: `schema ${JSON.stringify(schema.slice(0, 60))} is not valid: use 1–48 characters of [a-z0-9_], not starting with a digit`,
    })
  }
}

/** The schema name as a quoted identifier. Only for names that passed {@link assertSchemaName}. */
export function quoteSchema(schema: string): string {
  assertSchemaName(schema)
  return `"${schema}"`
}

/**
 * A stable 64-bit advisory-lock key for `name`, as a decimal string (PostgreSQL's `bigint`).
 * Derived by hashing, so two schemas, or two locks of one schema, never share a key by design.
 */
export function advisoryLockKey(name: string): string {
  return createHash('sha256').update(`tidings:${name}`).digest().readBigInt64BE(0).toString()
}

/** What a migration gets besides the client. */
export interface MigrationContext {
  /** The schema, validated and quoted: `"tidings"`. */
  readonly schema: string
  /** The unquoted schema name. */
  readonly schemaName: string
}

/** One step of a component's schema. Versions start at 1 and never change once released. */
export interface Migration {
  /** Position in the component's history, from 1. */
  readonly version: number
  /** What it does, recorded in the `migrations` table. */
  readonly name: string
  /** Runs inside the migrating transaction; must not commit. */
  up(client: ClientBase, context: MigrationContext): Promise<void>
}

/** What {@link migrate} did. */
export interface MigrationReport {
  /** Versions applied by this call, oldest first; empty when the schema was current. */
  readonly applied: number[]
  /** The newest version recorded for the component after the call. */
  readonly version: number
}

/**
 * Brings `component`'s tables in `schema` up to the newest of `migrations`, creating the schema
 * and the `migrations` table as needed. Safe to call from many processes at once.
 */
export async function migrate(client: ClientBase, schemaName: string, component: string, migrations: readonly Migration[]): Promise<MigrationReport> {
  const schema = quoteSchema(schemaName)
  await client.query('BEGIN')
  try {
    // Serialises every migrating process of this schema, including the CREATE SCHEMA below, which
    // is not safe to run concurrently even with IF NOT EXISTS.
    await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [advisoryLockKey(`${schemaName}:migrate`)])
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`)
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${schema}.migrations (
        component text NOT NULL,
        version integer NOT NULL,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (component, version)
      )`,
    )
    const { rows } = await client.query<{ version: number | null }>(`SELECT max(version) AS version FROM ${schema}.migrations WHERE component = $1`, [component])
    const current = rows[0]?.version ?? 0
    const applied: number[] = []
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (m.version <= current) continue
      await m.up(client, { schema, schemaName })
      await client.query(`INSERT INTO ${schema}.migrations (component, version, name) VALUES ($1, $2, $3)`, [component, m.version, m.name])
      applied.push(m.version)
    }
    await client.query('COMMIT')
    return { applied, version: applied.length > 0 ? applied[applied.length - 1]! : current }
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw err
  }
}

/** A new random epoch: 12 characters of `[A-Za-z0-9_-]`. */
export function newEpoch(): string {
  return randomBytes(9).toString('base64url')
}

/** The event log's lock key for `schema`: appends, the inbox sequencer and retention all take it. */
export function eventLogLockKey(schemaName: string): string {
  return advisoryLockKey(`${schemaName}:events`)
}

/**
 * The event log's migrations.
 *
 * - `events`: one row per event; `position` is assigned under the log's advisory lock, contiguous
 *   from 1; `body` is the envelope's canonical JSON, sent to clients as stored.
 * - `event_channels`: one row per (channel, event); its primary key makes a replay filtered by
 *   channel an index range scan. `COLLATE "C"` lets `LIKE 'prefix%'` use the index too.
 * - `meta`: `epoch` (random, made here: a dropped and recreated schema is a new epoch) and
 *   `trimmed_to`, the newest position retention removed (0 while nothing was removed).
 * - `inbox`: events published inside a caller's transaction, waiting for the sequencer to give
 *   them positions once that transaction has committed.
 * - `append_events` / `trim_events`: the two writers, as functions, so that the lock is held only
 *   while the server runs them, never across a network round trip to a client.
 */
export const EVENT_LOG_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'event log: events, channels, meta, inbox, append and trim functions',
    async up(client, { schema, schemaName }) {
      const lock = eventLogLockKey(schemaName)
      await client.query(`CREATE TABLE ${schema}.events (
        position bigint PRIMARY KEY,
        id text NOT NULL,
        body text NOT NULL,
        appended_at timestamptz NOT NULL DEFAULT clock_timestamp()
      )`)
      await client.query(`CREATE TABLE ${schema}.event_channels (
        channel text COLLATE "C" NOT NULL,
        position bigint NOT NULL,
        PRIMARY KEY (channel, position)
      )`)
      await client.query(`CREATE INDEX event_channels_position ON ${schema}.event_channels (position)`)
      await client.query(`CREATE TABLE ${schema}.meta (key text PRIMARY KEY, value text NOT NULL)`)
      await client.query(`INSERT INTO ${schema}.meta (key, value) VALUES ('epoch', $1), ('trimmed_to', '0')`, [newEpoch()])
      await client.query(`CREATE TABLE ${schema}.inbox (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        event_id text NOT NULL,
        body text NOT NULL,
        channels text NOT NULL,
        -- A malformed row would stop the sequencer, and every append behind it: refuse it here.
        CHECK (json_typeof(body::json) = 'object' AND json_typeof(channels::json) = 'array')
      )`)
      // DDL takes no bind parameters: `schema` is a validated, quoted identifier and `lock` a
      // decimal integer this module computed.
      await client.query(`CREATE FUNCTION ${schema}.append_events(ids text[], bodies text[], channel_lists text[], inbox_batch integer)
        RETURNS TABLE (first_position bigint, head bigint, trimmed_to bigint, epoch text, moved_from_inbox bigint, inbox_more boolean)
        LANGUAGE plpgsql VOLATILE AS $fn$
        #variable_conflict use_column
        DECLARE
          base bigint;
          moved bigint;
        BEGIN
          IF current_setting('transaction_isolation') <> 'read committed' THEN
            RAISE EXCEPTION 'tidings: append_events needs READ COMMITTED (PostgreSQL''s default), not %', current_setting('transaction_isolation');
          END IF;
          -- Held until this transaction ends. PostgreSQL releases it only after the commit is
          -- visible, so the next holder, and any reader that sees its events, sees ours.
          PERFORM pg_advisory_xact_lock(${lock});
          -- A statement after the lock: under READ COMMITTED it sees every earlier holder's commit.
          SELECT greatest(coalesce(max(e.position), 0), (SELECT m.value::bigint FROM ${schema}.meta m WHERE m.key = 'trimmed_to'))
            INTO base FROM ${schema}.events e;
          WITH taken AS (
            DELETE FROM ${schema}.inbox i WHERE i.id IN (SELECT x.id FROM ${schema}.inbox x ORDER BY x.id LIMIT inbox_batch)
            RETURNING i.id, i.event_id, i.body, i.channels
          ), numbered AS (
            SELECT base + row_number() OVER (ORDER BY t.id) AS position, t.event_id, t.body, t.channels FROM taken t
          ), channel_rows AS (
            INSERT INTO ${schema}.event_channels (channel, position)
            SELECT DISTINCT c.name, n.position FROM numbered n CROSS JOIN LATERAL json_array_elements_text(n.channels::json) AS c(name)
          )
          INSERT INTO ${schema}.events (position, id, body) SELECT n.position, n.event_id, n.body FROM numbered n;
          GET DIAGNOSTICS moved = ROW_COUNT;
          INSERT INTO ${schema}.events (position, id, body)
            SELECT base + moved + t.ord, t.id, t.body FROM unnest(ids, bodies) WITH ORDINALITY AS t(id, body, ord);
          INSERT INTO ${schema}.event_channels (channel, position)
            SELECT DISTINCT c.name, base + moved + t.ord
            FROM unnest(channel_lists) WITH ORDINALITY AS t(list, ord) CROSS JOIN LATERAL json_array_elements_text(t.list::json) AS c(name);
          first_position := base + moved + 1;
          head := base + moved + coalesce(cardinality(ids), 0);
          SELECT m.value::bigint INTO trimmed_to FROM ${schema}.meta m WHERE m.key = 'trimmed_to';
          SELECT m.value INTO epoch FROM ${schema}.meta m WHERE m.key = 'epoch';
          moved_from_inbox := moved;
          inbox_more := moved = inbox_batch;
          RETURN NEXT;
        END
        $fn$`)
      await client.query(`CREATE FUNCTION ${schema}.trim_events(max_events bigint, max_age_ms bigint, batch integer)
        RETURNS TABLE (trimmed_to bigint, more boolean)
        LANGUAGE plpgsql VOLATILE AS $fn$
        #variable_conflict use_column
        DECLARE
          t bigint;
          h bigint;
          goal bigint;
          aged bigint;
          target bigint;
        BEGIN
          PERFORM pg_advisory_xact_lock(${lock});
          SELECT m.value::bigint INTO t FROM ${schema}.meta m WHERE m.key = 'trimmed_to';
          SELECT coalesce(max(e.position), t) INTO h FROM ${schema}.events e;
          goal := greatest(t, h - max_events);
          -- Retention removes a prefix of positions, so "truncated" stays exact from trimmed_to.
          SELECT max(o.position) INTO aged
            FROM (SELECT e.position, e.appended_at FROM ${schema}.events e WHERE e.position > t ORDER BY e.position LIMIT batch) o
            WHERE o.appended_at < clock_timestamp() - max_age_ms * interval '1 millisecond';
          goal := greatest(goal, coalesce(aged, t));
          target := least(goal, t + batch);
          IF target > t THEN
            DELETE FROM ${schema}.event_channels c WHERE c.position > t AND c.position <= target;
            DELETE FROM ${schema}.events e WHERE e.position > t AND e.position <= target;
            UPDATE ${schema}.meta m SET value = target::text WHERE m.key = 'trimmed_to';
          END IF;
          trimmed_to := target;
          more := goal > target OR aged = t + batch;
          RETURN NEXT;
        END
        $fn$`)
    },
  },
]
