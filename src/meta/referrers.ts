import type { ExpressionBuilder } from 'kysely';
import type { Database } from './schema.js';

/**
 * For a query over `manifests as m`: m's subject is not a manifest of m's repository, so m is a
 * dangling referrer (a signature or SBOM whose image is gone). GC collects these and purge
 * counts them with the untagged; one definition keeps the two in step.
 */
export function subjectMissing<DB extends Database & { m: Database['manifests'] }>(eb: ExpressionBuilder<DB, 'm'>) {
  const e = eb as unknown as ExpressionBuilder<Database & { m: Database['manifests'] }, 'm'>;
  return e.not(
    e.exists(
      e
        .selectFrom('manifests as s')
        .select('s.id')
        .whereRef('s.repository_id', '=', 'm.repository_id')
        .whereRef('s.digest', '=', 'm.subject_digest'),
    ),
  );
}
