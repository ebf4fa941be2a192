import { webhookListScreens } from './list.js';
import { webhookScreens } from './webhook.js';

// Webhooks of a registry: the list and create form, and one webhook with its delivery log.
export const webhooksScreens = [...webhookListScreens, ...webhookScreens];
