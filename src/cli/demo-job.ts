/**
 * The built-in demo job `demo.report`: `steps` steps of `stepMs` each, with progress after every
 * step and a log line at the start and the end. `tidings dev` registers it; the page at `/` runs it.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { z } from 'zod'
import { defineJob } from '../core/jobs/define.js'

/** Default number of steps of a demo report. */
export const DEMO_REPORT_STEPS = 5
/** Default length of one step. */
export const DEMO_REPORT_STEP_MS = 500

/** `demo.report`: payload `{ steps: integer, stepMs: integer }`. */
export const demoReport = defineJob({
  name: 'demo.report',
  schema: z.strictObject({
    steps: z.int().min(1).max(1_000).default(DEMO_REPORT_STEPS),
    stepMs: z.int().min(0).max(60_000).default(DEMO_REPORT_STEP_MS),
  }),
  retries: 0,
  async handler(ctx) {
    const { steps, stepMs } = ctx.payload
    await ctx.log(`building a report in ${steps} steps`)
    for (let step = 1; step <= steps; step++) {
      await sleep(stepMs, undefined, { signal: ctx.signal })
      await ctx.progress(step, steps, `step ${step} of ${steps}`)
    }
    await ctx.log('report ready')
    return { steps, pages: steps * 3 }
  },
})
