import type { IncomingHttpHeaders } from 'node:http';
import {
  constants,
  Http2ServerRequest,
  Http2ServerResponse,
  type SecureServerOptions,
  type ServerHttp2Stream,
} from 'node:http2';
import type { ReadableOptions } from 'node:stream';

/**
 * The HTTP/2 compatibility request and response, adjusted so that the gateway's HTTP/1 handler runs on them
 * unchanged: the Host header every stage reads, `res.destroyed`, and a whole-request deadline like HTTP/1's
 * requestTimeout (an HTTP/2 stream has none, so a client could hold it open by trickling its body).
 */
export function h2Classes(
  requestTimeoutMs: number,
): Required<Pick<SecureServerOptions, 'Http2ServerRequest' | 'Http2ServerResponse'>> {
  class Request extends Http2ServerRequest {
    constructor(
      stream: ServerHttp2Stream,
      headers: IncomingHttpHeaders,
      options: ReadableOptions,
      rawHeaders: readonly string[],
    ) {
      // :authority stands for Host in HTTP/2 (RFC 9113 8.3.1) and wins over a Host field sent alongside it.
      const authority = headers[':authority'];
      if (typeof authority === 'string') headers.host = authority;
      // An HTTP/2 body needs no Content-Length: DATA frames carry it to END_STREAM. The gateway decides whether a
      // request has a body as HTTP/1.1 does (Content-Length or Transfer-Encoding), so such a body would be
      // dropped on the way upstream; mark it chunked, which is what it is once on HTTP/1.1. A client cannot send
      // Transfer-Encoding itself over HTTP/2 (a malformed request, refused by nghttp2), and it is hop-by-hop,
      // so it never reaches the upstream as such.
      if (!stream.endAfterHeaders && headers['content-length'] === undefined) headers['transfer-encoding'] = 'chunked';
      // A stream reset before its body ended (the client's RST_STREAM, or nghttp2's own on a content-length that
      // disagrees with the DATA frames): the compat request would just end, and a truncated body would go upstream
      // as a whole one (undici then even sends "content-length: 0"). Fail the body instead. Registered before the
      // compat class's own close listener, which ends the request.
      let self: Request | null = null;
      stream.once('close', () => {
        if (self && stream.rstCode !== constants.NGHTTP2_NO_ERROR && !self.readableEnded)
          self.destroy(new Error('HTTP/2 stream reset before the request body ended'));
      });
      super(stream, headers, options, rawHeaders);
      self = this;
      if (this.complete) return;
      const timer = setTimeout(() => {
        if (!this.complete && !stream.destroyed) stream.close(constants.NGHTTP2_CANCEL);
      }, requestTimeoutMs);
      timer.unref();
      stream.once('close', () => clearTimeout(timer));
    }
  }
  class Response extends Http2ServerResponse {}
  // As on ServerResponse: true once the stream is gone. The compat class lacks it at run time (its typings
  // inherit it from Writable), so the gateway's "client already left" checks would never fire on HTTP/2.
  Object.defineProperty(Response.prototype, 'destroyed', {
    get(this: Http2ServerResponse) {
      return this.stream.destroyed;
    },
  });
  // The typings make the response class generic over its request class; ours pair up at run time.
  return { Http2ServerRequest: Request, Http2ServerResponse: Response as typeof Http2ServerResponse };
}
