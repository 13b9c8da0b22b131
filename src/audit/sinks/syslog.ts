import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { isIP, type Socket, connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { VERSION } from '../../version.js';
import type { AuditEvent } from '../types.js';
import { cefRecord, syslogLine, truncateUtf8 } from './format.js';
import type { SyslogSinkConfig } from './schema.js';
import { RetryableError, type Transport } from './transport.js';

const SEND_TIMEOUT_MS = 30_000;

/** Formats one spooled record as an RFC 5424 line (JSON or CEF as the MSG), within the size limit. */
export function syslogFormatter(c: SyslogSinkConfig): (record: string) => string {
  const o = { facility: c.facility, appName: c.app_name };
  const max = c.max_message_bytes ?? (c.transport === 'udp' ? 2048 : 32_768);
  return (record) => {
    const e = JSON.parse(record) as AuditEvent;
    const line = syslogLine(e, o, c.format === 'cef' ? cefRecord(e, VERSION) : record);
    return truncateUtf8(line, max);
  };
}

/**
 * RFC 5426 syslog over UDP: one datagram per event. A datagram the network or the receiver loses is not noticed
 * (UDP has no acknowledgement): use tcp or tls where every event matters. The spool still covers local send errors.
 */
export class UdpTransport implements Transport {
  private sock: UdpSocket | null = null;
  private readonly format: (r: string) => string;

  constructor(private readonly c: SyslogSinkConfig) {
    this.format = syslogFormatter(c);
  }

  async send(records: readonly string[]): Promise<{ rejected: number }> {
    if (!this.sock) {
      const s = createSocket(isIP(this.c.host) === 6 ? 'udp6' : 'udp4');
      s.on('error', () => {
        s.close();
        if (this.sock === s) this.sock = null;
      });
      this.sock = s;
    }
    const s = this.sock;
    for (const r of records) {
      const msg = Buffer.from(this.format(r));
      await new Promise<void>((resolve, reject) =>
        s.send(msg, this.c.port, this.c.host, (err) =>
          err
            ? reject(new RetryableError(`udp send: ${(err as NodeJS.ErrnoException).code ?? err.message}`))
            : resolve(),
        ),
      );
    }
    return { rejected: 0 };
  }

  async close(): Promise<void> {
    this.sock?.close();
    this.sock = null;
  }
}

/**
 * Syslog over TCP or TLS with RFC 6587 octet-counting framing ("LEN SP MSG"), one connection kept open and opened
 * again (by the sink's backoff) when it fails. A batch counts as delivered once the kernel took it: plain syslog has
 * no application acknowledgement, so events in flight when a receiver crashes can be lost (RELP would close that gap;
 * an orderly receiver restart refuses connections and loses nothing, since unsent events stay spooled).
 */
export class StreamTransport implements Transport {
  private sock: Socket | null = null;
  private readonly format: (r: string) => string;

  constructor(private readonly c: SyslogSinkConfig) {
    this.format = syslogFormatter(c);
  }

  private connect(): Promise<Socket> {
    const c = this.c;
    return new Promise((resolve, reject) => {
      const s: Socket =
        c.transport === 'tls'
          ? tlsConnect({
              host: c.host,
              port: c.port,
              servername: c.tls.servername ?? (isIP(c.host) ? undefined : c.host),
              ca: c.tls.ca,
              cert: c.tls.cert,
              key: c.tls.key,
              rejectUnauthorized: c.tls.verify,
              minVersion: 'TLSv1.2',
            })
          : tcpConnect({ host: c.host, port: c.port });
      const fail = (err: Error) => {
        s.destroy();
        reject(new RetryableError(`${c.transport} connect: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
      };
      s.setTimeout(10_000, () => fail(new Error('timeout')));
      s.once('error', fail);
      s.once(c.transport === 'tls' ? 'secureConnect' : 'connect', () => {
        s.setTimeout(0);
        s.off('error', fail);
        s.setNoDelay(true);
        s.setKeepAlive(true, 30_000);
        s.on('error', () => s.destroy());
        s.on('close', () => {
          if (this.sock === s) this.sock = null;
        });
        // The receiver sends nothing; read and discard so a misbehaving one cannot fill our buffers.
        s.on('data', () => {});
        resolve(s);
      });
    });
  }

  async send(records: readonly string[]): Promise<{ rejected: number }> {
    if (!this.sock || this.sock.destroyed) this.sock = await this.connect();
    const s = this.sock;
    let frames = '';
    for (const r of records) {
      const line = this.format(r);
      frames += `${Buffer.byteLength(line)} ${line}`;
    }
    await new Promise<void>((resolve, reject) => {
      const onClose = () => reject(new RetryableError(`${this.c.transport} connection closed`));
      s.once('close', onClose);
      // A receiver that stops reading would hold the write forever: give up on the connection instead.
      const stall = setTimeout(() => s.destroy(), SEND_TIMEOUT_MS);
      s.write(frames, (err) => {
        clearTimeout(stall);
        s.off('close', onClose);
        if (err) {
          s.destroy();
          reject(
            new RetryableError(`${this.c.transport} write: ${(err as NodeJS.ErrnoException).code ?? err.message}`),
          );
        } else resolve();
      });
    });
    return { rejected: 0 };
  }

  async close(): Promise<void> {
    const s = this.sock;
    this.sock = null;
    if (s && !s.destroyed) s.destroySoon();
  }
}
