/**
 * The text form of the directory's security alerts, shared by `peervault alerts` and the shell's
 * `alerts`: unread first, each with what to do next.
 */
import type { ApiAlert, ApiAlerts } from './local-api.js';
import { formatTime } from './session-options.js';

/** One alert as lines: a heading, then what to do (and how to acknowledge it, while unread). */
export function alertLines(alert: ApiAlert, ack: string): string[] {
  const state = alert.ackedAt === null ? 'UNREAD' : `read ${formatTime(alert.ackedAt)}`;
  const times = alert.count === 1 ? '' : ` (${alert.count} times)`;
  const who = alert.audience === null ? ' [admins]' : '';
  return [
    `#${alert.id} ${state} ${alert.severity} ${alert.rule}${who}: ${alert.summary}${times}`,
    `    ${formatTime(alert.firstAt)} to ${formatTime(alert.lastAt)}`,
    `    what to do: ${alert.action}`,
    ...(alert.ackedAt === null ? [`    then: ${ack} ${alert.id}`] : []),
  ];
}

/** Every alert, unread first (as the directory orders them). */
export function alertsLines(page: ApiAlerts, ack: string): string[] {
  if (page.alerts.length === 0) return ['no alerts'];
  const unread = page.alerts.filter((a) => a.ackedAt === null).length;
  return [
    `${unread} unread of ${page.alerts.length}`,
    ...page.alerts.flatMap((a) => alertLines(a, ack)),
  ];
}

/** The count of unread alerts, for `status`. */
export function unreadAlerts(page: ApiAlerts): number {
  return page.alerts.filter((a) => a.ackedAt === null).length;
}
