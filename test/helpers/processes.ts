/**
 * Spawned `tidings` CLI processes for process-level tests. Each runs `node --import tsx
 * src/cli/run.ts …` directly (no shell, no wrapper), so its pid is the Tidings process itself and
 * `kill(pid, 'SIGKILL')` is a real crash. Readiness is read from what the process prints, never
 * waited out. Every process started here is killed, by its pid, when the test file ends.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { after } from 'node:test'

const root = new URL('../../', import.meta.url).pathname

/** How a process ended. */
export interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

const running = new Set<CliProcess>()

/** One spawned CLI process with its output. */
export class CliProcess {
  readonly child: ChildProcess
  readonly pid: number
  readonly exited: Promise<Exit>
  stdout = ''
  stderr = ''
  exit: Exit | null = null
  #listeners = new Set<() => void>()

  private constructor(
    readonly label: string,
    args: string[],
    env: NodeJS.ProcessEnv,
  ) {
    this.child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/run.ts', ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    if (this.child.pid === undefined) throw new Error(`${label}: could not spawn tidings ${args.join(' ')}`)
    this.pid = this.child.pid
    running.add(this)
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal }
        running.delete(this)
        this.#notify()
        resolve(this.exit)
      })
    })
    this.child.stdout!.on('data', (d: Buffer) => {
      this.stdout += d.toString()
      this.#notify()
    })
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString()
      this.#notify()
    })
  }

  /** Spawns `tidings <args>` with `env` over this process's environment. */
  static spawn(label: string, args: string[], env: NodeJS.ProcessEnv): CliProcess {
    return new CliProcess(label, args, env)
  }

  /** Resolves with the first match of `re` in stdout; rejects if the process exits first or after `timeoutMs`. */
  waitForOutput(re: RegExp, timeoutMs = 20_000): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const m = re.exec(this.stdout)
        if (m !== null) done(() => resolve(m))
        else if (this.exit !== null) done(() => reject(new Error(`${this.label} exited (${this.exit!.code ?? this.exit!.signal}) before printing ${re}\n${this.output()}`)))
      }
      const timer = setTimeout(() => done(() => reject(new Error(`${this.label} did not print ${re} within ${timeoutMs} ms\n${this.output()}`))), timeoutMs)
      const done = (settle: () => void): void => {
        clearTimeout(timer)
        this.#listeners.delete(check)
        settle()
      }
      this.#listeners.add(check)
      check()
    })
  }

  /** Sends `signal` to the process by its pid and resolves once it has exited. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<Exit> {
    if (this.exit === null) {
      try {
        process.kill(this.pid, signal)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err
      }
    }
    return this.exited
  }

  /** Stops it gracefully (SIGTERM) and resolves with how it exited; SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000): Promise<Exit> {
    const timer = setTimeout(() => void this.kill('SIGKILL'), graceMs)
    try {
      return await this.kill('SIGTERM')
    } finally {
      clearTimeout(timer)
    }
  }

  /** Its output so far, for failure messages. */
  output(): string {
    return `--- ${this.label} (pid ${this.pid}) stdout:\n${this.stdout.slice(-3000)}--- stderr:\n${this.stderr.slice(-3000)}`
  }

  #notify(): void {
    for (const l of [...this.#listeners]) l()
  }
}

/** SIGKILLs every process still running that this file spawned, by pid, and waits for them to exit. */
export async function killAllProcesses(): Promise<void> {
  await Promise.all([...running].map((p) => p.kill('SIGKILL')))
}

after(killAllProcesses)
