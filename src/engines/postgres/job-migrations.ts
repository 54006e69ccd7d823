/**
 * The job queue's migrations: component `jobs` of the schema's `migrations` table (see
 * migrations.ts), beside the event log's `events`. The two components share the schema and the
 * migration lock, never a table.
 */
import type { Migration } from './migrations.js'

/** Statuses of a job waiting for a worker: the leasing indexes hold only these rows. */
const WAITING = `('delayed', 'queued', 'retrying')`

/**
 * The job queue's migrations.
 *
 * - `jobs`: one row per retained job. `seq` is the enqueue order (the list cursor, newest first);
 *   `token`, `worker_id` and `lease_expires_at` are set exactly while the job runs (a CHECK keeps
 *   that true). JSON fields are `json`, not `jsonb`, so payloads and results come back with their
 *   keys in the order they were written.
 * - `jobs_key`: the dedup key, unique among retained rows. Pruning deletes the row and so frees the key.
 * - `jobs_lane`: waiting rows of a (queue, name) lane in lease order, so a lease is an ordered index
 *   scan per lane with `FOR UPDATE SKIP LOCKED`, however deep the backlog.
 * - `jobs_lane_due` (version 1; replaced by `jobs_lane_later` in version 2): the same rows by `run_at`.
 * - `jobs_lane_later` (version 2): `delayed` and `retrying` rows of a lane by `run_at`: when the next
 *   one falls due (a waiting worker's timer). It leaves out `queued` rows, which are due by
 *   definition, so the lease's lane scan (which asks for every waiting status) can only use
 *   `jobs_lane`: with `jobs_lane_due` the planner, misled by stale statistics on a table that
 *   filled up since its last ANALYZE, read and sorted a lane's whole backlog on every lease.
 * - `jobs_leases`: running rows by lease expiry: the takeover of a dead worker's jobs.
 * - `jobs_finished`: finished rows by `finished_at`: retention.
 * - `jobs_owner`: an owner's jobs, newest first (what a user's `GET /v1/jobs` reads).
 * - `schedules`: cron schedules; `claimScheduleTick` locks the row it claims a tick of.
 * - `notify_job_lane`: the wake-up every statement that makes a job leasable sends, in its own
 *   transaction: `["queue", "name"]` as the payload, or an empty payload (wake everyone) when that
 *   would pass 7 000 bytes (PostgreSQL refuses payloads from 8 000).
 * - `lease_jobs`: expired leases of the asked queues taken back (or ended `failed`, returned as
 *   such), then the best due jobs across the asked lanes leased, all in one transaction on the
 *   server: one round trip per lease.
 */
export const JOB_QUEUE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'job queue: jobs, schedules, lane notify and lease functions',
    async up(client, { schema }) {
      await client.query(`CREATE TABLE ${schema}.jobs (
        id text PRIMARY KEY,
        seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
        name text NOT NULL,
        queue text NOT NULL,
        payload json NOT NULL,
        priority integer NOT NULL,
        key text,
        has_owner boolean NOT NULL,
        owner_user text,
        owner_tenant text,
        status text NOT NULL CHECK (status IN ('delayed', 'queued', 'running', 'retrying', 'succeeded', 'failed', 'cancelled')),
        attempts integer NOT NULL DEFAULT 0,
        max_attempts integer NOT NULL,
        enqueued_at timestamptz NOT NULL,
        run_at timestamptz NOT NULL,
        started_at timestamptz,
        finished_at timestamptz,
        duration_ms bigint,
        progress json,
        result json,
        error json,
        worker_id text,
        token text,
        lease_expires_at timestamptz,
        cancel_requested_at timestamptz,
        updated_at timestamptz NOT NULL,
        CHECK ((status = 'running') = (token IS NOT NULL AND worker_id IS NOT NULL AND lease_expires_at IS NOT NULL)),
        CHECK ((status IN ('succeeded', 'failed', 'cancelled')) = (finished_at IS NOT NULL))
      )`)
      await client.query(`CREATE UNIQUE INDEX jobs_key ON ${schema}.jobs (key) WHERE key IS NOT NULL`)
      await client.query(`CREATE INDEX jobs_lane ON ${schema}.jobs (queue, name, priority DESC, run_at, seq) WHERE status IN ${WAITING}`)
      await client.query(`CREATE INDEX jobs_lane_due ON ${schema}.jobs (queue, name, run_at) WHERE status IN ${WAITING}`)
      await client.query(`CREATE INDEX jobs_leases ON ${schema}.jobs (queue, lease_expires_at) WHERE status = 'running'`)
      await client.query(`CREATE INDEX jobs_finished ON ${schema}.jobs (finished_at) WHERE status IN ('succeeded', 'failed', 'cancelled')`)
      await client.query(`CREATE INDEX jobs_owner ON ${schema}.jobs (owner_user, seq) WHERE owner_user IS NOT NULL`)
      await client.query(`CREATE TABLE ${schema}.schedules (
        name text PRIMARY KEY,
        cron text NOT NULL,
        timezone text,
        job text NOT NULL,
        payload json NOT NULL,
        enabled boolean NOT NULL,
        last_run_at timestamptz,
        last_job_id text,
        next_run_at timestamptz,
        revision integer NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      )`)
      // DDL takes no bind parameters: `schema` is a validated, quoted identifier.
      await client.query(`CREATE FUNCTION ${schema}.notify_job_lane(channel text, queue text, name text) RETURNS void
        LANGUAGE sql VOLATILE AS $fn$
          SELECT pg_notify(channel, CASE WHEN octet_length(l.payload) <= 7000 THEN l.payload ELSE '' END)
          FROM (SELECT json_build_array(queue, name)::text AS payload) l
        $fn$`)
      await client.query(`CREATE FUNCTION ${schema}.lease_jobs(p_queues text[], p_names text[], p_worker text, p_lease_ms bigint,
          p_limit integer, p_token text, p_lost_error json, p_batch integer, p_channel text)
        RETURNS SETOF ${schema}.jobs
        LANGUAGE plpgsql VOLATILE AS $fn$
        DECLARE
          t timestamptz := now();
          r ${schema}.jobs;
        BEGIN
          -- A lease that expired means its worker died or stalled: the job goes back to its lane
          -- (this call may lease it again below), or ends failed when no attempt is left.
          FOR r IN
            WITH expired AS (
              SELECT j.id FROM ${schema}.jobs j
              WHERE j.status = 'running' AND j.queue = ANY (p_queues) AND j.lease_expires_at <= t
              ORDER BY j.lease_expires_at LIMIT p_batch FOR UPDATE SKIP LOCKED
            )
            UPDATE ${schema}.jobs j SET
              status = CASE WHEN j.attempts >= j.max_attempts THEN 'failed' ELSE 'queued' END,
              error = CASE WHEN j.attempts >= j.max_attempts THEN p_lost_error ELSE j.error END,
              finished_at = CASE WHEN j.attempts >= j.max_attempts THEN t END,
              duration_ms = CASE WHEN j.attempts >= j.max_attempts THEN floor(extract(epoch FROM t - j.started_at) * 1000) END,
              run_at = CASE WHEN j.attempts >= j.max_attempts THEN j.run_at ELSE t END,
              worker_id = NULL, token = NULL, lease_expires_at = NULL, updated_at = t
            FROM expired e WHERE j.id = e.id
            RETURNING j.*
          LOOP
            IF r.status = 'failed' THEN
              RETURN NEXT r;
            ELSE
              PERFORM ${schema}.notify_job_lane(p_channel, r.queue, r.name);
            END IF;
          END LOOP;
          -- Per lane, the best due rows in index order, skipping rows other leases hold; then the
          -- best of those across lanes. Candidates not taken stay locked only until this commits.
          RETURN QUERY
            WITH lanes AS (
              SELECT DISTINCT q.queue, n.name FROM unnest(p_queues) AS q(queue) CROSS JOIN unnest(p_names) AS n(name)
            ), candidates AS (
              SELECT c.id, c.priority, c.run_at, c.seq FROM lanes l CROSS JOIN LATERAL (
                SELECT j.id, j.priority, j.run_at, j.seq FROM ${schema}.jobs j
                WHERE j.queue = l.queue AND j.name = l.name AND j.status IN ${WAITING} AND j.run_at <= t
                ORDER BY j.priority DESC, j.run_at, j.seq
                LIMIT p_limit FOR UPDATE SKIP LOCKED
              ) c
            ), picked AS (
              SELECT c.id, row_number() OVER (ORDER BY c.priority DESC, c.run_at, c.seq) AS rank
              FROM candidates c ORDER BY rank LIMIT p_limit
            ), leased AS (
              UPDATE ${schema}.jobs j SET
                status = 'running', attempts = j.attempts + 1, started_at = t, finished_at = NULL, duration_ms = NULL,
                progress = NULL, worker_id = p_worker, token = p_token || '.' || p.rank,
                lease_expires_at = t + p_lease_ms * interval '1 millisecond', updated_at = t
              FROM picked p WHERE j.id = p.id
              RETURNING j.*
            )
            SELECT * FROM leased ORDER BY leased.priority DESC, leased.run_at, leased.seq;
        END
        $fn$`)
    },
  },
  {
    version: 2,
    name: 'job queue: the due-time index holds only delayed and retrying rows',
    async up(client, { schema }) {
      await client.query(`DROP INDEX ${schema}.jobs_lane_due`)
      await client.query(`CREATE INDEX jobs_lane_later ON ${schema}.jobs (queue, name, run_at) WHERE status IN ('delayed', 'retrying')`)
    },
  },
]
