import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../config/load.js';
import { findSecrets } from '../../config/secrets.js';
import { sinksSchema } from './schema.js';

describe('sinks schema', () => {
  it('fills defaults: TLS syslog on 6514 with verification on, a 256 MiB spool', () => {
    const [s] = sinksSchema.parse([{ name: 'siem', type: 'syslog', host: 'siem.example' }]);
    expect(s).toMatchObject({
      transport: 'tls',
      port: 6514,
      format: 'rfc5424',
      tls: { verify: true },
      buffer: { max_bytes: 256 * 1024 * 1024 },
      retry: { base_ms: 200, max_ms: 30_000 },
    });
  });

  it('names the field of a bad value, refuses unknown fields and duplicate names', () => {
    const bad = sinksSchema.safeParse([{ name: 'x', type: 'http', format: 'splunk_hec', url: 'not a url' }]);
    expect(bad.error?.issues[0]?.path).toEqual([0, 'url']);
    expect(sinksSchema.safeParse([{ name: 'x', type: 'syslog', host: 'h', colour: 1 }]).success).toBe(false);
    expect(sinksSchema.safeParse([{ name: 'x', type: 'kafka' }]).success).toBe(false);
    const dup = sinksSchema.safeParse([
      { name: 'a', type: 'syslog', host: 'h' },
      { name: 'a', type: 'syslog', host: 'h' },
    ]);
    expect(dup.error?.issues[0]).toMatchObject({ path: [1, 'name'], message: 'duplicate sink name "a"' });
    expect(sinksSchema.safeParse([{ name: '../x', type: 'syslog', host: 'h' }]).success).toBe(false);
  });

  it('marks the HEC token and the TLS client key as secrets (refused inline in production)', () => {
    const raw = [
      { name: 'a', type: 'http', format: 'splunk_hec', url: 'https://s:8088/services/collector/event', token: 't' },
      { name: 'b', type: 'syslog', host: 'h', tls: { cert: 'C', key: 'K' } },
    ];
    expect(findSecrets(sinksSchema, raw).map((s) => s.path)).toEqual([
      [0, 'token'],
      [1, 'tls', 'key'],
    ]);
  });
});

describe('loader safety check', () => {
  const yaml = (env: string) => `environment: ${env}
listeners: [{ port: 0 }]
audit:
  sinks:
    - { name: siem, type: syslog, host: siem.example, tls: { verify: false } }
`;
  it('refuses a sink without TLS verification in production, warns in development', () => {
    let err: unknown;
    try {
      parseConfig(yaml('production'), 'rampart.yaml', '/tmp', {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const issue = (err as ConfigError).issues.find((i) => i.path === 'audit.sinks[0].tls.verify');
    expect(issue).toMatchObject({ severity: 'error', line: 5 });
    const dev = parseConfig(yaml('development'), 'rampart.yaml', '/tmp', {});
    expect(dev.warnings.find((i) => i.path === 'audit.sinks[0].tls.verify')?.severity).toBe('warning');
  });
});
