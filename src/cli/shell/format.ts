/**
 * How the shell shows things: listings in columns or as a long table, `stat`, the peer list,
 * sharing (`share`, `perms`, `shared`), restores and retention (the one-shot commands print the
 * same). Pure
 * functions from data to lines, so they are tested without a network.
 */
import type {
  ApiGroup,
  ApiGroupDeleted,
  ApiGroupSaved,
  ApiPermissionGrant,
  ApiListEntry,
  ApiPeer,
  ApiPermissions,
  ApiRestored,
  ApiRetention,
  ApiRight,
  ApiSharedItem,
  ApiTrashItem,
  ApiSharingChange,
  ApiStat,
} from '../local-api.js';
import { formatBytes } from '../progress.js';

/** A listed name as `ls` shows it: directories end in `/`. */
export function shownName(entry: { name: string; kind: 'file' | 'dir' }): string {
  return entry.kind === 'dir' ? `${entry.name}/` : entry.name;
}

/** Names laid out in columns, down then across, to fit `width` characters (as `ls` does). */
export function inColumns(names: readonly string[], width: number): string[] {
  if (names.length === 0) return [];
  const cell = Math.max(...names.map((n) => n.length)) + 2;
  const perRow = Math.max(1, Math.floor((width + 2) / cell));
  const rows = Math.ceil(names.length / perRow);
  const lines: string[] = [];
  for (let r = 0; r < rows; r++) {
    let line = '';
    for (let c = r; c < names.length; c += rows) line += names[c]!.padEnd(cell);
    lines.push(line.trimEnd());
  }
  return lines;
}

/** Rows of cells as aligned text columns. */
export function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

/** `ls -l`: kind, version, owner, last writer, name. */
export function longListing(entries: readonly ApiListEntry[]): string[] {
  return table(entries.map((e) => [e.kind, `v${e.version}`, e.owner, e.writer, shownName(e)]));
}

/** Where a trash item was: its path, or why it has none. */
export function trashWhere(item: ApiTrashItem): string {
  if (item.refused !== undefined) return `(did not verify, cannot be restored: ${item.refused})`;
  return (item.path ?? '(in a deleted folder)') + (item.kind === 'dir' ? '/' : '');
}

/** The warning for each entry of a listing that did not verify (shown after the listing). */
export function refusedWarnings(entries: readonly ApiListEntry[]): string[] {
  return entries.flatMap((e) =>
    e.refused === undefined
      ? []
      : [`warning: ${shownName(e)} did not verify and cannot be opened: ${e.refused}`],
  );
}

/** A moment as local date and time to the second: `2025-03-01 14:02:11`. */
export function formatTime(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** How long ago `then` was, seen at `now`: `4s ago`, `3m ago`, `2h ago`, `5d ago`. */
export function ago(then: number, now: number): string {
  const s = Math.max(0, Math.round((now - then) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

/** `stat`: one field a line. */
export function statLines(stat: ApiStat): string[] {
  return table([
    ['path', stat.kind === 'dir' ? `${stat.path}/` : stat.path],
    ['kind', stat.kind],
    ...(stat.kind === 'file' ? [['size', `${formatBytes(stat.size)} (${stat.size} bytes)`]] : []),
    ['version', String(stat.version)],
    ['owner', stat.owner],
    ['modified', formatTime(stat.mtime)],
  ]);
}

/** `peers`: fingerprint, address, capacity, last seen; this peer marked. */
export function peerLines(peers: readonly ApiPeer[], now: number): string[] {
  if (peers.length === 0) return ['no peers are registered'];
  return table([
    ['', 'FINGERPRINT', 'ADDRESS', 'CAPACITY', 'LAST SEEN', 'HEALTH'],
    ...peers.map((p) => [
      p.self ? '*' : '',
      p.fingerprint,
      p.address,
      p.quarantined ? '-' : formatBytes(p.capacity),
      p.quarantined ? '-' : p.self ? `${ago(p.lastSeen, now)} (this peer)` : ago(p.lastSeen, now),
      peerHealthText(p),
    ]),
  ]);
}

/** A peer's health in a few words: `ok`, `2 strikes`, `QUARANTINED (3 strikes)`. */
export function peerHealthText(p: Pick<ApiPeer, 'strikes' | 'quarantined'>): string {
  const strikes = `${p.strikes} strike${p.strikes === 1 ? '' : 's'}`;
  if (p.quarantined) return `QUARANTINED (${strikes})`;
  return p.strikes === 0 ? 'ok' : strikes;
}

/** A right in words: `r` reads; `w` writes (and reads). */
export function rightWord(right: ApiRight): string {
  return right === 'w' ? 'write' : 'read';
}

/**
 * `bob (read), carol (write)`, by user name, or `none` when there are no grants. A group comes
 * first (`@team` sorts before names) and, when its members are known, with them:
 * `@team (read): bob, dave; carol (write)`.
 */
export function grantsText(grants: readonly ApiPermissionGrant[]): string {
  if (grants.length === 0) return 'none';
  const withMembers = grants.some((g) => g.members !== undefined);
  return [...grants]
    .sort((a, b) => (a.user < b.user ? -1 : a.user > b.user ? 1 : 0))
    .map((g) => {
      const grant = `${g.user} (${rightWord(g.right)})`;
      if (g.members === undefined) return grant;
      return `${grant}: ${g.members.length === 0 ? 'no members' : g.members.join(', ')}`;
    })
    .join(withMembers ? '; ' : ', ');
}

/** `unshare`: each user it named who still has access through a group, one line each. */
export function stillThroughLines(change: ApiSharingChange): string[] {
  return (change.stillThrough ?? []).map(
    ({ user, groups }) =>
      `${user} still has access through ${groups.join(', ')}; \`group remove ${groups[0]!.slice(1)} ${user}\` takes it away`,
  );
}

/** `@team: bob, carol` (a group and its members). */
export function groupLine(group: ApiGroup): string {
  return `@${group.name}: ${group.members.length === 0 ? 'no members' : group.members.join(', ')}`;
}

/** What `group create`, `add` or `remove` did, in one line. */
export function groupSavedLine(saved: ApiGroupSaved): string {
  const entries =
    saved.entries === 0
      ? ''
      : ` (${saved.entries} ${saved.entries === 1 ? 'entry' : 'entries'} shared with it updated)`;
  return `${saved.created ? 'created ' : ''}${groupLine(saved)}${entries}`;
}

/** What `group delete` did, in one line. */
export function groupDeletedLine(deleted: ApiGroupDeleted): string {
  const entries =
    deleted.entries === 0
      ? ''
      : ` (taken off ${deleted.entries} ${deleted.entries === 1 ? 'entry' : 'entries'})`;
  return `deleted @${deleted.name}${entries}`;
}

/** What `share` or `unshare` did, in one line. */
export function sharingLine(change: ApiSharingChange): string {
  const name = change.kind === 'dir' ? `${change.path}/` : change.path;
  const inside = change.kind === 'dir' && change.entries > 1 ? change.entries - 1 : 0;
  const also =
    inside === 0 ? '' : ` (and the ${inside} ${inside === 1 ? 'entry' : 'entries'} in it)`;
  return change.grants.length === 0
    ? `${name} is shared with no one${also}`
    : `${name} is shared with ${grantsText(change.grants)}${also}`;
}

/** `perms`: owner, kind, writer of the current version, grants and whether they were inherited. */
export function permissionLines(perms: ApiPermissions): string[] {
  return table([
    ['path', perms.kind === 'dir' ? `${perms.path}/` : perms.path],
    ['kind', perms.kind],
    ['owner', perms.owner],
    ['writer', `${perms.writer} (version ${perms.version})`],
    ['grants', perms.grants.length === 0 ? `none (only ${perms.owner})` : grantsText(perms.grants)],
    // Who that comes to, when a group is among the grants.
    ...(perms.grants.some((g) => g.user.startsWith('@'))
      ? [['users', perms.users.length === 0 ? 'none' : grantsText(perms.users)]]
      : []),
    ['inherited', perms.inherited ? 'yes, from the folder it was created in' : 'no'],
  ]);
}

/** `shared`: what others share with you, under each owner's name, with the right and kind. */
export function sharedLines(items: readonly ApiSharedItem[]): string[] {
  const owners = [...new Set(items.map((item) => item.owner))];
  const rows = table(
    items.map((item) => [
      `  ${item.path}${item.kind === 'dir' ? '/' : ''}`,
      rightWord(item.right),
      item.kind,
    ]),
  );
  return owners.flatMap((owner) => [
    `from ${owner}:`,
    ...rows.filter((_, i) => items[i]!.owner === owner),
  ]);
}

/**
 * What a restore did, as one line: `typed` is the path as the user typed it, `as` the new name
 * asked for.
 */
export function restoredLine(result: ApiRestored, typed: string, as?: string): string {
  if (result.reverted) {
    return `${result.path}: version ${result.from} is now the newest (version ${result.version})`;
  }
  return [
    `restored ${typed}`,
    as === undefined ? '' : ` as ${result.path}`,
    result.from === undefined ? '' : ` from version ${result.from} (now version ${result.version})`,
    result.restored > 1 ? ` (${result.restored} entries)` : '',
  ].join('');
}

const durationUnits: readonly [string, number][] = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
];

/** A duration as `parseDuration` reads it back: `90d`, `36h`, `90s`, or `1500ms`. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of durationUnits)
    if (ms > 0 && ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

/** How long deleted files stay in the trash, as `retention` shows it. */
export function retentionLine(retention: ApiRetention): string {
  const whose = retention.own
    ? `your setting; the directory's default is ${formatDuration(retention.defaultMs)}`
    : "the directory's default";
  return `deleted files stay in your trash for ${formatDuration(retention.retentionMs)} (${whose}; you may choose ${formatDuration(retention.minMs)} to ${formatDuration(retention.maxMs)})`;
}
