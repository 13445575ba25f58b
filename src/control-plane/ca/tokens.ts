// Join tokens: the bootstrap credential a proxy presents with its CSR. Threat model: a token is a bearer secret;
// whoever holds it can get certificates for every identity its scope covers, and nothing else, until the token is
// removed from the file. So scopes should be as narrow as the deployment allows ("payments/*" rather than "*/*"),
// and a token is compared only through hashes in constant time, so that response timing reveals nothing of it.
import fs from 'node:fs';
import path from 'node:path';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { CaError } from './authority.js';

interface Entry {
  hash: Buffer; // SHA-256 of the token: equal length for timingSafeEqual whatever the token's length
  namespace: string; // '*' = any
  serviceAccount: string; // '*' = any
}

// A short token can be guessed; 16 characters of base64url are 96 bits. The default token has 256 bits.
const MIN_TOKEN_LENGTH = 16;
// Kubernetes namespaces (DNS labels) and service accounts (DNS subdomains), as they appear in SPIFFE IDs.
const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export class JoinTokens {
  private constructor(private readonly entries: readonly Entry[]) {}

  /** Lines "<token> <namespace>/<serviceAccount>", either part may be "*"; '#' starts a comment. */
  static load(file: string): JoinTokens {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new CaError('MW_CA_TOKENS', `Cannot read the join token file "${file}": ${(err as Error).message}`, { cause: err });
    }
    return new JoinTokens(parse(text, file));
  }

  /** <dataDir>/join-token (0600): one random 256-bit token with scope "*\/*", created if missing, reused otherwise. */
  static createDefault(dataDir: string): { tokens: JoinTokens; file: string } {
    const file = path.join(dataDir, 'join-token');
    if (!fs.existsSync(file)) {
      fs.mkdirSync(dataDir, { recursive: true });
      const token = randomBytes(32).toString('base64url');
      // no comment line: `meshwork proxy --join-token-file` reads the first word of the file as the token,
      // so this one file serves both ends
      const text = `${token} */*\n`;
      // 'wx': never overwrite a token another process wrote between the check and now
      try {
        fs.writeFileSync(file, text, { mode: 0o600, flag: 'wx' });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new CaError('MW_CA_TOKENS', `Cannot write the join token file "${file}": ${(err as Error).message}`, { cause: err });
      }
    }
    return { tokens: JoinTokens.load(file), file };
  }

  /** true when `token` exists and its scope covers the identity. Every entry is compared, match or not, so the
   *  time taken does not depend on which entry (if any) matched. */
  authorize(token: string, namespace: string, serviceAccount: string): boolean {
    const hash = sha256(token);
    let ok = false;
    for (const e of this.entries) {
      const same = timingSafeEqual(hash, e.hash);
      const covers = (e.namespace === '*' || e.namespace === namespace) && (e.serviceAccount === '*' || e.serviceAccount === serviceAccount);
      ok = (same && covers) || ok;
    }
    return ok;
  }

  /** How many token lines were loaded (for logs; tokens themselves are never exposed). */
  get size(): number {
    return this.entries.length;
  }
}

function parse(text: string, file: string): Entry[] {
  const entries: Entry[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) return;
    const at = `${file}:${i + 1}`;
    const fields = line.split(/\s+/);
    if (fields.length !== 2) throw new CaError('MW_CA_TOKENS', `${at}: expected "<token> <namespace>/<serviceAccount>", got ${fields.length} field${fields.length === 1 ? '' : 's'}`);
    const [token, scope] = fields as [string, string];
    if (token.length < MIN_TOKEN_LENGTH) throw new CaError('MW_CA_TOKENS', `${at}: a token needs at least ${MIN_TOKEN_LENGTH} characters (a short one can be guessed)`);
    const parts = scope.split('/');
    if (parts.length !== 2) throw new CaError('MW_CA_TOKENS', `${at}: scope "${scope}" is not "<namespace>/<serviceAccount>" ("*" for any)`);
    const [namespace, serviceAccount] = parts as [string, string];
    for (const [what, v] of [['namespace', namespace], ['service account', serviceAccount]] as const) {
      if (v !== '*' && !NAME.test(v)) throw new CaError('MW_CA_TOKENS', `${at}: ${what} "${v}" is not "*" nor a Kubernetes name (lower-case letters, digits, "-", ".")`);
    }
    entries.push({ hash: sha256(token), namespace, serviceAccount });
  });
  return entries;
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}
