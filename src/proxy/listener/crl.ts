// Just enough DER to check a peer's leaf against CRLs after the handshake (only_verify_leaf_cert_crl): the
// issuer and serial numbers a CRL lists, and a certificate's issuer and serial. Written out rather than taken
// from an X.509 library: the one the control plane's CA uses adds ~18 MB to a process, and a sidecar's whole
// idle budget is 60 MB.
import { X509Certificate } from 'node:crypto';

interface Tlv {
  tag: number;
  /** content start and end */
  start: number;
  end: number;
}

function tlv(buf: Buffer, pos: number, limit: number): Tlv {
  if (pos + 2 > limit) throw new Error('truncated DER');
  const tag = buf[pos]!;
  let len = buf[pos + 1]!;
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > limit) throw new Error('bad DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[start + i]!;
    start += n;
  }
  const end = start + len;
  if (end > limit) throw new Error('DER element overruns its container');
  return { tag, start, end };
}

/** The children of a constructed element. */
function children(buf: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let pos = parent.start; pos < parent.end; ) {
    const t = tlv(buf, pos, parent.end);
    out.push(t);
    pos = t.end;
  }
  return out;
}

const SEQUENCE = 0x30;
const INTEGER = 0x02;
const UTC_TIME = 0x17;
const GENERALIZED_TIME = 0x18;

/** An INTEGER's content as lowercase hex without leading zeros (as revocation keys compare serials). */
function serialHex(buf: Buffer, t: Tlv): string {
  return buf.subarray(t.start, t.end).toString('hex').replace(/^(00)+(?=.)/, '').replace(/^0(?=.)/, '');
}

/** A Name in canonical form, as OpenSSL compares names (X509_NAME_cmp on the canonical encoding): each
 *  attribute's type and its value case-folded with runs of spaces collapsed, whatever string type encodes it (a
 *  CA may write its subject as a UTF8String and its CRL's issuer as a PrintableString). */
function canonicalName(buf: Buffer, name: Tlv): string {
  const parts: string[] = [];
  for (const rdn of children(buf, name)) {
    const atvs = children(buf, rdn).map((atv) => {
      const [type, value] = children(buf, atv);
      if (!type || !value) throw new Error('bad name attribute');
      const text = buf.subarray(value.start, value.end).toString(value.tag === 0x1e ? 'utf16le' : 'utf8');
      return `${buf.subarray(type.start, type.end).toString('hex')}=${text.trim().replace(/\s+/g, ' ').toLowerCase()}`;
    });
    parts.push(atvs.sort().join('+'));
  }
  return parts.join(',');
}

/** "<issuer, canonical>|<serial hex>" of every certificate the DER CRL revokes. */
export function crlRevocations(der: Buffer): string[] {
  const top = tlv(der, 0, der.length);
  if (top.tag !== SEQUENCE) throw new Error('not a CRL');
  const tbs = children(der, top)[0];
  if (!tbs || tbs.tag !== SEQUENCE) throw new Error('not a CRL');
  const fields = children(der, tbs);
  let i = 0;
  if (fields[i]?.tag === INTEGER) i++; // version
  i++; // signature algorithm
  const issuer = fields[i++];
  if (!issuer || issuer.tag !== SEQUENCE) throw new Error('CRL without an issuer');
  const issuerName = canonicalName(der, issuer);
  i++; // thisUpdate
  if (fields[i]?.tag === UTC_TIME || fields[i]?.tag === GENERALIZED_TIME) i++; // nextUpdate
  const revoked = fields[i];
  if (!revoked || revoked.tag !== SEQUENCE) return [];
  return children(der, revoked).map((entry) => {
    const serial = children(der, entry)[0];
    if (!serial || serial.tag !== INTEGER) throw new Error('CRL entry without a serial');
    return `${issuerName}|${serialHex(der, serial)}`;
  });
}

/** The revocation key of a certificate: its issuer's DER and its serial, as crlRevocations() lists them. */
export function certificateRevocationKey(cert: X509Certificate): string {
  const der = cert.raw;
  const top = tlv(der, 0, der.length);
  const tbs = children(der, top)[0]!;
  const fields = children(der, tbs);
  let i = 0;
  if (fields[0]!.tag === 0xa0) i++; // [0] version
  const serial = fields[i]!;
  const issuer = fields[i + 2]!; // after the signature algorithm
  return `${canonicalName(der, issuer)}|${serialHex(der, serial)}`;
}

/** The PEM CRLs in `pem`, decoded to DER. */
export function pemCrls(pem: string): Buffer[] {
  return (pem.match(/-----BEGIN X509 CRL-----[\s\S]*?-----END X509 CRL-----/g) ?? []).map((b) => Buffer.from(b.replace(/-----[A-Z0-9 ]+-----|\s/g, ''), 'base64'));
}
