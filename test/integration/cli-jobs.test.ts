import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { after, before, describe, it } from 'node:test'
import { z } from 'zod'
import { startServer, type RunningServer } from '../../src/cli/server.js'

const root = new URL('../../', import.meta.url).pathname

interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

function spawnCli(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'src/cli/run.ts', ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
}

function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, env)
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`tidings ${args.join(' ')} did not exit in ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`))
    }, timeoutMs)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

describe('the tidings CLI against a dev server', () => {
  let server: RunningServer
  let env: NodeJS.ProcessEnv
  before(async () => {
    server = await startServer({
      mode: 'dev',
      env: { TIDINGS_PORT: '0', TIDINGS_DEMO: '0' },
      warn: () => {},
    })
    server.tidings.defineJob({
      name: 'test.fails',
      schema: z.object({}),
      retries: 0,
      handler: async (ctx) => {
        await ctx.log('about to fail', 'error')
        throw Object.assign(new Error('the report could not be built'), { code: 'E_REPORT' })
      },
    })
    env = { TIDINGS_URL: server.url, TIDINGS_TOKEN: '' }
  })
  after(async () => {
    await server.close()
  })

  it('job run demo.report --follow prints progress and the log, and exits 0 when the job succeeds', async () => {
    const r = await runCli(['job', 'run', 'demo.report', '--payload', '{"steps":3,"stepMs":20}', '--follow'], env)
    assert.equal(r.code, 0, r.stderr)
    const id = /enqueued demo\.report (\S+)/.exec(r.stdout)?.[1]
    assert.ok(id, r.stdout)
    assert.match(r.stdout, /\[info\] building a report in 3 steps/)
    assert.match(r.stdout, /1\/3 33\.3% step 1 of 3/)
    assert.match(r.stdout, /2\/3 66\.7% step 2 of 3/)
    assert.match(r.stdout, /\[##############################\] 3\/3 100% step 3 of 3/)
    assert.match(r.stdout, /succeeded in \d+ ms: \{"steps":3,"pages":9\}/)
    assert.equal((await server.tidings.getJob(id))?.status, 'succeeded')
  })

  it('job run --follow exits non-zero when the job fails, and shows why', async () => {
    const r = await runCli(['job', 'run', 'test.fails', '--follow'], env)
    assert.equal(r.code, 1, r.stdout + r.stderr)
    assert.match(r.stdout, /\[error\] about to fail/)
    assert.match(r.stdout, /failed after 1 attempt\(s\): E_REPORT: the report could not be built/)
  })

  it('refuses bad input with a clear error, exit 2, and enqueues nothing', async () => {
    const before = (await server.tidings.listJobs({}, { limit: 500 })).jobs.length
    const cases: [string[], RegExp][] = [
      [['job', 'run', 'demo.nope'], /TIDINGS_ERR_UNKNOWN_JOB: no job named "demo\.nope"/],
      [['job', 'run', 'demo.report', '--payload', '{"steps":-1}'], /TIDINGS_ERR_INVALID_PAYLOAD: job demo\.report: steps: /],
      [['job', 'run', 'demo.report', '--payload', '{steps: 1}'], /TIDINGS_ERR_INVALID_JSON: --payload is not JSON/],
      [['job', 'run', 'demo.report', '--delay=-5'], /TIDINGS_ERR_INVALID_JOB_OPTIONS: delay must be/],
      [['job', 'run'], /usage: tidings job run <name>/],
    ]
    for (const [args, message] of cases) {
      const r = await runCli([...args, '--follow'], env)
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout} ${r.stderr}`)
      assert.match(r.stderr, message)
    }
    assert.equal((await server.tidings.listJobs({}, { limit: 500 })).jobs.length, before)
  })

  it('job list and job status show the records; --json is for scripts', async () => {
    const id = await server.tidings.enqueue('demo.report', { steps: 1, stepMs: 0 })
    const status = await runCli(['job', 'status', id, '--json'], env)
    assert.equal(status.code, 0, status.stderr)
    const record = JSON.parse(status.stdout) as { id: string; name: string }
    assert.deepEqual([record.id, record.name], [id, 'demo.report'])
    const human = await runCli(['job', 'status', id], env)
    assert.match(human.stdout, new RegExp(`^id\\s+${id}$`, 'm'))
    assert.match(human.stdout, /^name\s+demo\.report$/m)
    const list = await runCli(['job', 'list', '--name', 'demo.report', '--json'], env)
    assert.equal(list.code, 0, list.stderr)
    assert.ok((JSON.parse(list.stdout) as { jobs: { id: string }[] }).jobs.some((j) => j.id === id))
    const table = await runCli(['job', 'list', '--name', 'demo.report'], env)
    assert.match(table.stdout, /^ID\s+NAME\s+STATUS/m)
    assert.match(table.stdout, new RegExp(id))
    const missing = await runCli(['job', 'status', 'no-such-job'], env)
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /TIDINGS_ERR_JOB_NOT_FOUND/)
  })

  it('tail prints what publish sends', async () => {
    const tail = spawnCli(['tail', '--channel', 'cli-test'], env)
    let out = ''
    let err = ''
    tail.stdout!.on('data', (d: Buffer) => (out += d.toString()))
    const following = new Promise<void>((resolve) => tail.stderr!.on('data', (d: Buffer) => ((err += d.toString()), err.includes('following') && resolve())))
    const exited = new Promise<number | null>((resolve) => tail.on('exit', resolve))
    await following
    const pub = await runCli(['publish', 'cli.hello', '--channel', 'cli-test', '--data', '{"x":1}'], env)
    assert.equal(pub.code, 0, pub.stderr)
    assert.match(pub.stdout, /^published \S+ at \S+$/m)
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (out.includes('cli.hello')) resolve()
        else tail.stdout!.once('data', check)
      }
      check()
    })
    tail.kill('SIGINT')
    assert.equal(await exited, 0)
    assert.match(out, /^cli\.hello {2}cli-test {2}\{"x":1\}$/m)
  })

  it('worker --jobs <module> runs the jobs the module exports until SIGTERM; a module without definitions is a clear error', async () => {
    const worker = spawnCli(['worker', '--jobs', './test/fixtures/jobs-module.ts', '--concurrency', '2'], {})
    let out = ''
    let err = ''
    const exited = new Promise<number | string | null>((resolve) => worker.on('exit', (code, signal) => resolve(code ?? signal)))
    // stdout and stderr are separate pipes: wait until both have said their line.
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (out.includes('\n') && err.includes('memory engine')) resolve()
      }
      worker.stdout!.on('data', (d: Buffer) => {
        out += d.toString()
        check()
      })
      worker.stderr!.on('data', (d: Buffer) => {
        err += d.toString()
        check()
      })
    })
    assert.match(out, /^worker \S+ running fixture\.hello, fixture\.other$/m)
    assert.match(err, /the memory engine lives inside this process/)
    worker.kill('SIGTERM')
    assert.equal(await exited, 0, `worker output:\n${out}\n${err}`)

    const bad = await runCli(['worker', '--jobs', './test/fixtures/not-jobs.ts'], {})
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /TIDINGS_ERR_INVALID_CONFIG: --jobs \.\/test\/fixtures\/not-jobs\.ts: the module must export an array of defineJob/)
    const none = await runCli(['worker'], {})
    assert.equal(none.code, 2)
    assert.match(none.stderr, /tidings worker needs --jobs <module>/)
  })
})
