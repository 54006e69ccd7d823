/**
 * Channel names and `*` patterns. A pattern is a channel name in which `*` matches any run of
 * characters, `:` included: `job:*` matches `job:42` and `job:42:log`; `team:acme:*` matches every
 * channel of team acme. Written by hand because glob libraries treat `/` as a path separator and
 * our names use `:`; the whole grammar is one wildcard.
 */

/** True when `name` contains a wildcard. */
export function isPattern(name: string): boolean {
  return name.includes('*')
}

/** Compiles a `*` pattern to an anchored regular expression. */
export function patternToRegExp(pattern: string): RegExp {
  const body = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'))
    .join('.*')
  return new RegExp(`^${body}$`)
}

/** True when `pattern` (or exact name) matches `channel`. */
export function channelMatches(pattern: string, channel: string): boolean {
  if (!isPattern(pattern)) return pattern === channel
  return patternToRegExp(pattern).test(channel)
}

/**
 * True when every channel that `requested` can name is also named by `allowed`. Exact names are
 * checked by matching; a requested pattern is covered by an identical pattern, by `*`, or by an
 * allowed pattern with a single trailing `*` whose prefix starts the requested pattern's literal
 * prefix (`team:acme:*` covers `team:acme:job:*`).
 */
export function patternCovers(allowed: string, requested: string): boolean {
  if (!isPattern(requested)) return channelMatches(allowed, requested)
  if (allowed === requested || allowed === '*') return true
  const star = allowed.indexOf('*')
  if (star !== allowed.length - 1) return false
  const prefix = allowed.slice(0, -1)
  const literal = requested.slice(0, requested.indexOf('*'))
  return literal.startsWith(prefix)
}

/** Matches channel lists against a set of exact names and patterns, compiling each pattern once. */
export class ChannelMatcher {
  readonly #exact: ReadonlySet<string>
  readonly #patterns: readonly RegExp[]

  constructor(exact: Iterable<string>, patterns: Iterable<string>) {
    this.#exact = new Set(exact)
    this.#patterns = [...patterns].map(patternToRegExp)
  }

  /** Builds a matcher from a mixed list of names and patterns. */
  static of(channels: Iterable<string>): ChannelMatcher {
    const exact: string[] = []
    const patterns: string[] = []
    for (const c of channels) (isPattern(c) ? patterns : exact).push(c)
    return new ChannelMatcher(exact, patterns)
  }

  /** True when any of `channels` matches. */
  matchesAny(channels: readonly string[]): boolean {
    for (const c of channels) {
      if (this.#exact.has(c)) return true
      for (const re of this.#patterns) if (re.test(c)) return true
    }
    return false
  }
}
