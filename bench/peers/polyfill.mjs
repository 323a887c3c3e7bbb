// Loaded with `node --import` into the Helia node only: Helia 7 and libp2p 3 call
// Promise.withResolvers, which Node 22 has and Node 20 does not. Nothing else is patched.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new this((yes, no) => {
      resolve = yes;
      reject = no;
    });
    return { promise, resolve, reject };
  };
}
