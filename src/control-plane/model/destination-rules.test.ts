// The DestinationRule lookup with workload selectors, case by case against Istio's PushContext.destinationRule
// + SidecarScope.DestinationRule: the proxy's namespace first (most specific host among all its rules), then
// the service's namespace, then the root namespace; among the rules of the host found, a selector rule of the
// proxy's namespace that selects it, else the rule without selector, else none.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DestinationRuleSpec, MeshResource } from '../../api/mesh/types.js';
import { DestinationRuleIndex } from './destination-rules.js';

function dr(namespace: string, name: string, spec: DestinationRuleSpec): MeshResource<'DestinationRule'> {
  return { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name, namespace }, spec };
}

const REVIEWS = 'reviews.default.svc.cluster.local';
const lookup = (idx: DestinationRuleIndex, host: string, proxyNs: string, labels: Record<string, string>, svcNs = 'default') => idx.lookup(host, svcNs, proxyNs, labels)?.name;

test('a selector rule wins over the rule without selector for the proxies it selects, and only for them', () => {
  const idx = new DestinationRuleIndex([
    dr('default', 'all', { host: 'reviews' }),
    dr('default', 'frontend', { host: 'reviews', workloadSelector: { matchLabels: { app: 'frontend' } } }),
    dr('default', 'batch', { host: 'reviews', workloadSelector: { matchLabels: { app: 'batch', tier: 'low' } } }),
  ]);
  assert.equal(lookup(idx, REVIEWS, 'default', { app: 'frontend', version: 'v1' }), 'frontend');
  assert.equal(lookup(idx, REVIEWS, 'default', { app: 'batch' }), 'all', 'every selector label must match');
  assert.equal(lookup(idx, REVIEWS, 'default', { app: 'batch', tier: 'low' }), 'batch');
  assert.equal(lookup(idx, REVIEWS, 'default', {}), 'all');
});

test('an empty matchLabels selects every proxy of the namespace', () => {
  const idx = new DestinationRuleIndex([dr('default', 'all', { host: 'reviews' }), dr('default', 'any', { host: 'reviews', workloadSelector: {} })]);
  assert.equal(lookup(idx, REVIEWS, 'default', { app: 'x' }), 'any');
});

test('a selector rule never applies outside its namespace: the service namespace gives its rule without selector', () => {
  const idx = new DestinationRuleIndex([
    dr('default', 'all', { host: 'reviews' }),
    dr('default', 'frontend', { host: 'reviews', workloadSelector: { matchLabels: { app: 'frontend' } } }),
  ]);
  assert.equal(lookup(idx, REVIEWS, 'shop', { app: 'frontend' }), 'all');
  const onlySelector = new DestinationRuleIndex([dr('default', 'frontend', { host: 'reviews', workloadSelector: { matchLabels: { app: 'frontend' } } })]);
  assert.equal(lookup(onlySelector, REVIEWS, 'shop', { app: 'frontend' }), undefined);
});

test("the host of a selector rule shadows the later steps for proxies it does not select (Istio's behaviour)", () => {
  const idx = new DestinationRuleIndex([
    dr('default', 'batch', { host: 'reviews', workloadSelector: { matchLabels: { app: 'batch' } } }),
    dr('default', 'wild', { host: '*.default.svc.cluster.local' }),
    dr('istio-system', 'global', { host: REVIEWS }),
  ]);
  assert.equal(lookup(idx, REVIEWS, 'default', { app: 'batch' }), 'batch');
  // the most specific host of the namespace is the selector rule's: neither the wildcard rule nor the root's
  assert.equal(lookup(idx, REVIEWS, 'default', { app: 'frontend' }), undefined);
  // from another namespace too: the service namespace's most specific host is the selector rule's, which
  // applies to no proxy outside it, and neither the wildcard rule nor the root's is looked at
  assert.equal(lookup(idx, REVIEWS, 'shop', { app: 'batch' }), undefined);
  // a host only the wildcard rule covers gets it
  assert.equal(lookup(idx, 'ratings.default.svc.cluster.local', 'shop', {}), 'wild');
});

test('a selector rule private to its namespace (exportTo ".") is not seen from others; without a match the root namespace gives its rule', () => {
  const idx = new DestinationRuleIndex([
    dr('default', 'batch', { host: 'reviews', exportTo: ['.'], workloadSelector: { matchLabels: { app: 'batch' } } }),
    dr('istio-system', 'global', { host: REVIEWS }),
  ]);
  assert.equal(lookup(idx, REVIEWS, 'shop', {}), 'global');
  assert.equal(lookup(idx, REVIEWS, 'default', { app: 'batch' }), 'batch');
});

test('a proxy in the root namespace looks at the service namespace before the root namespace', () => {
  const idx = new DestinationRuleIndex([dr('istio-system', 'mesh-wide', { host: '*.local' }), dr('default', 'reviews', { host: 'reviews' })]);
  assert.equal(lookup(idx, REVIEWS, 'istio-system', { istio: 'ingressgateway' }), 'reviews');
  assert.equal(lookup(idx, 'other.shop.svc.cluster.local', 'istio-system', {}, 'shop'), 'mesh-wide');
  // a root-namespace selector rule does select gateways there
  const sel = new DestinationRuleIndex([dr('istio-system', 'gw', { host: 'reviews.default.svc.cluster.local', workloadSelector: { matchLabels: { istio: 'ingressgateway' } } })]);
  assert.equal(lookup(sel, REVIEWS, 'istio-system', { istio: 'ingressgateway' }), 'gw');
  assert.equal(lookup(sel, REVIEWS, 'default', { istio: 'ingressgateway' }), undefined);
});
