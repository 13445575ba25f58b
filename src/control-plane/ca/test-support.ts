// Helpers for the CA's tests: temporary directories, the real openssl binary, PEM splitting. Not used at run time.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

const made: string[] = [];
process.on('exit', () => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

/** A fresh directory, removed when the test process exits (they hold private keys). */
export function tempDir(prefix = 'mw-ca-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(d);
  return d;
}

export interface Run {
  status: number | null;
  out: string; // stdout and stderr together: openssl reports verification errors on either
}

export function openssl(args: string[], cwd?: string): Run {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** openssl, failing the test when it fails. */
export function mustOpenssl(args: string[], cwd?: string): string {
  const r = openssl(args, cwd);
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} exited ${r.status}: ${r.out}`);
  return r.out;
}

/** Writes files into dir, returns their paths by name. */
export function writeFiles(dir: string, files: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, text] of Object.entries(files)) {
    out[name] = path.join(dir, name);
    fs.writeFileSync(out[name]!, text);
  }
  return out;
}

export function pemBlocks(bundle: string): string[] {
  return bundle.match(/-----BEGIN [A-Z0-9 ]+-----[\s\S]+?-----END [A-Z0-9 ]+-----\n?/g) ?? [];
}

/** `openssl verify` of a leaf against a root bundle (and intermediates, and a CRL): the verdict line. */
export function opensslVerify(dir: string, o: { roots: string; leaf: string; untrusted?: string[]; crl?: string }): Run {
  const f = writeFiles(dir, {
    'v-roots.pem': o.roots,
    'v-leaf.pem': o.leaf,
    ...(o.untrusted?.length ? { 'v-untrusted.pem': o.untrusted.join('') } : {}),
    ...(o.crl ? { 'v-crl.pem': o.crl } : {}),
  });
  const args = ['verify', '-CAfile', f['v-roots.pem']!];
  if (f['v-untrusted.pem']) args.push('-untrusted', f['v-untrusted.pem']);
  if (f['v-crl.pem']) args.push('-crl_check', '-CRLfile', f['v-crl.pem']);
  args.push(f['v-leaf.pem']!);
  return openssl(args);
}
