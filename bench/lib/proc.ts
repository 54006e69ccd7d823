/**
 * Child processes for benchmarks, pinned to a core with taskset and driven over IPC.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'

/** A child driven by request/answer messages. */
export class BenchProcess {
  readonly child: ChildProcess
  #queue: ((msg: any) => void)[] = []
  readonly ready: Promise<any>
  /** Gets what the child sends unasked, as `{ notice: … }`; such messages never answer an `ask`. */
  onNotice: ((notice: any) => void) | null = null

  constructor(script: string, core: number | null, env: NodeJS.ProcessEnv = {}) {
    const extra = process.env.BENCH_NODE_ARGS ? process.env.BENCH_NODE_ARGS.split(' ') : []
    const node = [process.execPath, ...extra, '--import', 'tsx', new URL(script, import.meta.url).pathname]
    const useTaskset = core !== null && existsSync('/usr/bin/taskset')
    const [cmd, ...args] = useTaskset ? ['taskset', '-c', String(core), ...node] : node
    this.child = spawn(cmd!, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, TIDINGS_LOG_LEVEL: 'silent', ...env } })
    this.ready = new Promise((resolve) => this.#queue.push(resolve))
    this.child.on('message', (msg: any) => {
      if (msg !== null && typeof msg === 'object' && 'notice' in msg) this.onNotice?.(msg.notice)
      else this.#queue.shift()?.(msg)
    })
  }

  /** The child's pid (taskset execs node in place, so it is node's). */
  get pid(): number {
    return this.child.pid!
  }

  /** Kills the child with SIGKILL, by its pid, as a crash would; resolves once it has exited. */
  crash(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve()
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()))
    process.kill(this.pid, 'SIGKILL')
    return exited
  }

  /** Sends a command and resolves with the child's answer. */
  ask<T = any>(msg: object): Promise<T> {
    return new Promise((resolve) => {
      this.#queue.push(resolve)
      this.child.send(msg)
    })
  }

  kill(): void {
    this.child.send({ cmd: 'exit' })
    setTimeout(() => this.child.kill('SIGKILL'), 2_000).unref()
  }
}
