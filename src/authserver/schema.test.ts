import { describe, expect, it } from 'vitest';
import { ConfigError, type ConfigIssue, parseConfig } from '../config/load.js';
import { authServerSettings } from './settings.js';

/** Line N of the YAML is argument N. */
const yaml = (...lines: string[]) => `${lines.join('\n')}\n`;
const BASE = ['listeners:', '  - port: 8080', 'store: {}'];

function issuesOf(text: string): ConfigIssue[] {
  try {
    parseConfig(text, 'test.yaml', '/tmp');
  } catch (e) {
    if (e instanceof ConfigError) return e.issues;
    throw e;
  }
  throw new Error('expected the config to be refused');
}

describe('auth_server config', () => {
  it('defaults: issuer from the first listener plus path, audience its origin, ES256, 300 s', () => {
    const { config } = parseConfig(yaml(...BASE, 'auth_server: {}'), 'test.yaml', '/tmp');
    expect(authServerSettings(config)).toEqual({
      issuer: 'http://127.0.0.1:8080/oauth',
      audience: 'http://127.0.0.1:8080',
      path: '/oauth',
      accessTokenTtlS: 300,
      signingAlg: 'ES256',
      overlapS: 3600,
    });
    const wild = parseConfig(
      yaml('listeners:', '  - { host: 0.0.0.0, port: 80 }', 'store: {}', 'auth_server: {}'),
      'test.yaml',
      '/tmp',
    ).config;
    expect(authServerSettings(wild)?.issuer).toBe('http://localhost/oauth');
  });

  it('takes an explicit issuer, path, audience, lifetime and algorithm; off means off', () => {
    const { config } = parseConfig(
      yaml(
        ...BASE,
        'auth_server:',
        '  issuer: https://api.example.com/auth/',
        '  path: /auth',
        '  audience: urn:example:api',
        '  access_token_ttl_s: 600',
        '  key_rotation_overlap_s: 900',
        '  signing_alg: EdDSA',
      ),
      'test.yaml',
      '/tmp',
    );
    expect(authServerSettings(config)).toMatchObject({
      issuer: 'https://api.example.com/auth',
      audience: 'urn:example:api',
      path: '/auth',
      accessTokenTtlS: 600,
      signingAlg: 'EdDSA',
      overlapS: 900,
    });
    const off = parseConfig(yaml('listeners:', '  - port: 0', 'auth_server: { enabled: false }'), 'test.yaml', '/tmp');
    expect(authServerSettings(off.config)).toBeNull();
  });

  it('refuses it without a store, at its line', () => {
    const issues = issuesOf(yaml('listeners:', '  - port: 8080', 'auth_server:', '  path: /oauth'));
    expect(issues).toEqual([
      expect.objectContaining({
        file: 'test.yaml',
        line: 4,
        path: 'auth_server',
        message: expect.stringMatching(/store:/),
      }),
    ]);
  });

  it('refuses an overlap shorter than the token lifetime, bad bounds, HMAC and a bad issuer', () => {
    const issues = issuesOf(
      yaml(
        ...BASE,
        'auth_server:',
        '  access_token_ttl_s: 900',
        '  key_rotation_overlap_s: 600',
        '  signing_alg: HS256',
        '  issuer: ftp://x',
      ),
    );
    const at = (path: string) => issues.find((i) => i.path === path);
    expect(at('auth_server.key_rotation_overlap_s')).toMatchObject({
      line: 6,
      message: expect.stringMatching(/at least/),
    });
    expect(at('auth_server.signing_alg')).toMatchObject({
      line: 7,
      message: expect.stringMatching(/ES256, EdDSA, RS256/),
    });
    expect(at('auth_server.issuer')).toMatchObject({ line: 8, message: expect.stringMatching(/http\(s\) URL/) });
    expect(issuesOf(yaml(...BASE, 'auth_server: { access_token_ttl_s: 5 }'))[0]).toMatchObject({
      path: 'auth_server.access_token_ttl_s',
      message: 'must be at least 60',
    });
  });

  it('needs an issuer when the first listener port is chosen at start, and refuses routes it would shadow', () => {
    const issues = issuesOf(
      yaml(
        'listeners:',
        '  - port: 0',
        'store: {}',
        'auth_server: {}',
        'routes:',
        '  - { name: a, paths: ["/oauth/token"] }',
        '  - { name: b, paths: ["/oauthx", "/api"] }',
      ),
    );
    expect(issues.map((i) => [i.path, i.line])).toEqual([
      ['auth_server.issuer', 4],
      ['routes[0].paths[0]', 6],
    ]);
    expect(issues[0]?.message).toMatch(/port 0/);
  });
});
