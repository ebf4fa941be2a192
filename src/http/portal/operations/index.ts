import { auditScreens } from './audit.js';
import { gcScreens } from './gc.js';
import { jobScreens } from './jobs.js';

// The deployment-wide operations screens (/portal/operations…): the job queue, garbage
// collection, the activity log and the audit logs.
export const operationScreens = [...jobScreens, ...gcScreens, ...auditScreens];
