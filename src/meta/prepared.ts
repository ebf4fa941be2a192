import { CompiledQuery, type Compilable } from 'kysely';
import type { Executor } from './context.js';

// The hottest reads (every pull runs them) compiled once per store: Kysely otherwise rebuilds
// and recompiles the same query tree on every request, which cost more CPU than SQLite took to
// answer it. The query is written with the builder as usual; its first compilation, with marker
// values for the arguments, gives the SQL text and where each argument goes.

const MARK = '\u0000berth-arg-';

type Arg = string | number;

/**
 * A query of plain arguments, compiled on first use. build must pass each argument through to
 * the query unchanged (normalise before calling), and must not change shape with the values.
 */
export function prepared<A extends Arg[], R>(
  build: (ex: Executor, ...args: A) => Compilable<R>,
): (ex: Executor, ...args: A) => Promise<R[]> {
  let compiled: { sql: string; slots: ({ arg: number } | { value: unknown })[] } | undefined;
  return async (ex, ...args) => {
    if (!compiled) {
      const marks = args.map((_, i) => `${MARK}${i}`) as A;
      const probe = build(ex, ...marks).compile();
      const slots = probe.parameters.map((p) =>
        typeof p === 'string' && p.startsWith(MARK) ? { arg: Number(p.slice(MARK.length)) } : { value: p },
      );
      const used = new Set(slots.flatMap((s) => ('arg' in s ? [s.arg] : [])));
      if (used.size !== args.length)
        throw new Error(`prepared query uses ${used.size} of its ${args.length} arguments unchanged: ${probe.sql}`);
      compiled = { sql: probe.sql, slots };
    }
    const params = compiled.slots.map((s) => ('arg' in s ? args[s.arg] : s.value));
    return (await ex.executeQuery<R>(CompiledQuery.raw(compiled.sql, params))).rows;
  };
}
