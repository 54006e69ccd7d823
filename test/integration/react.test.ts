import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { EventSource } from 'eventsource'
import { createElement, useEffect } from 'react'
import TestRenderer, { act } from 'react-test-renderer'
import { demoReport } from '../../src/cli/demo-job.js'
import { useJob, useTidings, type JobView, type UseTidingsResult } from '../../src/react/index.js'
import { startTestServer } from '../helpers/harness.js'

// Updates come from the network, not from inside act(): let React schedule them itself.
;(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = false

/** Renders a hook in a component and resolves once a rendered value passes `check`. */
function renderHook<T>(hook: () => T): { until(what: string, check: (value: T) => boolean): Promise<T>; unmount(): void; renders: T[] } {
  const renders: T[] = []
  let waiters: { check: (v: T) => boolean; resolve: (v: T) => void }[] = []
  function Probe(): null {
    const value = hook()
    useEffect(() => {
      renders.push(value)
      waiters = waiters.filter((w) => (w.check(value) ? (w.resolve(value), false) : true))
    })
    return null
  }
  let renderer: TestRenderer.ReactTestRenderer
  void act(() => {
    renderer = TestRenderer.create(createElement(Probe))
  })
  return {
    renders,
    until(what, check) {
      const last = renders.at(-1)
      if (last !== undefined && check(last)) return Promise.resolve(last)
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; last render ${JSON.stringify(renders.at(-1))?.slice(0, 300)}`)), 10_000)
        waiters.push({ check, resolve: (v) => (clearTimeout(timer), resolve(v)) })
      })
    },
    unmount: () => void act(() => renderer.unmount()),
  }
}

describe('tidings/react against a real server', () => {
  it('useTidings renders the connection state and the latest events', async () => {
    const srv = await startTestServer()
    try {
      const hook = renderHook<UseTidingsResult>(() => useTidings(['r:1'], { url: srv.url, EventSource }))
      await hook.until('connected', (v) => v.state === 'connected')
      const [a, b] = await srv.tidings.publish([
        { type: 't.r', channels: ['r:1'], data: 1 },
        { type: 't.r', channels: ['r:1'], data: 2 },
      ])
      const v = await hook.until('two events', (x) => x.events.length === 2)
      assert.deepEqual(
        v.events.map((e) => e.id),
        [a!.id, b!.id],
      )
      assert.equal(v.latest?.id, b!.id)
      assert.equal(v.cursor, b!.cursor)
      hook.unmount()
      assert.equal(hook.renders.at(-1)!.client!.state, 'disconnected', 'unmounting closes the connection')
    } finally {
      await srv.close()
    }
  })

  it('useJob follows a job to succeeded with its progress, logs and result', async () => {
    const srv = await startTestServer({ jobDefinitions: [demoReport] })
    try {
      await srv.tidings.startWorker()
      const id = await srv.tidings.enqueue(demoReport, { steps: 2, stepMs: 30 })
      const hook = renderHook<JobView | null>(() => useJob(id, { url: srv.url, EventSource }))
      const done = await hook.until('succeeded', (v) => v?.status === 'succeeded' && v.record?.status === 'succeeded')
      assert.equal(done!.progress?.percent, 100)
      assert.deepEqual(done!.result, { steps: 2, pages: 6 })
      assert.equal(done!.logs.length, 2)
      hook.unmount()
    } finally {
      await srv.close()
    }
  })
})
