// The one way into @peculiar/x509 for the control plane. Import `x509` from here, never the package directly:
// the library's dependency injection (tsyringe) throws at load time unless a Reflect metadata polyfill was
// evaluated first, and ES modules evaluate in import order, so the polyfill import must precede the package in
// one place that everyone goes through. It also pins the library to Node's WebCrypto once.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export { x509 };
