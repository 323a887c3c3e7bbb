// A Hyperdrive node for the benchmark: `node hyperdrive-node.mjs writer DIR` makes a drive and
// serves its corestore's replication on a loopback TCP port; `node hyperdrive-node.mjs reader
// DIR PORT KEY` opens the same drive by key and replicates it from that port. No Hyperswarm or
// DHT: the replication stream (Noise-encrypted, as over Hyperswarm) runs on a socket we open.
import { Buffer } from 'node:buffer';
import { once } from 'node:events';
import { createServer, connect } from 'node:net';
import Corestore from 'corestore';
import Hyperdrive from 'hyperdrive';
import { pieces, pool, serve, smallFiles } from './protocol.mjs';

const [role, dir, port, key] = process.argv.slice(2);
const store = new Corestore(dir);
const drive = new Hyperdrive(store, key ? Buffer.from(key, 'hex') : undefined);
await drive.ready();

/** Pipes a replication stream of the whole corestore over `socket`. */
function replicate(socket, isInitiator) {
  const stream = store.replicate(isInitiator);
  socket.on('error', () => socket.destroy());
  stream.on('error', () => stream.destroy());
  socket.pipe(stream).pipe(socket);
}

if (role === 'writer') {
  const server = createServer((socket) => replicate(socket, false));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  serve(
    { port: server.address().port, key: drive.key.toString('hex') },
    {
      async 'write-big'({ path, size }) {
        const stream = drive.createWriteStream(path);
        const closed = new Promise((resolve, reject) => {
          stream.on('close', resolve);
          stream.on('error', reject);
        });
        for (const piece of pieces(size)) {
          if (!stream.write(piece)) await once(stream, 'drain');
        }
        stream.end();
        await closed;
        return { version: drive.version };
      },
      async 'write-small'({ dir: folder, count, size, concurrency }) {
        const files = smallFiles(count, size);
        await pool(count, concurrency, (i) => drive.put(`${folder}/f-${i}`, files[i]));
        return { version: drive.version };
      },
    },
  );
} else {
  const found = drive.findingPeers();
  const socket = connect(Number(port), '127.0.0.1');
  await once(socket, 'connect');
  replicate(socket, true);
  found();
  /** Waits until this replica has seen the writer's `version` of the drive. */
  const reach = async (version) => {
    for (;;) {
      await drive.update({ wait: true });
      if (drive.version >= version) return;
      await once(drive.core, 'append');
    }
  };
  serve(
    {},
    {
      async 'read-big'({ path, size, version }) {
        await reach(version);
        let received = 0;
        for await (const part of drive.createReadStream(path)) received += part.length;
        if (received !== size) throw new Error(`read ${received} of ${size} bytes`);
      },
      async 'read-small'({ dir: folder, count, size, concurrency, version }) {
        await reach(version);
        const names = [];
        for await (const name of drive.readdir(folder)) names.push(name);
        if (names.length !== count) throw new Error(`listed ${names.length} of ${count} files`);
        await pool(count, concurrency, async (i) => {
          const bytes = await drive.get(`${folder}/${names[i]}`);
          if (bytes?.length !== size) throw new Error(`${names[i]}: ${bytes?.length} bytes`);
        });
      },
    },
  );
}
