import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadOpenApiSync } from './index.js';
import { ALL, check, specDir } from './test-helpers.js';
import { RequestValidator } from './validator.js';

const EX = 'node_modules/@readme/oas-examples';
const GITHUB = 'node_modules/@octokit/openapi/generated/api.github.com.json';

const validator = (file: string) => new RequestValidator(loadOpenApiSync(file));
const issues = (r: unknown) =>
  (r as { issues?: { in: string; name?: string; pointer: string; message: string }[] }).issues;

describe('GitHub REST API (OpenAPI 3.0, 1,200 operations, 13 MB)', () => {
  const v = validator(GITHUB);
  const json = { contentType: 'application/json' };

  it('passes real requests', async () => {
    expect(await check(v, 'GET', '/repos/octocat/hello-world/issues?state=open&per_page=50&labels=bug,ui')).toEqual({
      kind: 'ok',
    });
    const created = await check(v, 'POST', '/repos/octocat/hello-world/issues', {
      ...json,
      body: JSON.stringify({ title: 'Found a bug', body: 'It crashes', labels: ['bug'], assignees: ['octocat'] }),
    });
    expect(created.kind).toBe('ok');
    expect(await check(v, 'GET', '/users/octocat')).toEqual({ kind: 'ok' });
    expect(await check(v, 'HEAD', '/users/octocat')).toEqual({ kind: 'ok' });
    // milestone is oneOf string / integer (nullable): both forms pass.
    for (const milestone of [3, '3', null]) {
      const r = await check(v, 'PATCH', '/repos/o/r/issues/7', { ...json, body: JSON.stringify({ milestone }) });
      expect(r.kind).toBe('ok');
    }
  });

  it('refuses bad ones, pointing at the field and never repeating the value', async () => {
    const r = await check(v, 'GET', '/repos/o/r/issues?state=SECRET-VALUE');
    expect(issues(r)).toEqual([
      { in: 'query', name: 'state', pointer: '', message: 'must be one of the allowed values' },
    ]);
    expect(JSON.stringify(r)).not.toContain('SECRET-VALUE');
    expect(issues(await check(v, 'GET', '/repos/o/r/issues?per_page=many'))).toEqual([
      { in: 'query', name: 'per_page', pointer: '', message: 'must be of type integer' },
    ]);
    expect(issues(await check(v, 'GET', '/repos/o/r/issues?sneaky=1'))).toEqual([
      { in: 'query', name: 'sneaky', pointer: '', message: 'is not a parameter of this operation' },
    ]);
    const noTitle = await check(v, 'POST', '/repos/o/r/issues', { ...json, body: '{"labels":["x"]}' });
    expect(issues(noTitle)).toEqual([{ in: 'body', pointer: '/title', message: 'is required' }]);
    // The issue number is an integer path parameter.
    expect(issues(await check(v, 'GET', '/repos/o/r/issues/abc'))).toEqual([
      { in: 'path', name: 'issue_number', pointer: '', message: 'must be of type integer' },
    ]);
    expect(await check(v, 'POST', '/repos/o/r/issues', { contentType: 'text/plain', body: 'x' })).toEqual({
      kind: 'media-type',
      mediaType: 'text/plain',
    });
  });

  it('knows which operations exist', async () => {
    expect(await check(v, 'GET', '/no/such/path')).toEqual({ kind: 'none' });
    const m = await check(v, 'PUT', '/users/octocat');
    expect(m.kind).toBe('method');
    expect((m as { allow: string[] }).allow).toEqual(['GET', 'HEAD']);
  });

  it('loads and compiles every operation within bounded memory', () => {
    global.gc?.();
    const before = process.memoryUsage().heapUsed;
    const fresh = validator(GITHUB);
    const t = performance.now();
    const n = fresh.compileAll();
    const ms = performance.now() - t;
    const grew = process.memoryUsage().heapUsed - before;
    console.log(`github: ${n} operations compiled in ${ms.toFixed(0)} ms, heap +${(grew / 1e6).toFixed(0)} MB`);
    expect(n).toBe(fresh.doc.operations.length);
    expect(n).toBeGreaterThan(1000);
    expect(grew).toBeLessThan(1024 * 1024 * 1024);
  });
});

describe('Train Travel API (OpenAPI 3.1)', () => {
  const v = validator(join(EX, '3.1/json/train-travel.json'));
  const origin = 'efdbb9d1-02c2-4bc3-afb7-6788d8782b1e';
  const dest = 'b2e783e1-c824-4d63-b37a-d8d698862f1d';

  it('validates query formats and coerces booleans', async () => {
    expect(
      await check(v, 'GET', `/trips?origin=${origin}&destination=${dest}&date=2024-02-01T09:00:00Z&dogs=true`),
    ).toEqual({ kind: 'ok' });
    expect(issues(await check(v, 'GET', `/trips?origin=nope&destination=${dest}&date=2024-02-01T09:00:00Z`))).toEqual([
      { in: 'query', name: 'origin', pointer: '', message: 'must be a valid uuid' },
    ]);
    expect(issues(await check(v, 'GET', `/trips?origin=${origin}&date=2024-02-01T09:00:00Z`))).toEqual([
      { in: 'query', name: 'destination', pointer: '', message: 'is required' },
    ]);
    expect(
      issues(await check(v, 'GET', `/trips?origin=${origin}&destination=${dest}&date=2024-02-01T09:00:00Z&dogs=maybe`)),
    ).toEqual([{ in: 'query', name: 'dogs', pointer: '', message: 'must be of type boolean' }]);
  });

  it('refuses readOnly fields in requests but does not require them', async () => {
    const booking = { trip_id: origin, passenger_name: 'Ada', has_bicycle: false, has_dog: true };
    const ok = await check(v, 'POST', '/bookings', { contentType: 'application/json', body: JSON.stringify(booking) });
    expect(ok.kind).toBe('ok');
    const ro = await check(v, 'POST', '/bookings', {
      contentType: 'application/json',
      body: JSON.stringify({ ...booking, id: dest }),
    });
    expect(issues(ro)).toEqual([{ in: 'body', pointer: '/id', message: 'is read-only' }]);
  });

  it('checks exclusiveMinimum (3.1 numeric form), enums and unevaluatedProperties in a payment', async () => {
    const pay = (p: object) =>
      check(v, 'POST', `/bookings/${origin}/payment`, { contentType: 'application/json', body: JSON.stringify(p) });
    const card = {
      object: 'card',
      name: 'A',
      number: '4242424242424242',
      cvc: 123,
      exp_month: 12,
      exp_year: 2030,
      address_line1: 'x',
      address_country: 'gb',
    };
    expect((await pay({ amount: 10, currency: 'gbp', source: card })).kind).toBe('ok');
    expect(issues(await pay({ amount: 0, currency: 'gbp', source: card }))?.[0]).toMatchObject({
      in: 'body',
      pointer: '/amount',
    });
    expect(issues(await pay({ amount: 1, currency: 'usd', source: card }))?.[0]).toMatchObject({
      pointer: '/currency',
      message: 'must be one of the allowed values',
    });
  });

  it('refuses an application/xml body the operation does not validate only by its media type', async () => {
    expect((await check(v, 'POST', '/bookings', { contentType: 'application/xml', body: '<booking/>' })).kind).toBe(
      'ok',
    );
    expect((await check(v, 'POST', '/bookings', { contentType: 'text/csv', body: 'a,b' })).kind).toBe('media-type');
  });
});

describe('Swagger Petstore (OpenAPI 3.0, servers base path /v2)', () => {
  const v = validator(join(EX, '3.0/json/petstore.json'));

  it('needs the servers base path', async () => {
    expect((await check(v, 'GET', '/v2/pet/findByStatus?status=available')).kind).toBe('ok');
    expect(await check(v, 'GET', '/pet/findByStatus?status=available')).toEqual({ kind: 'none' });
  });

  it('exploded form arrays, enums of items', async () => {
    expect((await check(v, 'GET', '/v2/pet/findByStatus?status=available&status=sold')).kind).toBe('ok');
    expect(issues(await check(v, 'GET', '/v2/pet/findByStatus?status=available&status=lost'))).toEqual([
      { in: 'query', name: 'status', pointer: '/1', message: 'must be one of the allowed values' },
    ]);
  });

  it('request bodies through components.requestBodies; readOnly id; int64 path ids', async () => {
    const pet = { name: 'doggie', photoUrls: ['https://example.com/a.png'], status: 'available' };
    const post = (p: object) =>
      check(v, 'POST', '/v2/pet', { contentType: 'application/json', body: JSON.stringify(p) });
    expect((await post(pet)).kind).toBe('ok');
    expect(issues(await post({ ...pet, id: 7 }))).toEqual([{ in: 'body', pointer: '/id', message: 'is read-only' }]);
    expect(issues(await post({ name: 'x' }))).toEqual([{ in: 'body', pointer: '/photoUrls', message: 'is required' }]);
    expect((await check(v, 'GET', '/v2/pet/42')).kind).toBe('ok');
    expect(issues(await check(v, 'GET', '/v2/pet/4.5'))?.[0]).toMatchObject({ in: 'path', name: 'petId' });
  });

  it('form-urlencoded bodies', async () => {
    const form = 'application/x-www-form-urlencoded';
    expect((await check(v, 'POST', '/v2/pet/42', { contentType: form, body: 'name=Rex&status=sold' })).kind).toBe('ok');
    expect(issues(await check(v, 'POST', '/v2/pet/42', { contentType: form, body: 'name=a&name=b' }))).toEqual([
      { in: 'body', pointer: '/name', message: 'must not be repeated' },
    ]);
  });
});

describe('parameter styles (readme parameters-style.yaml, OpenAPI 3.0)', () => {
  const v = validator(join(EX, '3.0/yaml/parameters-style.yaml'));
  const ops = v.doc.operations.map((o) => `${o.method} ${o.pathTemplate}`);

  it('loads every styled operation', () => {
    expect(ops.length).toBeGreaterThan(10);
    expect(v.compileAll()).toBe(ops.length);
  });
});

describe('edge cases', () => {
  const dir = specDir({
    'api.yaml': `
openapi: 3.0.3
info: { title: t, version: '1' }
servers: [{ url: 'https://api.example.com/{version}', variables: { version: { default: v1 } } }]
paths:
  /items/{id}:
    parameters:
      - { name: id, in: path, required: true, schema: { type: integer, minimum: 1 } }
    get:
      parameters:
        - { name: X-Trace, in: header, required: true, schema: { type: string, pattern: '^[a-f0-9]{8}$' } }
        - { name: session, in: cookie, required: true, schema: { type: string, minLength: 4 } }
        - { name: filter, in: query, style: deepObject, explode: true, schema: { type: object, properties: { color: { type: string }, size: { type: integer } }, additionalProperties: false } }
        - { name: tags, in: query, style: pipeDelimited, schema: { type: array, items: { type: string } } }
        - { name: ids, in: query, explode: false, schema: { type: array, items: { type: integer }, maxItems: 3 } }
        - { name: q, in: query, content: { application/json: { schema: { type: object, required: [a] } } } }
      responses: { '200': { description: ok } }
    put:
      requestBody:
        required: true
        content:
          application/json:
            schema: { $ref: 'schemas.yaml#/Item' }
          multipart/form-data:
            schema:
              type: object
              required: [name]
              properties:
                name: { type: string, maxLength: 5 }
                file: { type: string, format: binary }
                tags: { type: array, items: { type: string } }
      responses: { '200': { description: ok } }
  /matrix/{m}/{label}:
    get:
      parameters:
        - { name: m, in: path, required: true, style: matrix, explode: true, schema: { type: array, items: { type: integer } } }
        - { name: label, in: path, required: true, style: label, schema: { type: object, properties: { r: { type: integer } } } }
      responses: { '200': { description: ok } }
  /tree:
    post:
      requestBody:
        content: { application/json: { schema: { $ref: 'schemas.yaml#/Node' } } }
      responses: { '200': { description: ok } }
`,
    'schemas.yaml': `
Item:
  type: object
  required: [name, price]
  properties:
    id: { type: integer, readOnly: true }
    name: { type: string, nullable: true }
    price: { type: number, minimum: 0, exclusiveMinimum: true }
    kind: { type: string, enum: [a, b], nullable: true }
  additionalProperties: false
Node:
  type: object
  properties:
    name: { type: string }
    children: { type: array, items: { $ref: '#/Node' } }
  additionalProperties: false
`,
  });
  const v = validator(join(dir, 'api.yaml'));
  const H = { 'x-trace': 'deadbeef', cookie: 'other=1; session=abcd' };

  it('server variables give the base path; header and cookie parameters', async () => {
    expect(await check(v, 'GET', '/v1/items/3', { headers: H })).toEqual({ kind: 'ok' });
    expect(await check(v, 'GET', '/items/3', { headers: H })).toEqual({ kind: 'none' });
    expect(issues(await check(v, 'GET', '/v1/items/0', { headers: { cookie: 'session=ab' } }))).toEqual([
      { in: 'path', name: 'id', pointer: '', message: 'must be >= 1' },
      { in: 'header', name: 'x-trace', pointer: '', message: 'is required' },
      { in: 'cookie', name: 'session', pointer: '', message: 'must NOT have fewer than 4 characters' },
    ]);
  });

  it('deepObject, pipeDelimited, non-exploded form arrays and JSON content parameters', async () => {
    const ok = '/v1/items/3?filter[color]=red&filter[size]=2&tags=a|b&ids=1,2,3&q=%7B%22a%22%3A1%7D';
    expect(await check(v, 'GET', ok, { headers: H })).toEqual({ kind: 'ok' });
    expect(issues(await check(v, 'GET', '/v1/items/3?filter[shape]=x', { headers: H }))).toEqual([
      { in: 'query', name: 'filter', pointer: '/shape', message: 'is not an allowed property' },
    ]);
    expect(issues(await check(v, 'GET', '/v1/items/3?ids=1,2,3,4', { headers: H }))).toEqual([
      { in: 'query', name: 'ids', pointer: '', message: 'must NOT have more than 3 items' },
    ]);
    expect(issues(await check(v, 'GET', '/v1/items/3?ids=1,x', { headers: H }))).toEqual([
      { in: 'query', name: 'ids', pointer: '/1', message: 'must be of type integer' },
    ]);
    expect(issues(await check(v, 'GET', '/v1/items/3?q=%7B%7D', { headers: H }))).toEqual([
      { in: 'query', name: 'q', pointer: '/a', message: 'is required' },
    ]);
    expect(issues(await check(v, 'GET', '/v1/items/3?q=nope', { headers: H }))?.[0]).toEqual({
      in: 'query',
      name: 'q',
      pointer: '',
      message: 'is not valid JSON',
    });
  });

  it('names and keys the client chose are shown only when plain (no markup echoed)', async () => {
    expect(issues(await check(v, 'GET', '/v1/items/3?%3Cscript%3E=1', { headers: H }))).toEqual([
      { in: 'query', name: '*', pointer: '', message: 'is not a parameter of this operation' },
    ]);
    const put = await check(v, 'PUT', '/v1/items/3', {
      contentType: 'application/json',
      body: JSON.stringify({ name: 'x', price: 1, '<img src=x onerror=alert(1)>': 1 }),
    });
    expect(issues(put)).toEqual([{ in: 'body', pointer: '/*', message: 'is not an allowed property' }]);
    expect(JSON.stringify(put)).not.toContain('onerror');
  });

  it('a repeated scalar query parameter is refused (parameter pollution)', async () => {
    expect(issues(await check(v, 'GET', '/v1/items/3?ids=1&ids=2', { headers: H }))).toEqual([
      { in: 'query', name: 'ids', pointer: '', message: 'must not be repeated' },
    ]);
  });

  it('matrix and label path styles', async () => {
    expect(await check(v, 'GET', '/v1/matrix/;m=1;m=2/.r,5')).toEqual({ kind: 'ok' });
    expect(issues(await check(v, 'GET', '/v1/matrix/;m=1;m=x/.r,5'))).toEqual([
      { in: 'path', name: 'm', pointer: '/1', message: 'must be of type integer' },
    ]);
    expect(issues(await check(v, 'GET', '/v1/matrix/m=1/.r,5'))).toEqual([
      { in: 'path', name: 'm', pointer: '', message: 'does not follow style matrix' },
    ]);
  });

  it('3.0 nullable and boolean exclusiveMinimum, from a relative file', async () => {
    const put = (b: object) =>
      check(v, 'PUT', '/v1/items/3', { contentType: 'application/json', body: JSON.stringify(b) });
    expect((await put({ name: null, price: 1, kind: null })).kind).toBe('ok');
    expect(issues(await put({ name: 'x', price: 0 }))).toEqual([
      { in: 'body', pointer: '/price', message: 'must be > 0' },
    ]);
    expect(issues(await put({ name: 'x', price: 1, kind: 'c' }))?.[0]?.pointer).toBe('/kind');
    expect(issues(await put({ name: 'x', price: 1, id: 4 }))).toEqual([
      { in: 'body', pointer: '/id', message: 'is read-only' },
    ]);
    expect(issues(await put({ name: 'x', price: 1, admin: true }))).toEqual([
      { in: 'body', pointer: '/admin', message: 'is not an allowed property' },
    ]);
  });

  it('a required body missing; a body where none is declared', async () => {
    expect(issues(await check(v, 'PUT', '/v1/items/3'))).toEqual([
      { in: 'body', pointer: '', message: 'a request body is required' },
    ]);
    expect(
      issues(await check(v, 'GET', '/v1/items/3', { headers: H, contentType: 'application/json', body: '{}' })),
    ).toEqual([{ in: 'body', pointer: '', message: 'this operation takes no request body' }]);
  });

  it('recursive schemas validate (cycles through $ref)', async () => {
    const tree = { name: 'a', children: [{ name: 'b', children: [{ name: 'c', children: [] }] }] };
    const post = (b: object) =>
      check(v, 'POST', '/v1/tree', { contentType: 'application/json', body: JSON.stringify(b) });
    expect((await post(tree)).kind).toBe('ok');
    expect(issues(await post({ children: [{ children: [{ bad: 1 }] }] }))).toEqual([
      { in: 'body', pointer: '/children/0/children/0/bad', message: 'is not an allowed property' },
    ]);
  });

  it('multipart/form-data: text fields and files, arrays from repeated parts', async () => {
    const b = '----x';
    const part = (name: string, value: string, file = false) =>
      `--${b}\r\nContent-Disposition: form-data; name="${name}"${file ? '; filename="a.bin"' : ''}\r\n\r\n${value}\r\n`;
    const body = `${part('name', 'abc')}${part('tags', 't1')}${part('tags', 't2')}${part('file', '\x00\x01', true)}--${b}--\r\n`;
    const ct = `multipart/form-data; boundary=${b}`;
    expect(await check(v, 'PUT', '/v1/items/3', { contentType: ct, body })).toEqual({ kind: 'ok' });
    const long = `${part('name', 'abcdef')}--${b}--\r\n`;
    expect(issues(await check(v, 'PUT', '/v1/items/3', { contentType: ct, body: long }))).toEqual([
      { in: 'body', pointer: '/name', message: 'must NOT have more than 5 characters' },
    ]);
    expect(
      issues(await check(v, 'PUT', '/v1/items/3', { contentType: 'multipart/form-data', body: long }))?.[0]?.message,
    ).toBe('multipart body without a boundary');
  });

  it('toggles switch locations off; allow_unknown_query lets unknown names through', async () => {
    const off = { ...ALL, headers: false, cookies: false, allowUnknownQuery: true };
    expect(await check(v, 'GET', '/v1/items/3?whatever=1', {}, off)).toEqual({ kind: 'ok' });
  });
});
