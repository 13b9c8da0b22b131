import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadOpenApi, loadOpenApiSync, SpecError } from './index.js';
import { specDir } from './test-helpers.js';

type Obj = Record<string, unknown>;
const props = (s: object | null) => Object.keys(((s as Obj | null)?.properties as Obj | undefined) ?? {});

describe('loadOpenApi / match', () => {
  it('the demo spec: operations by method and path, params raw, HEAD as GET', async () => {
    const doc = await loadOpenApi('examples/openapi.yaml');
    expect(doc.version).toBe('3.1');
    const m = doc.match('GET', '/users/u_1001');
    expect(m).toMatchObject({ operationId: 'getUser', pathTemplate: '/users/{id}', params: { id: 'u_1001' } });
    expect(doc.match('get', '/users/u_1001')?.operationId).toBe('getUser');
    expect(doc.match('HEAD', '/users/u_1001')?.operationId).toBe('getUser');
    expect(doc.match('GET', '/users/u_1001/accounts')?.operationId).toBe('listUserAccounts');
    expect(doc.match('PUT', '/users/u_1001')).toBeNull();
    expect(doc.match('GET', '/users/u_1001/')).toBeNull();
    expect(doc.match('GET', '/nope')).toBeNull();
    // Concrete paths win over templated ones.
    expect(doc.match('GET', '/admin/users')?.operationId).toBe('listAdminUsers');
  });

  it('responseSchema: public fields only, $refs resolved, fallbacks to 2XX and default, media ranges', async () => {
    const doc = await loadOpenApi('examples/openapi.yaml');
    const user = doc.match('GET', '/users/u_1')?.responseSchema(200, 'application/json; charset=utf-8') ?? null;
    expect(props(user)).toEqual(['id', 'name', 'email', 'role']);
    const list = doc.match('GET', '/users')?.responseSchema(200, 'application/json') as Obj;
    expect(props(list.items as object)).toEqual(['id', 'name', 'email', 'role']);
    // The same component is the same object wherever it is used.
    expect(list.items).toBe(user);
    const err = doc.match('GET', '/users/u_1')?.responseSchema(404, 'application/json');
    expect(props(err ?? null)).toEqual(['error']);
    expect(doc.match('GET', '/users/u_1')?.responseSchema(200, 'text/html')).toBeNull();
    expect(doc.match('DELETE', '/users/u_1')?.responseSchema(204, 'application/json')).toBeNull();
    const order = doc.match('GET', '/orders/ord_1')?.responseSchema(200, 'application/json');
    expect(props(order ?? null)).not.toContain('card_number');
  });

  it('3.0 documents convert: nullable, exclusiveMinimum booleans, example; 2XX keys; */* content', () => {
    const dir = specDir({
      'a.yaml': `
openapi: 3.0.3
info: { title: t, version: '1' }
paths:
  /x:
    get:
      responses:
        '2XX':
          description: ok
          content:
            '*/*':
              schema:
                type: object
                example: { a: 1 }
                properties:
                  a: { type: integer, nullable: true, minimum: 0, exclusiveMinimum: true }
                  b: { $ref: '#/components/schemas/B' }
components:
  schemas:
    B: { type: string, enum: [x], nullable: true }
`,
    });
    const doc = loadOpenApiSync(join(dir, 'a.yaml'));
    expect(doc.version).toBe('3.0');
    const s = doc.match('GET', '/x')?.responseSchema(201, 'application/xml') as Obj;
    expect(s).toEqual({
      type: 'object',
      properties: {
        a: { type: ['integer', 'null'], exclusiveMinimum: 0 },
        b: { type: ['string', 'null'], enum: ['x', null] },
      },
    });
  });

  it('3.1: $ref siblings apply (allOf with the target); 3.1 schemas are kept as written', () => {
    const dir = specDir({
      'a.yaml': `
openapi: 3.1.0
info: { title: t, version: '1' }
paths:
  /x:
    get:
      responses:
        default:
          description: ok
          content:
            application/json:
              schema: { $ref: '#/components/schemas/A', properties: { extra: { type: [string, 'null'] } } }
components:
  schemas:
    A: { type: object, properties: { a: { type: integer, exclusiveMinimum: 0 } } }
`,
    });
    const doc = loadOpenApiSync(join(dir, 'a.yaml'));
    expect(doc.match('GET', '/x')?.responseSchema(500, 'application/json')).toEqual({
      properties: { extra: { type: ['string', 'null'] } },
      allOf: [{ type: 'object', properties: { a: { type: 'integer', exclusiveMinimum: 0 } } }],
    });
  });

  it('recursive schemas become a cyclic object graph (walk with a seen-set)', () => {
    const doc = loadOpenApiSync('node_modules/@readme/oas-examples/3.0/json/circular.json');
    let cyclic = false;
    {
      const s = doc.match('GET', '/anything')?.responseSchema(404, 'application/json') as Obj;
      expect((s.properties as Obj).inner).toBe(s);
      const seen = new Set<object>();
      const walk = (o: unknown): void => {
        if (typeof o !== 'object' || o === null) return;
        if (seen.has(o)) {
          cyclic = true;
          return;
        }
        seen.add(o);
        for (const v of Object.values(o)) walk(v);
      };
      walk(s);
    }
    expect(cyclic).toBe(true);
  });

  it('relative file refs, including ones into path items and responses', () => {
    const dir = specDir({
      'root.yaml': `
openapi: 3.1.0
info: { title: t, version: '1' }
paths:
  /pets/{id}: { $ref: 'paths/pet.yaml' }
`,
      'pet.json':
        '{"type":"object","properties":{"id":{"type":"integer"},"secret":{"type":"string","writeOnly":true}}}',
    });
    mkdirSync(join(dir, 'paths'));
    writeFileSync(
      join(dir, 'paths/pet.yaml'),
      `get:\n  operationId: getPet\n  responses:\n    '200':\n      description: ok\n      content:\n        application/json:\n          schema: { $ref: '../pet.json' }\n`,
    );
    const doc = loadOpenApiSync(join(dir, 'root.yaml'));
    const m = doc.match('GET', '/pets/9');
    expect(m?.operationId).toBe('getPet');
    expect(props(m?.responseSchema(200, 'application/json') ?? null)).toEqual(['id', 'secret']);
  });

  it('servers: base paths from absolute and relative URLs; an option overrides them', () => {
    const spec = (servers: string) =>
      join(
        specDir({
          's.yaml': `openapi: 3.0.0\ninfo: { title: t, version: '1' }\nservers: ${servers}\npaths:\n  /a: { get: { responses: { '200': { description: ok } } } }\n`,
        }),
        's.yaml',
      );
    const abs = loadOpenApiSync(spec('[{ url: "https://api.example.com/v2/" }]'));
    expect(abs.match('GET', '/v2/a')).not.toBeNull();
    expect(abs.match('GET', '/a')).toBeNull();
    expect(abs.match('GET', '/v2x/a')).toBeNull();
    const mixed = loadOpenApiSync(spec('[{ url: "/api" }, { url: "https://other.example.com" }]'));
    expect(mixed.match('GET', '/api/a')).not.toBeNull();
    expect(mixed.match('GET', '/a')).not.toBeNull();
    const over = loadOpenApiSync(spec('[{ url: "/api" }]'), { basePath: '/gw/' });
    expect(over.match('GET', '/gw/a')).not.toBeNull();
    expect(over.match('GET', '/api/a')).toBeNull();
  });

  it('real specs load: GitHub (3.0, large), Train Travel (3.1), Petstore', () => {
    const gh = loadOpenApiSync('node_modules/@octokit/openapi/generated/api.github.com.json');
    expect(gh.version).toBe('3.0');
    expect(gh.operations.length).toBeGreaterThan(1000);
    const m = gh.match('GET', '/repos/octocat/hello/issues/12');
    expect(m).toMatchObject({
      operationId: 'issues/get',
      params: { owner: 'octocat', repo: 'hello', issue_number: '12' },
    });
    expect(props(m?.responseSchema(200, 'application/json') ?? null)).toContain('title');
    // Same-shape templates with different parameter names (GitHub has some): each method keeps its own names.
    expect(gh.match('GET', '/orgs/acme/attestations/sha256:abc')?.params).toHaveProperty('subject_digest');
    const tt = loadOpenApiSync('node_modules/@readme/oas-examples/3.1/json/train-travel.json');
    expect(tt.version).toBe('3.1');
    expect(tt.match('GET', '/bookings/1725ff48-ab45-4bb5-9d02-88745177dedb')?.operationId).toBe('get-booking');
  });

  it('refuses what it cannot serve, with the reason', () => {
    const bad = (text: string) => {
      try {
        loadOpenApiSync(join(specDir({ 'x.yaml': text }), 'x.yaml'));
        return 'loaded';
      } catch (e) {
        expect(e).toBeInstanceOf(SpecError);
        return (e as Error).message;
      }
    };
    expect(bad('swagger: "2.0"\n')).toMatch(/Swagger 2.0 is not supported/);
    expect(bad('openapi: 4.0.0\n')).toMatch(/unsupported "openapi" version/);
    expect(bad('openapi: [\n')).toMatch(/not valid JSON or YAML/);
    expect(bad('openapi: 3.0.0\npaths:\n  /a: { $ref: "https://evil.example/x.yaml" }\n')).toMatch(
      /not a local or relative/,
    );
    expect(bad('openapi: 3.0.0\npaths:\n  /a: { $ref: "missing.yaml" }\n')).toMatch(
      /cannot read .*missing.yaml: no such file/,
    );
    expect(bad('openapi: 3.0.0\npaths:\n  /a: { $ref: "#/nowhere" }\n')).toMatch(/\$ref target not found/);
    expect(bad('openapi: 3.0.0\npaths:\n  /a: { $ref: "#/paths/~1a" }\n')).toMatch(/cycle/);
    expect(() => loadOpenApiSync('/no/such/file.yaml')).toThrow(/no such file/);
  });
});
