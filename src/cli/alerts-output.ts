/**
 * The text form of the directory's security alerts, shared by `peervault alerts` and the shell's
 * `alerts`: unread first, each with what to do next.
 */
import type { ApiAlert, ApiAlerts } from './local-api.js';
import { formatTime } from './session-options.js';

/** How an alert is named on the command line: `3` (the directory's) or `D3` (this device's). */
export function alertName(alert: Pick<ApiAlert, 'id' | 'origin'>): string {
  return alert.origin === 'device' ? `D${alert.id}` : String(alert.id);
}

/**
 * Reads an alert name typed by a person: `3` or `#3` (the directory's), `D3` (this device's).
 * @returns undefined when it is neither
 */
export function parseAlertName(
  text: string,
): { id: number; origin: ApiAlert['origin'] } | undefined {
  const match = /^#?(D?)([1-9]\d{0,15})$/i.exec(text);
  if (match === null) return undefined;
  const id = Number(match[2]);
  if (!Number.isSafeInteger(id)) return undefined;
  return { id, origin: match[1] === '' ? 'directory' : 'device' };
}

/** One alert as lines: a heading, then what to do (and how to acknowledge it, while unread). */
export function alertLines(alert: ApiAlert, ack: string): string[] {
  const state = alert.ackedAt === null ? 'UNREAD' : `read ${formatTime(alert.ackedAt)}`;
  const times = alert.count === 1 ? '' : ` (${alert.count} times)`;
  const who = alert.audience === null ? ' [admins]' : '';
  const where = alert.origin === 'device' ? ' [this device]' : '';
  return [
    `#${alertName(alert)} ${state} ${alert.severity} ${alert.rule}${who}${where}: ${alert.summary}${times}`,
    `    ${formatTime(alert.firstAt)} to ${formatTime(alert.lastAt)}`,
    ...(alert.evidence === undefined ? [] : [`    seen: ${alert.evidence}`]),
    `    what to do: ${alert.action}`,
    ...(alert.ackedAt === null ? [`    then: ${ack} ${alertName(alert)}`] : []),
  ];
}

/** Every alert, unread first (as the directory orders them). */
export function alertsLines(page: ApiAlerts, ack: string): string[] {
  const note = page.directoryUnavailable
    ? ["the directory did not answer: only this device's alerts are shown"]
    : [];
  if (page.alerts.length === 0) return [...note, 'no alerts'];
  const unread = page.alerts.filter((a) => a.ackedAt === null).length;
  return [
    ...note,
    `${unread} unread of ${page.alerts.length}`,
    ...page.alerts.flatMap((a) => alertLines(a, ack)),
  ];
}

/** The count of unread alerts, for `status`. */
export function unreadAlerts(page: ApiAlerts): number {
  return page.alerts.filter((a) => a.ackedAt === null).length;
}
