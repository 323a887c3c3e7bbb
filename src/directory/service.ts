/**
 * Running a directory: open its store (SQLite in the data directory by default, PostgreSQL when
 * given a URL), load or create its keys, make its TLS certificate from its identity key, listen,
 * and run the periodic maintenance (expired sessions and nonces, retention of the trash).
 */
import { join } from 'node:path';
import { FsError } from '../interface/errors.js';
import type { DirectoryStore } from '../interface/directory-store.js';
import { createSelfSignedCertificate } from '../wire/tls-certificate.js';
import { buildDirectoryApp } from './app.js';
import { unfinishedLogins } from './audit.js';
import { type DirectoryConfig, defaultConfig, retentionBounds } from './config.js';
import { loadOrCreateDirectoryKeys } from './keys.js';
import { startSelfCheck } from './self-check.js';
import { openPostgresStore, openSqliteStore } from './store/open-store.js';

/** How to run a directory. */
export interface DirectoryOptions {
  /** Where its keys (and, with SQLite, its database) live. */
  dataDir: string;
  /** `host:port` to listen on; port 0 picks a free one. Default 127.0.0.1:7400. */
  listen?: string;
  /** A `postgres://` URL; SQLite in the data directory when absent. */
  database?: string;
  config?: Partial<DirectoryConfig>;
  /** An already open store to serve (tests isolate PostgreSQL this way); closed with the directory. */
  store?: DirectoryStore;
}

/** A running directory. */
export interface RunningDirectory {
  url: string;
  fingerprint: string;
  store: DirectoryStore;
  /** Stops listening, stops maintenance and closes the store; idempotent. */
  close(): Promise<void>;
}

/** Parses `host:port`. @throws FsError `invalid` */
export function parseListen(listen: string): { host: string; port: number } {
  const match = /^(\[[0-9a-fA-F:]+\]|[^:]+):(\d{1,5})$/.exec(listen);
  const port = match ? Number(match[2]) : -1;
  if (!match || port > 65535) {
    throw new FsError(
      'invalid',
      `--listen wants host:port (for example 127.0.0.1:7400), not "${listen}"`,
      { op: 'directory.listen' },
    );
  }
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

/** Opens the store a directory would use. */
export async function openDirectoryStore(
  dataDir: string,
  database?: string,
): Promise<DirectoryStore> {
  const url = database ?? process.env['DATABASE_URL'];
  if (url !== undefined && url !== '') {
    if (!/^postgres(ql)?:\/\//.test(url)) {
      throw new FsError('invalid', 'the database must be a postgres:// URL', {
        op: 'directory.database',
      });
    }
    return openPostgresStore(url);
  }
  return openSqliteStore(join(dataDir, 'directory.db'));
}

/** Starts a directory and returns once it is listening. */
export async function startDirectory(options: DirectoryOptions): Promise<RunningDirectory> {
  const { keys } = await loadOrCreateDirectoryKeys(options.dataDir);
  const config: DirectoryConfig = { ...defaultConfig, ...options.config };
  const store = options.store ?? (await openDirectoryStore(options.dataDir, options.database));
  const tls = createSelfSignedCertificate(keys.identity, { commonName: 'peervault-directory' });
  const app = buildDirectoryApp(
    { store, keys, config, now: Date.now },
    { key: tls.privateKeyPem, cert: tls.certificatePem },
  );
  const { host, port } = parseListen(options.listen ?? '127.0.0.1:7400');
  try {
    await app.listen({ host, port });
  } catch (err) {
    await store.close();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      throw new FsError(
        'unavailable',
        `${host}:${port} is already in use; pick another --listen address`,
        { op: 'directory.listen' },
      );
    }
    throw new FsError('unavailable', `cannot listen on ${host}:${port}`, {
      op: 'directory.listen',
      cause: err,
    });
  }
  const address = app.server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  const shownHost = host.includes(':') ? `[${host}]` : host;

  const maintenance = setInterval(() => {
    const now = Date.now();
    // Logins never finished (wrong passwords) go into the audit log as their states expire.
    void store.pruneExpired(now, unfinishedLogins(now)).catch(() => undefined);
    // Owners' agents purge (releasing blocks first) after each owner's retention; only what
    // they leave longer than the release window is purged here, without releasing its blocks.
    void store
      .purgeExpiredTrash(now, {
        defaultMs: config.retentionMs,
        ...retentionBounds(config),
        graceMs: config.releaseWindowMs,
      })
      .catch(() => undefined);
  }, 60_000);
  maintenance.unref();
  const selfCheck = startSelfCheck({
    store,
    directoryKey: keys.identity.publicKey,
    everyMs: config.selfCheckMs,
    now: Date.now,
    // Warnings show in the directory's log (its level is warn); a clean check is info.
    log: (event) =>
      event['ok'] === true ? app.log.info(event, 'self-check') : app.log.warn(event, 'self-check'),
  });

  let closed = false;
  return {
    url: `https://${shownHost}:${actualPort}`,
    fingerprint: keys.fingerprint,
    store,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(maintenance);
      selfCheck.stop();
      await app.close();
      await store.close();
    },
  };
}
