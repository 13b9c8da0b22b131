import { connect, type Socket } from 'node:net';

/**
 * Raw HTTP on a socket, for tests of framing and timing that node's clients refuse to produce (smuggling cases,
 * slowloris, hand-written HTTP/2 frames).
 */

export interface RecordingSocket {
  s: Socket;
  /** Everything the server sent so far, latin1. */
  text: () => string;
  closed: () => boolean;
}

/** Records what the server sends on `s` (plain or TLS) and whether it closed; socket errors are expected here. */
export function record(s: Socket): RecordingSocket {
  let text = '';
  let closed = false;
  s.setEncoding('latin1');
  s.on('data', (d: string) => {
    text += d;
  });
  s.on('close', () => {
    closed = true;
  });
  s.on('error', () => {});
  return { s, text: () => text, closed: () => closed };
}

/** A TCP connection that records what the server sends and when it closes. */
export function openRecording(port: number): Promise<RecordingSocket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    const rec = record(s);
    s.once('connect', () => resolve(rec));
    s.once('error', reject);
  });
}

/** HPACK literal header field without indexing, new name, no Huffman (RFC 7541 6.2.2). */
export function hpackLiteral(name: string, value: string): Buffer {
  const n = Buffer.from(name);
  const v = Buffer.from(value);
  if (n.length > 126 || v.length > 126) throw new Error('short strings only');
  return Buffer.concat([Buffer.from([0x00, n.length]), n, Buffer.from([v.length]), v]);
}

/** One HTTP/2 frame: 9-byte header (length, type, flags, stream id) and the payload (RFC 9113 4.1). */
export function h2Frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}
