// A Helia (IPFS) node for the benchmark: `node --import ./polyfill.mjs helia-node.mjs writer DIR`
// listens on loopback TCP; `... reader DIR MULTIADDR` dials the writer. Blocks go to a
// blockstore on disk (blockstore-fs) and move by Bitswap over TCP + Noise + Yamux. Nothing that
// reaches beyond this machine is configured: no bootstrap list, DHT, mDNS, AutoNAT, relay, or
// HTTP gateways (Helia's `createHelia` would add those; `createHeliaLight` does not).
import { join } from 'node:path';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { withBitswap } from '@helia/bitswap';
import { withLibp2pLight } from '@helia/libp2p';
import { unixfs } from '@helia/unixfs';
import { identify } from '@libp2p/identify';
import { tcp } from '@libp2p/tcp';
import { multiaddr } from '@multiformats/multiaddr';
import { FsBlockstore } from 'blockstore-fs';
import { createHeliaLight } from 'helia';
import { CID } from 'multiformats/cid';
import { pieces, pool, serve, smallFiles } from './protocol.mjs';

const [role, dir, writerAddress] = process.argv.slice(2);
const blockstore = new FsBlockstore(join(dir, 'blocks'));
await blockstore.open();
const helia = withBitswap(
  withLibp2pLight(createHeliaLight({ blockstore }), {
    addresses: { listen: role === 'writer' ? ['/ip4/127.0.0.1/tcp/0'] : [] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
  }),
);
await helia.start();
const fs = unixfs(helia);

if (role === 'writer') {
  serve(
    { address: helia.libp2p.getMultiaddrs()[0].toString() },
    {
      async 'write-big'({ size }) {
        const cid = await fs.addByteStream(pieces(size));
        return { cid: cid.toString() };
      },
      async 'write-small'({ count, size }) {
        const files = smallFiles(count, size);
        let root;
        const entries = fs.addAll(
          files.map((content, i) => ({ path: `f-${i}`, content })),
          { wrapWithDirectory: true },
        );
        for await (const entry of entries) root = entry.cid;
        return { cid: root.toString() };
      },
    },
  );
} else {
  await helia.libp2p.dial(multiaddr(writerAddress));
  serve(
    {},
    {
      async 'read-big'({ cid, size }) {
        let received = 0;
        for await (const part of fs.cat(CID.parse(cid))) received += part.length;
        if (received !== size) throw new Error(`read ${received} of ${size} bytes`);
      },
      async 'read-small'({ cid, count, size, concurrency }) {
        const files = [];
        for await (const entry of fs.ls(CID.parse(cid))) files.push(entry.cid);
        if (files.length !== count) throw new Error(`listed ${files.length} of ${count} files`);
        await pool(count, concurrency, async (i) => {
          let received = 0;
          for await (const part of fs.cat(files[i])) received += part.length;
          if (received !== size) throw new Error(`file ${i}: ${received} bytes`);
        });
      },
    },
  );
}
