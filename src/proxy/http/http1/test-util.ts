// Shared by the codec's tests: parsers wired to an event log, so that a test compares what was delivered, in
// which order, however the bytes were split.
import type { HeaderMap } from '../headers.js';
import { RequestParser, type RequestHead, type RequestParserOptions } from './request-parser.js';
import { ResponseParser, type ResponseHead } from './response-parser.js';
import type { ParserLimits } from './message-parser.js';

export type Event =
  | { kind: 'head'; head: RequestHead }
  | { kind: 'response'; head: ResponseHead }
  | { kind: 'info'; status: number; headers: string[] }
  | { kind: 'body'; data: Buffer }
  | { kind: 'complete'; trailers: string[] | undefined }
  | { kind: 'error'; status: number; reason: string };

export interface RequestHarness {
  parser: RequestParser;
  events: Event[];
  heads(): RequestHead[];
  errors(): { status: number; reason: string }[];
  /** body bytes delivered so far, concatenated */
  body(): string;
}

const trailerList = (t: HeaderMap | undefined): string[] | undefined => (t === undefined ? undefined : t.raw.slice());

/** A RequestParser logging every callback; with autoResume it resumes right after each message (in the
 * callback), as a connection manager answering synchronously would. */
export function requestHarness(opts: RequestParserOptions = {}, autoResume = false): RequestHarness {
  const events: Event[] = [];
  const parser: RequestParser = new RequestParser(
    {
      onRequestHead: (head) => events.push({ kind: 'head', head }),
      onBody: (data) => events.push({ kind: 'body', data }), // kept uncopied: views must stay valid
      onMessageComplete: (trailers) => {
        events.push({ kind: 'complete', trailers: trailerList(trailers) });
        if (autoResume) parser.resume();
      },
      onError: (status, reason) => events.push({ kind: 'error', status, reason }),
    },
    opts,
  );
  return {
    parser,
    events,
    heads: () => events.flatMap((e) => (e.kind === 'head' ? [e.head] : [])),
    errors: () => events.flatMap((e) => (e.kind === 'error' ? [{ status: e.status, reason: e.reason }] : [])),
    body: () => Buffer.concat(events.flatMap((e) => (e.kind === 'body' ? [e.data] : []))).toString('latin1'),
  };
}

export interface ResponseHarness {
  parser: ResponseParser;
  events: Event[];
  body(): string;
}

export function responseHarness(limits: ParserLimits = {}): ResponseHarness {
  const events: Event[] = [];
  const parser = new ResponseParser(
    {
      onInformational: (status, headers) => events.push({ kind: 'info', status, headers: headers.raw.slice() }),
      onResponseHead: (head) => events.push({ kind: 'response', head }),
      onBody: (data) => events.push({ kind: 'body', data }), // kept uncopied: views must stay valid
      onMessageComplete: (trailers) => events.push({ kind: 'complete', trailers: trailerList(trailers) }),
      onError: (reason) => events.push({ kind: 'error', status: 0, reason }),
    },
    limits,
  );
  return {
    parser,
    events,
    body: () => Buffer.concat(events.flatMap((e) => (e.kind === 'body' ? [e.data] : []))).toString('latin1'),
  };
}

/** The event log with body chunks merged, so logs from differently split input compare equal. */
export function normalize(events: Event[]): unknown[] {
  const out: unknown[] = [];
  for (const e of events) {
    const last = out[out.length - 1] as { kind: string; data: string } | undefined;
    if (e.kind === 'body') {
      if (last?.kind === 'body') last.data += e.data.toString('latin1');
      else out.push({ kind: 'body', data: e.data.toString('latin1') });
    } else if (e.kind === 'head' || e.kind === 'response') {
      out.push({ kind: e.kind, head: { ...e.head, headers: e.head.headers.raw.slice() } });
    } else {
      out.push(e);
    }
  }
  return out;
}

/** Deterministic PRNG so random splits are reproducible. */
export { seededRandom as prng } from '../../../common/prng.js';

/** `data` cut into pieces at random points. */
export function randomSplits(data: Buffer, rnd: () => number, maxPiece = 17): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  while (i < data.length) {
    const n = 1 + Math.floor(rnd() * maxPiece);
    out.push(data.subarray(i, i + n));
    i += n;
  }
  return out;
}
