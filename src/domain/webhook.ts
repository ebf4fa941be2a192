/** The events a webhook can subscribe to (ACR's actions, plus Berth's scan results). */
export const WEBHOOK_ACTIONS = ['push', 'delete', 'quarantine', 'chart_push', 'chart_delete', 'scan'] as const;
