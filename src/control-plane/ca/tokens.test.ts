import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { JoinTokens } from './tokens.js';
import { tempDir } from './test-support.js';

const A = 'tok-aaaaaaaaaaaaaaaaaaaa';
const B = 'tok-bbbbbbbbbbbbbbbbbbbb';
const C = 'tok-cccccccccccccccccccc';
const D = 'tok-dddddddddddddddddddd';

function file(text: string): string {
  const f = path.join(tempDir('mw-tokens-'), 'tokens');
  fs.writeFileSync(f, text);
  return f;
}

test('a token authorizes exactly the identities its scope covers', () => {
  const tokens = JoinTokens.load(
    file(`# join tokens
${A} */*
${B} payments/*   # any service account of one namespace
${C} */metrics-agent
${D} shop/cart

${D} shop/checkout
`),
  );
  assert.equal(tokens.size, 5);
  assert.equal(tokens.authorize(A, 'anything', 'at-all'), true);
  assert.equal(tokens.authorize(B, 'payments', 'ledger'), true);
  assert.equal(tokens.authorize(B, 'shop', 'ledger'), false);
  assert.equal(tokens.authorize(C, 'kube-system', 'metrics-agent'), true);
  assert.equal(tokens.authorize(C, 'kube-system', 'other'), false);
  assert.equal(tokens.authorize(D, 'shop', 'cart'), true);
  assert.equal(tokens.authorize(D, 'shop', 'checkout'), true, 'a token may have several lines');
  assert.equal(tokens.authorize(D, 'shop', 'admin'), false);
  assert.equal(tokens.authorize(D, 'payments', 'cart'), false);
  // an unknown token, a prefix of a real one, or a real one with a different case authorize nothing
  assert.equal(tokens.authorize('tok-zzzzzzzzzzzzzzzzzzzz', 'shop', 'cart'), false);
  assert.equal(tokens.authorize(A.slice(0, -1), 'a', 'b'), false);
  assert.equal(tokens.authorize(A.toUpperCase(), 'a', 'b'), false);
  assert.equal(tokens.authorize('', 'a', 'b'), false);
});

test('a bad line is reported with file:line', () => {
  const cases: [string, RegExp][] = [
    [`${A}\n`, /expected "<token> <namespace>\/<serviceAccount>", got 1 field$/],
    [`${A} a/b extra\n`, /got 3 fields/],
    [`short a/b\n`, /at least 16 characters/],
    [`${A} ab\n`, /scope "ab" is not/],
    [`${A} a/b/c\n`, /scope "a\/b\/c" is not/],
    [`${A} Shop/*\n`, /namespace "Shop" is not "\*" nor a Kubernetes name/],
    [`${A} */sa_x\n`, /service account "sa_x"/],
  ];
  for (const [line, message] of cases) {
    const f = file(`# header\n\n${A} ok/ok\n${line}`);
    assert.throws(
      () => JoinTokens.load(f),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'MW_CA_TOKENS');
        assert.ok(err.message.startsWith(`${f}:4: `), err.message);
        assert.match(err.message, message);
        return true;
      },
      line,
    );
  }
  assert.throws(() => JoinTokens.load('/nonexistent/tokens'), /Cannot read the join token file "\/nonexistent\/tokens"/);
});

test('the default token: 256 random bits, scope */*, file 0600, created once and reused', () => {
  const dir = tempDir('mw-tokens-');
  const first = JoinTokens.createDefault(dir);
  assert.equal(first.file, path.join(dir, 'join-token'));
  assert.equal(fs.statSync(first.file).mode & 0o777, 0o600);
  const lines = fs.readFileSync(first.file, 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
  assert.equal(lines.length, 1);
  const [token, scope] = lines[0]!.split(' ');
  assert.equal(scope, '*/*');
  assert.equal(Buffer.from(token!, 'base64url').length, 32);
  assert.equal(first.tokens.authorize(token!, 'any', 'identity'), true);
  // `meshwork proxy --join-token-file` takes the file's first word as the token: the same file serves both ends
  assert.equal(fs.readFileSync(first.file, 'utf8').trim().split(/\s+/)[0], token);

  const second = JoinTokens.createDefault(dir);
  assert.equal(fs.readFileSync(second.file, 'utf8'), fs.readFileSync(first.file, 'utf8'));
  assert.equal(second.tokens.authorize(token!, 'other', 'one'), true);
  // another data directory gets another token
  const elsewhere = JoinTokens.createDefault(tempDir('mw-tokens-'));
  assert.equal(elsewhere.tokens.authorize(token!, 'any', 'identity'), false);
});
