// Meshwork's HTTP/1.1 codec: parsers for both directions and the serializers. The connection manager uses
// RequestParser + writeResponseHead downstream; the upstream pool uses writeRequestHead + ResponseParser.
export { RequestParser, isH2Preface } from './request-parser.js';
export type { RequestErrorStatus, RequestHead, RequestParserCallbacks, RequestParserOptions } from './request-parser.js';
export { ResponseParser } from './response-parser.js';
export type { ResponseBodyKind, ResponseHead, ResponseParserCallbacks } from './response-parser.js';
export type { BodyKind, ParserLimits } from './message-parser.js';
export {
  CONTINUE_100,
  CRLF,
  LAST_CHUNK,
  chunkHeader,
  encodeChunk,
  encodeTrailers,
  statusLine,
  writeRequestHead,
  writeResponseHead,
} from './serializer.js';
export type { EncodedHead, Framing, ResponseHeadOptions } from './serializer.js';
