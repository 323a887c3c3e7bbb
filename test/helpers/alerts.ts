/**
 * Quiet by default (issue 9, docs/monitor.md): every directory a test starts is checked when
 * the test stops it, and the test fails if the directory raised an alert the test did not
 * declare. Ordinary use must never alarm anyone; a test that attacks on purpose says which
 * rules it triggers with `allowAlerts: ['deletion-burst', …]` on the helper that started the
 * directory (or later, from the test that triggers them, with the handle's `allowAlerts`).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openDirectoryStore } from '../../src/directory/service.js';
import type { AlertRecord, DirectoryStore } from '../../src/interface/directory-store.js';

/**
 * The alerts a test's directory may raise: the names of the rules the test triggers on purpose
 * (only these may fire; they need not all fire), or `true` for any rule (only where which rules
 * fire is not the test's business, say why). Nothing is allowed by default.
 */
export type AllowedAlerts = readonly string[] | true;

/** The option every helper that starts a directory takes. */
export interface AlertOptions {
  /** Alerts this directory may raise; see {@link AllowedAlerts}. Default: none. */
  allowAlerts?: AllowedAlerts;
}

/** The alerts one directory may raise; grows as tests declare more. */
export class AlertAllowance {
  #any = false;
  readonly #rules = new Set<string>();

  constructor(allowed?: AllowedAlerts) {
    if (allowed !== undefined) this.allow(allowed);
  }

  /** Allows `allowed` too (from the test that triggers them, when a directory is shared). */
  allow(allowed: AllowedAlerts): void {
    if (allowed === true) this.#any = true;
    else for (const rule of allowed) this.#rules.add(rule);
  }

  /** The alerts among `alerts` that were not allowed. */
  undeclared(alerts: readonly AlertRecord[]): AlertRecord[] {
    return this.#any ? [] : alerts.filter((alert) => !this.#rules.has(alert.rule));
  }

  /**
   * Reads `store`'s alerts and returns an error naming the undeclared ones (undefined when
   * there are none), for the caller to throw once it has cleaned up.
   */
  async check(
    store: Pick<DirectoryStore, 'listAlerts'>,
    where: string,
  ): Promise<Error | undefined> {
    const undeclared = this.undeclared(await store.listAlerts());
    return undeclared.length === 0 ? undefined : new UndeclaredAlertsError(undeclared, where);
  }
}

/** Thrown when a directory raised alerts its test did not declare. */
export class UndeclaredAlertsError extends Error {
  override readonly name = 'UndeclaredAlertsError';

  constructor(
    readonly alerts: readonly AlertRecord[],
    where: string,
  ) {
    const rules = [...new Set(alerts.map((alert) => alert.rule))];
    super(
      [
        `${alerts.length} undeclared alert(s) in ${where}: no rule may fire on ordinary use ` +
          `(docs/monitor.md, "Quiet by default"). If the test triggers them on purpose, pass ` +
          `allowAlerts: ${JSON.stringify(rules)} to the helper that started the directory.`,
        ...alerts.map(describeAlert),
      ].join('\n'),
    );
  }
}

/** One line per alert: rule, audience, summary. */
export function describeAlert(alert: AlertRecord): string {
  const audience =
    alert.audience === null
      ? 'admins only'
      : `${alert.audience}${alert.admin ? ' and admins' : ''}`;
  const count = alert.count > 1 ? ` (×${alert.count})` : '';
  return `  - ${alert.rule} → ${audience}: ${alert.summary}${count}`;
}

/**
 * Opens a stopped directory's store with `open`, checks its alerts against `allowance` and
 * closes it again; returns the error to throw, if any.
 */
export async function checkStoredAlerts(
  open: () => Promise<DirectoryStore>,
  allowance: AlertAllowance,
  where: string,
): Promise<Error | undefined> {
  const store = await open();
  try {
    return await allowance.check(store, where);
  } finally {
    await store.close();
  }
}

/** Where a directory keeps its store, the way `peervault directory` opens it. */
export interface DirectoryStoreLocation {
  dataDir: string;
  /** A postgres:// URL, or '' for SQLite in `dataDir`. */
  database: string;
}

/**
 * Checks the alerts stored by a directory that has stopped (another process's, or one this
 * process closed); returns the error to throw, if any.
 */
export async function checkStoppedDirectory(
  location: DirectoryStoreLocation,
  allowance: AlertAllowance,
  where: string,
): Promise<Error | undefined> {
  if (location.database === '' && !existsSync(join(location.dataDir, 'directory.db'))) {
    return new Error(`cannot check the alerts in ${where}: ${location.dataDir} holds no database`);
  }
  return checkStoredAlerts(
    () => openDirectoryStore(location.dataDir, location.database),
    allowance,
    where,
  );
}

/** Throws the first of `errors` that is set (the others are already cleaned up after). */
export function throwFirst(...errors: (Error | undefined)[]): void {
  const first = errors.find((err) => err !== undefined);
  if (first !== undefined) throw first;
}
