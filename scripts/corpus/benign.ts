/**
 * Benign lines: API traffic a real client sends, with the text real users write (apostrophes, SQL words in prose,
 * markdown, emoji, URLs, prices, code). Families are separate files; `hard` holds deliberately ambiguous but
 * legitimate requests (code blocks with SQL or shell, template syntax in a template editor, Mongo-style filter
 * APIs, localhost redirect URIs) and is reported on its own as well as in the total.
 */
import {
  type CorpusLine,
  type CorpusRequest,
  clientHeaders,
  encPlus,
  encStd,
  formBody,
  multipart,
  type Rng,
} from './util.js';

export type BenignFamily =
  | 'ecommerce'
  | 'banking'
  | 'social'
  | 'cms'
  | 'search'
  | 'api'
  | 'dev'
  | 'travel'
  | 'telemetry'
  | 'forms'
  | 'hard';

const FIRST = [
  'Seán',
  'Zoë',
  'José',
  'Renée',
  'Søren',
  'Aoife',
  'Jürgen',
  'Mei',
  'Olu',
  'Priya',
  'Dmitri',
  'Fatima',
  'Liam',
  'Ana',
  'Chloé',
  '明',
  'Nguyễn',
  "D'Arcy",
  'Jo-Anne',
  'Mary Kate',
];
const LAST = [
  "O'Brien",
  "D'Angelo",
  "O'Neil",
  'Müller',
  'Smith',
  'Nakamura',
  'García-López',
  "d'Artagnan",
  'van der Berg',
  'Okafor',
  'Ødegaard',
  "M'Bala",
  'Lee',
  'MacDonald',
  "O'Hara",
  'Al-Sayed',
  'Kowalski',
  'Du Bois',
];
const CITIES = [
  'Dublin',
  'São Paulo',
  'Köln',
  "L'Aquila",
  'Zürich',
  'New York',
  'Osaka',
  'Montréal',
  'Lagos',
  "Val-d'Or",
  'Kraków',
  'Reykjavík',
];
const STREETS = [
  "12 O'Connell St",
  '221B Baker Street',
  '1600 Amphitheatre Pkwy',
  "Rue de l'Église 4",
  "Flat 3/2, 45 King's Road",
  'PO Box 1234',
  '5th Ave & 42nd St',
  'Hauptstraße 7a',
  'Unit #4 - 18 Harbour Rd',
];
const PRODUCTS = [
  "Rock 'n' Roll Vinyl Box Set",
  'Tom & Jerry: The Complete Series',
  "Men's Running Shoe (Size 10)",
  'USB-C to USB-C cable, 2m',
  'The "Ultimate" Chef\'s Knife',
  '50% Cotton / 50% Polyester Tee',
  'Drop-Leaf Dining Table',
  'Union Jack Mug',
  'Select Grade Coffee Beans 1kg',
  '4K Monitor 27" IPS',
  "Kids' Art Set (3+)",
  'Insert Molding Kit',
  'Script Writing Notebook',
  'Cat Tree 180cm',
  'Alert Smoke Detector',
  'C++ Primer, 5th ed.',
  "Where's Waldo? Book",
  'AT&T Prepaid SIM',
];
const PROSE = [
  'Please select the best option from the drop-down menu.',
  'Drop me a line if you have any questions!',
  "I'd like to update my shipping address before it ships.",
  'Where can I find the order from last week?',
  "Can't log in — it says my password's wrong.",
  "Rock 'n' roll will never die.",
  'Union Station to Grand Central, 2 tickets please.',
  "Table for 4, or 5 if Sam's coming.",
  'Delete my old address and use the new one, please.',
  'Insert the SIM card before turning the phone on.',
  'The script for the school play is due Friday.',
  'Execute the plan by Monday and report back.',
  'Cat food & litter bundle arrived damaged :(',
  'Size 10 | Color: blue | Qty: 2',
  '50% off — today only!',
  'I <3 this product, 10/10 would buy again',
  'Is 2 > 1? Yes, and 3 < 4.',
  'She said "hello" and left.',
  'Order #12345 -- please expedite if possible.',
  'The ping pong table arrived with a broken leg.',
  'Looking for a template for my resume.',
  "I'm on the admin team; can someone grant me access to the shared drive?",
  'Price was $19.99 (now $24.99?!)',
  "What's the cost of living in São Paulo vs. Lisbon?",
  "Mom's 60th birthday – party at 7pm, don't be late",
  'Versions 1.2.3 - 1.4.0 are affected; upgrade to 1.4.1.',
  'Wi-Fi password is on the fridge :)',
  "#throwback to summer '19 🌊",
  'Buy 2, get 1 free; limit 1 per customer.',
  'Where is the nearest store from here?',
  'Having trouble with the union of two sets in my math homework.',
  'Semicolons; they are fine here, honestly.',
  'From Berlin to Paris in 8 hours — not bad!',
  'Update: the issue is fixed after the restart.',
  'Or maybe we should order pizza instead?',
  'It was 1 of the best concerts I have been to, and 2 of my friends agreed.',
  'Select all that apply: red, green, blue.',
  'Please ignore my previous message and drop the request.',
  'Great value for money - 5 stars ⭐⭐⭐⭐⭐',
  "Don't forget: the meeting is at 10:30 (not 11).",
  'Good quality but the sizes run small, order one size up.',
  'Who let the dogs out? 🐶',
  'Count me in for Saturday!',
  'Shipping was fast; packaging could be better.',
  "The 'Classic' edition is better than the 'Deluxe' one, IMO.",
  'Tried it with 2 AA batteries and it works fine.',
  'Would love a version with a longer cord (>= 3m).',
  'Thanks!!! You guys rock :-)',
  "Is this compatible with the Model X? It says 'universal' but I'm not sure.",
  'Perfect for home office use & gaming.',
  'Sleep quality improved a lot after switching to this pillow.',
  'Exchanged it for a bigger size, the process was smooth.',
  'Nice, but the "waterproof" claim is a stretch...',
  'Gift for my dad — he loves anything about trains.',
  'Arrived in 2 days. Would order again :)',
  '¿Dónde está mi pedido? Gracias.',
  'Très bien, merci beaucoup !',
  'Sehr gute Qualität, gerne wieder.',
  'とても良い商品でした。',
  'Отличный товар, рекомендую.',
  'ممتاز جدا',
  'Can you send me the select few items that are on sale?',
  'Our union meeting is on Thursday at 5.',
  'I need to cancel order 5521; the wrong colour was sent.',
  'Please execute the refund as discussed on the phone.',
  "He's 6'2\" and usually wears a size L.",
  "Use promo code SAVE20 at checkout — it's 20% off.",
  'My username is jane_doe-1985, email jane@example.com.',
  'Does it fit a 13" or 14" laptop?',
  'Will it ship to P.O. boxes?',
  'Temperature range: -20°C to +40°C',
  'Compare: option A is $10/mo, option B is $100/yr.',
  "Question: is the 'organic' label certified?",
  'Call me at (555) 123-4567 ext. 89',
  'I tried 3 times, & each time it failed :(',
  "Ordered on 11/28, still 'processing'...",
  'Love it!!! <3 <3',
  "The ~ and ^ keys don't work on my keyboard.",
  "Set it to 50% brightness & it's perfect.",
  'Comments: N/A',
  'Dear Sir/Madam, please find attached my CV.',
  "Where's the 'Sort by' drop-down gone?",
  'I want to drop the premium plan and keep the basic one.',
  'Or, if easier, refund to my card ending 4242.',
  "The admin panel says 'access denied' when I log in.",
  'Please update the delivery window to 9-12 am.',
  'Item #3 of 5 is missing from the box.',
  'Dimensions: 30 x 20 x 10 cm; weight 1.2 kg',
  "I'm allergic to nuts — does this contain any?",
  'Fantastic! Works with both Windows & macOS.',
  "The password reset link says 'expired' :/",
  "This is 100% a scam, don't buy!",
  "She's the best teacher we've had; 5/5.",
  "Our kids' school uses this for the script-writing class.",
  'New phone who dis? 😅',
  'Pickup from store #12 (Main St & 3rd Ave).',
  'Good product -- recommended.',
  'Is there a discount for orders of 10+ units?',
  "What's the difference between the 'Pro' and the 'Max'?",
  'Colour: "midnight blue" (not black!)',
  'Return label attached; tracking no. 1Z999AA10123456784',
  'Works great with my echo dot and the alarm app.',
  'Set the thermostat to 21 and forget it.',
  'Who is the author of "Where the Crawdads Sing"?',
];
const HASHTAGS = [
  '#tbt',
  '#100DaysOfCode',
  '#foodie',
  '#travel',
  '#DevOps',
  '#rocknroll',
  '#Friday',
  '#OOTD',
  '#nofilter',
];
const EMOJI = ['🎉', '🔥', '😂', '❤️', '👍', '🙏', '🚀', '☕', '🌸', '🐱'];
const SEARCHES = [
  'select the best option',
  'drop me a line template',
  'union station parking',
  'where to buy running shoes',
  'alert sound iphone',
  'javascript array sort',
  'python list comprehension',
  'rock n roll hall of fame',
  "o'brien pub menu",
  "women's winter jacket",
  'cat tree for large cats',
  'ping pong paddles',
  'insert coin arcade',
  'delete key not working mac',
  'update bios asus',
  'script font generator',
  'tom & jerry',
  'c# vs java',
  'node.js tutorial',
  'how to sleep better',
  'exec summary template',
  'from scratch pizza dough',
  'having a great day quotes',
  'table lamp 3 way switch',
  'order of operations math',
  'null and void meaning',
  'and or not logic gates',
  '"exact phrase" search',
  'cats OR dogs',
  'laptop -refurbished',
  'price:<100 headphones',
  'site:example.com pricing',
  'AT&T store hours',
  "M&M's party size",
  '1/2 inch drill bit',
  '100% cotton t-shirt',
  'what is 2+2',
  'best 4k tv 2024',
  'usb-c to hdmi',
  'eBay vs Amazon',
  'São Paulo restaurants',
  'Zürich flights',
  'über uns',
  '東京 ホテル',
  'sci-fi books like dune',
  'is it "affect" or "effect"?',
  'weather tomorrow?',
  'recipe: mac & cheese',
  'jobs @ startups',
  'new york -> boston bus',
  'select comfort mattress',
  'union jack flag',
  'drop earrings gold',
  'insert tab excel',
  'delete instagram account',
  'update drivers windows 11',
  'where clause tutorial',
  'alert box css',
  'cat6 ethernet cable',
  'echo dot 5th gen',
  'internet speed ping test',
  'curl examples',
  'sudo meaning',
  'proto indo european',
  'constructor pattern javascript',
  'template literals',
  'ldap vs active directory',
  'xml vs json',
  'prototype 2 game',
  'order by date',
  'exec chair ergonomic',
  'shell beach resort',
  'root vegetables recipe',
  'admin assistant jobs',
  'passwords manager review',
  'system of a down tickets',
  'the union of soviet socialist republics',
  "rock 'n' roll",
  "don't stop me now lyrics",
  "mother's day gifts",
  'buy 1 get 1',
  '<3 emoji meaning',
  'a & w root beer',
  '10% off code',
  'sleep mask',
  'benchmark gpu 2024',
  'waitrose delivery',
];
const PASSWORDS = [
  'Tr0ub4dor&3',
  "P@ss'word2024",
  'correct horse battery staple',
  's3cr3t!#',
  'h<3llo-World',
  'Winter2024!',
  'qwerty123',
  'Summer_24$',
  'Pa$$w0rd(1)',
  'l0ng&Str0ng;Pass',
  'mYp@ssw0rd*',
  'a"quoted"pass',
];
const DOMAINS = [
  'example.com',
  'example.org',
  'shop.example.net',
  'news.example.com',
  'cdn.example.com',
  'docs.example.io',
];

function person(rng: Rng): { first: string; last: string; email: string } {
  const first = rng.pick(FIRST);
  const last = rng.pick(LAST);
  const local = `${first}.${last}`
    .normalize('NFD')
    .replace(/[^A-Za-z.'-]/g, '')
    .toLowerCase();
  const email = `${local || 'user'}${rng.chance(0.3) ? `+${rng.pick(['shop', 'news', 'work'])}` : ''}@${rng.pick(['example.com', 'mail.example.org', 'example.co.uk'])}`;
  return { first, last, email };
}

function isoDate(rng: Rng): string {
  const d = new Date(Date.UTC(2024, rng.int(12), 1 + rng.int(28), rng.int(24), rng.int(60), rng.int(60)));
  return d.toISOString();
}

function price(rng: Rng): string {
  return `${rng.int(500)}.${String(rng.int(100)).padStart(2, '0')}`;
}

function iban(rng: Rng): string {
  return `DE${rng.int(90) + 10} ${String(rng.int(1e4)).padStart(4, '0')} ${String(rng.int(1e4)).padStart(4, '0')} ${String(rng.int(1e4)).padStart(4, '0')} ${String(rng.int(1e4)).padStart(4, '0')} ${String(rng.int(100)).padStart(2, '0')}`;
}

function url(rng: Rng): string {
  const paths = [
    '/blog/2024/11/why-we-moved-to-postgres',
    '/docs/getting-started?lang=en#install',
    '/p/12345',
    '/search?q=red+shoes&page=2',
    '/watch?v=dQw4w9WgXcQ',
    '/a/b/c.html',
    '/user/jane_doe',
    '/en-us/article/how-to-reset-your-password',
  ];
  return `https://${rng.pick(DOMAINS)}${rng.pick(paths)}`;
}

function sentence(rng: Rng): string {
  return rng.pick(PROSE);
}

function post(rng: Rng): string {
  const parts = [sentence(rng)];
  if (rng.chance(0.4)) parts.push(rng.pick(EMOJI));
  if (rng.chance(0.4)) parts.push(rng.pick(HASHTAGS));
  if (rng.chance(0.3)) parts.push(`@${rng.pick(['jane_doe', 'dev.team', 'Mike_OBrien', 'zoe'])}`);
  if (rng.chance(0.3)) parts.push(url(rng));
  if (rng.chance(0.2)) parts.push(sentence(rng));
  return parts.join(' ');
}

const MD = [
  (r: Rng) =>
    `## ${rng2(r)}\n\nWe shipped **v2.1** today. Highlights:\n\n- Faster search (about 2x)\n- _Dark mode_ for everyone\n- [Release notes](${url(r)})\n`,
  (r: Rng) => `> ${sentence(r)}\n\nThanks to everyone who wrote in. See the [FAQ](${url(r)}) for details.`,
  (r: Rng) =>
    `1. Open **Settings → Billing**\n2. Click *Update card*\n3. Save\n\n![screenshot](https://cdn.example.com/img/billing-${r.hex(6)}.png "Billing page")`,
  () => `| Plan | Price |\n|------|-------|\n| Basic | $9/mo |\n| Pro | $29/mo |\n\n*Prices exclude VAT.*`,
  (r: Rng) =>
    `### Changelog\n\n* Fixed: totals were off by 1 cent in some currencies\n* Changed: the \`limit\` parameter now defaults to 50\n\n${sentence(r)}`,
  (r: Rng) => `${sentence(r)}\n\n---\n\n*Posted by ${person(r).first} on ${isoDate(r).slice(0, 10)}*`,
];
function rng2(r: Rng): string {
  return r.pick(['Product update', "What's new in November", 'Our Q3 roadmap', 'Tips & tricks', 'Behind the scenes']);
}

const SAFE_HTML = [
  (r: Rng) => `<p>Hello <strong>world</strong>, ${sentence(r).replace(/[<>&]/g, '')}</p>`,
  (r: Rng) => `<h2>${rng2(r)}</h2><p>Read more on <a href="${url(r)}">our blog</a>.</p>`,
  () => '<ul><li>Fast</li><li>Secure</li><li>Simple</li></ul>',
  (r: Rng) =>
    `<p><em>Updated</em> ${isoDate(r).slice(0, 10)}</p><blockquote>Quality is not an act, it is a habit.</blockquote>`,
  () =>
    '<p>Call us at <a href="tel:+15551234567">+1 555 123 4567</a> or <a href="mailto:support@example.com">email</a>.</p>',
];

type Gen = (rng: Rng) => { request: CorpusRequest; note: string };

const json = (
  rng: Rng,
  method: string,
  path: string,
  body: unknown,
  note: string,
  extra: Record<string, string> = {},
) => ({
  request: {
    method,
    path,
    query: '',
    headers: { ...clientHeaders(rng, { contentType: 'application/json' }), ...extra },
    body: JSON.stringify(body),
  },
  note,
});
const get = (rng: Rng, path: string, query: string, note: string, browser?: boolean) => ({
  request: { method: 'GET', path, query, headers: clientHeaders(rng, browser === undefined ? {} : { browser }) },
  note,
});

const ECOMMERCE: Gen[] = [
  (r) =>
    get(
      r,
      '/api/v1/products',
      `q=${encPlus(r.pick(SEARCHES))}&category=${r.pick(['shoes', 'home-garden', 'books', 'electronics'])}&sort=${r.pick(['price_asc', '-created_at', 'relevance'])}&page=${1 + r.int(9)}`,
      'product search',
    ),
  (r) =>
    get(
      r,
      '/api/v1/products',
      `filter[brand]=${encStd(r.pick(['acme', "levi's", 'h&m', 'dr. martens']))}&filter[price][gte]=${r.int(50)}&filter[price][lte]=${50 + r.int(500)}&per_page=24`,
      'bracket filters',
    ),
  (r) => get(r, `/api/v1/products/${r.uuid()}`, r.chance(0.5) ? 'include=variants,reviews' : '', 'product by uuid'),
  (r) => get(r, `/api/v1/products/SKU-${r.int(99999)}-${r.pick(['BLK', 'RED', 'XL'])}`, '', 'product by sku'),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/cart/items',
      {
        sku: `SKU-${r.int(99999)}`,
        qty: 1 + r.int(4),
        options: { size: r.pick(['S', 'M', 'L', '10', '10.5']), color: r.pick(['navy', 'off-white', 'red/black']) },
        gift_message: r.chance(0.5) ? sentence(r) : undefined,
      },
      'add to cart',
    ),
  (r) => {
    const p = person(r);
    return json(
      r,
      'POST',
      '/api/v1/checkout',
      {
        shipping: {
          name: `${p.first} ${p.last}`,
          line1: r.pick(STREETS),
          city: r.pick(CITIES),
          postcode: `${r.int(99999)}`.padStart(5, '0'),
          country: r.pick(['IE', 'DE', 'US', 'BR', 'JP']),
        },
        email: p.email,
        payment: { method: 'card', token: `tok_${r.alnum(24)}` },
        notes: r.chance(0.5) ? sentence(r) : '',
        total: price(r),
      },
      'checkout with address',
    );
  },
  (r) =>
    json(
      r,
      'POST',
      `/api/v1/products/${r.int(99999)}/reviews`,
      {
        rating: 1 + r.int(5),
        title: r.pick(PRODUCTS),
        body: `${sentence(r)} ${sentence(r)}`,
        recommend: r.chance(0.7),
      },
      'product review',
    ),
  (r) =>
    get(
      r,
      '/api/v1/orders',
      `status=${r.pick(['shipped', 'pending', 'delivered'])}&from=${isoDate(r).slice(0, 10)}&to=${isoDate(r).slice(0, 10)}`,
      'order list with dates',
    ),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/coupons/apply',
      { code: r.pick(['SUMMER-2024', 'WELCOME10', 'FREESHIP', 'BF_50%OFF', 'VIP#2024']), cart_id: r.uuid() },
      'coupon',
    ),
  (r) => {
    const p = person(r);
    return {
      request: {
        method: 'POST',
        path: '/checkout/address',
        query: '',
        headers: clientHeaders(r, { browser: true, contentType: 'application/x-www-form-urlencoded', cookie: true }),
        body: formBody([
          ['name', `${p.first} ${p.last}`],
          ['street', r.pick(STREETS)],
          ['city', r.pick(CITIES)],
          ['comment', sentence(r)],
        ]),
      },
      note: 'address form',
    };
  },
  (r) =>
    json(
      r,
      'PATCH',
      `/api/v1/wishlists/${r.uuid()}`,
      {
        name: r.pick(["Mom's birthday", 'Xmas 2024 🎄', 'Stuff for the new flat', "Kids' room"]),
        items: [r.pick(PRODUCTS), r.pick(PRODUCTS)],
      },
      'wishlist',
    ),
  (r) =>
    get(
      r,
      '/api/v1/stores',
      `near=${encStd(r.pick(CITIES))}&radius_km=${5 + r.int(50)}&open_now=true`,
      'store locator',
    ),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/gift-cards',
      {
        amount: 25 * (1 + r.int(8)),
        currency: 'EUR',
        to: { name: `${r.pick(FIRST)} ${r.pick(LAST)}`, email: person(r).email },
        message: post(r),
        deliver_on: isoDate(r).slice(0, 10),
      },
      'gift card',
    ),
  (r) =>
    get(
      r,
      '/api/v1/products',
      `ids[]=${r.int(999)}&ids[]=${r.int(999)}&sort=${encStd('-price,name')}&fields[products]=name,price`,
      'array params',
    ),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/support/tickets',
      {
        order_id: `#${r.int(999999)}`,
        subject: r.pick(['Where is my order?', 'Wrong size', 'Refund?', 'Damaged item']),
        message: `${sentence(r)}\n\n${sentence(r)}\n\nThanks,\n${person(r).first}`,
      },
      'support ticket',
    ),
];

const BANKING: Gen[] = [
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/transfers',
      {
        from_account: r.uuid(),
        to_iban: iban(r),
        amount: price(r),
        currency: r.pick(['EUR', 'USD', 'GBP']),
        reference: r.pick([
          'Rent Jan -- flat 3B',
          'Invoice 2024/11 (final)',
          "Dinner at Luigi's 🍝",
          'Payment #42',
          'Split: groceries & gas',
          'Thanks for everything!',
          'Ref: INV-0042; due 30/11',
        ]),
        scheduled_for: isoDate(r).slice(0, 10),
      },
      'transfer',
      { 'idempotency-key': r.uuid() },
    ),
  (r) =>
    get(
      r,
      `/api/v1/accounts/${r.uuid()}/transactions`,
      `from=${isoDate(r).slice(0, 10)}&to=${isoDate(r).slice(0, 10)}&min_amount=${r.int(100)}&category=${r.pick(['groceries', 'travel', 'bills'])}&cursor=${Buffer.from(`{"offset":${r.int(500)}}`).toString('base64url')}`,
      'transactions',
    ),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/payees',
      {
        name: r.pick([
          "O'Reilly Media",
          "Ben & Jerry's",
          'AT&T',
          'Müller GmbH & Co. KG',
          'Smith, Jones & Partners LLP',
        ]),
        iban: iban(r),
        bic: 'DEUTDEFFXXX',
      },
      'payee',
    ),
  (r) =>
    json(
      r,
      'PATCH',
      `/api/v1/cards/${r.uuid()}`,
      {
        limit: r.int(5000),
        frozen: r.chance(0.2),
        nickname: r.pick(['Travel card ✈️', "Kid's card", 'Groceries', 'Work (do not use)']),
      },
      'card settings',
    ),
  (r) =>
    get(
      r,
      `/api/v1/statements/${2020 + r.int(5)}-${String(1 + r.int(12)).padStart(2, '0')}.pdf`,
      '',
      'statement download',
    ),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/budgets',
      {
        name: r.pick(['Food & drinks', 'Rent/Utilities', 'Fun money :)', 'Savings (50%)']),
        monthly_limit: price(r),
        alert_at_percent: r.pick([80, 90, 100]),
      },
      'budget',
    ),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/disputes',
      {
        transaction_id: r.uuid(),
        reason: 'unrecognised',
        description: `I don't recognise this charge from "${r.pick(['AMZN Mktp', 'SQ *COFFEE', 'PAYPAL *STEAM'])}" on ${isoDate(r).slice(0, 10)}.`,
      },
      'dispute',
    ),
];

const SOCIAL: Gen[] = [
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/posts',
      {
        text: post(r),
        visibility: r.pick(['public', 'followers', 'private']),
        media_ids: r.chance(0.3) ? [r.uuid()] : [],
      },
      'post',
    ),
  (r) =>
    json(
      r,
      'POST',
      `/api/v1/posts/${r.int(1e9)}/comments`,
      { text: post(r), reply_to: r.chance(0.3) ? r.int(1e9) : null },
      'comment',
    ),
  (r) => get(r, `/api/v1/users/@${r.pick(['jane_doe', 'mike.obrien', 'zoe_99', 'dev-team'])}`, '', 'profile'),
  (r) => get(r, '/api/v1/timeline', `max_id=${r.int(1e12)}&count=20&include_entities=true`, 'timeline'),
  (r) =>
    json(
      r,
      'PATCH',
      '/api/v1/me',
      {
        display_name: `${r.pick(FIRST)} ${r.pick(EMOJI)}`,
        bio: `${sentence(r)} | ${r.pick(['he/him', 'she/her', 'they/them'])} | ${url(r)}`,
        location: r.pick(CITIES),
      },
      'profile update',
    ),
  (r) => json(r, 'POST', '/api/v1/messages', { to: r.uuid(), text: post(r) }, 'direct message'),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/posts',
      { text: `**${rng2(r)}** — ${sentence(r)}\n\n> ${sentence(r)}\n\n${url(r)}`, format: 'markdown' },
      'markdown post',
    ),
  (r) => json(r, 'PUT', `/api/v1/posts/${r.int(1e9)}/reactions`, { emoji: r.pick(EMOJI) }, 'reaction'),
  (r) => get(r, '/api/v1/hashtags/search', `q=${encStd(r.pick(HASHTAGS))}`, 'hashtag search'),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/polls',
      {
        question: r.pick(['Tabs or spaces?', 'Pineapple on pizza: yes or no?', "What's for lunch?", 'Best season?']),
        options: ['Yes!', 'No way', "Don't care"],
        duration_hours: 24,
      },
      'poll',
    ),
];

const CMS: Gen[] = [
  (r) =>
    json(
      r,
      'PUT',
      `/api/v1/articles/${r.pick(['hello-world', 'q3-roadmap', 'tips-and-tricks', 'release-2-1'])}`,
      {
        title: rng2(r),
        body_markdown: r.pick(MD)(r),
        tags: ['news', r.pick(['product', 'engineering', 'culture'])],
        published_at: isoDate(r),
      },
      'article markdown',
    ),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/pages',
      {
        title: rng2(r),
        blocks: [
          { type: 'paragraph', html: r.pick(SAFE_HTML)(r) },
          { type: 'paragraph', html: r.pick(SAFE_HTML)(r) },
        ],
      },
      'page with safe html',
    ),
  (r) => {
    const name = r.pick([
      'report.final.v2.pdf',
      'IMG_2024-06-01 (1).jpg',
      "Q3 numbers (Jane's copy).xlsx",
      'logo@2x.png',
      'résumé.docx',
      'notes.txt',
      'backup-2024-11-28.tar.gz',
      'design v3 – FINAL.sketch',
    ]);
    const mp = multipart(r, [
      { name: 'title', value: name.replace(/\.[a-z.]+$/, '') },
      { name: 'alt', value: sentence(r) },
      {
        name: 'file',
        filename: name,
        type: 'application/octet-stream',
        value: Buffer.from(r.hex(48), 'hex').toString('base64'),
      },
    ]);
    return {
      request: {
        method: 'POST',
        path: '/api/v1/media',
        query: '',
        headers: clientHeaders(r, { browser: true, contentType: mp.contentType }),
        body: mp.body,
      },
      note: 'media upload',
    };
  },
  (r) =>
    get(
      r,
      '/api/v1/articles',
      `tag=${encStd(r.pick(['how-to', 'c++', 'q&a', 'news']))}&author=${encStd(`${r.pick(FIRST)} ${r.pick(LAST)}`)}&published_after=${encStd(isoDate(r))}`,
      'article filter',
    ),
  (r) =>
    json(
      r,
      'PATCH',
      `/api/v1/articles/${r.int(9999)}/seo`,
      {
        meta_title: `${rng2(r)} | Example Blog`,
        meta_description: sentence(r),
        canonical_url: url(r),
        og_image: `https://cdn.example.com/og/${r.hex(8)}.png`,
      },
      'seo',
    ),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/menus',
      {
        items: [
          { label: 'Home', href: '/' },
          { label: 'Q&A', href: '/faq' },
          { label: "What's new", href: '/blog?tag=news' },
          { label: 'Docs', href: 'https://docs.example.io/' },
        ],
      },
      'menu',
    ),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/forms/contact/submissions',
      { name: `${r.pick(FIRST)} ${r.pick(LAST)}`, email: person(r).email, message: `${sentence(r)}\n${sentence(r)}` },
      'contact form',
    ),
];

const SEARCH: Gen[] = [
  (r) => get(r, '/search', `q=${encPlus(r.pick(SEARCHES))}`, 'site search plus', true),
  (r) =>
    get(
      r,
      '/api/v1/search',
      `q=${encStd(r.pick(SEARCHES))}&type=${r.pick(['all', 'products', 'articles'])}&limit=10`,
      'api search',
    ),
  (r) => get(r, '/api/v1/search', `q=${encStd(sentence(r))}`, 'prose query'),
  (r) => get(r, '/api/v1/autocomplete', `prefix=${encStd(r.pick(SEARCHES).slice(0, 3 + r.int(6)))}`, 'autocomplete'),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/search',
      {
        query: r.pick(SEARCHES),
        filters: { in_stock: true, price: { min: 0, max: 200 } },
        sort: [{ field: 'score', order: 'desc' }],
      },
      'json search',
    ),
  (r) => get(r, '/api/v1/people', `name=${encStd(`${r.pick(FIRST)} ${r.pick(LAST)}`)}`, 'name search'),
];

const TOKENS = () => ['sk_live_', 'pk_test_', 'ghp_', 'xoxb-'];
const API: Gen[] = [
  (r) => ({
    request: {
      method: 'POST',
      path: '/oauth/token',
      query: '',
      headers: clientHeaders(r, { browser: false, contentType: 'application/x-www-form-urlencoded', auth: false }),
      body: formBody([
        ['grant_type', 'authorization_code'],
        ['code', r.alnum(43)],
        ['redirect_uri', 'https://app.example.com/callback'],
        ['client_id', r.alnum(20)],
        ['code_verifier', r.alnum(64)],
      ]),
    },
    note: 'oauth token form',
  }),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/auth/login',
      { email: person(r).email, password: r.pick(PASSWORDS), remember_me: r.chance(0.5) },
      'login with special-char password',
    ),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/webhooks',
      {
        url: `https://hooks.${r.pick(DOMAINS)}/services/${r.alnum(10)}/${r.alnum(24)}`,
        events: ['order.created', 'order.refunded'],
        secret: r.alnum(32),
      },
      'webhook public url',
    ),
  (r) =>
    get(
      r,
      `/api/v1/resources/${r.uuid()}`,
      `fields=id,name,created_at&include=author,comments&expand=items.product`,
      'sparse fields',
    ),
  (r) =>
    get(
      r,
      '/api/v1/events',
      `start=${encStd(isoDate(r).replace('Z', '+01:00'))}&end=${encStd(isoDate(r))}&tz=${encStd(r.pick(['Europe/Berlin', 'America/New_York', 'Asia/Tokyo']))}`,
      'dates with timezone',
    ),
  (r) =>
    json(
      r,
      'POST',
      '/graphql',
      {
        query: 'query GetUser($id: ID!) { user(id: $id) { name posts(first: 10) { edges { node { title } } } } }',
        variables: { id: r.uuid() },
        operationName: 'GetUser',
      },
      'graphql query',
    ),
  (r) =>
    json(
      r,
      'POST',
      '/graphql',
      {
        query: 'mutation Update($input: UpdateProfileInput!) { updateProfile(input: $input) { id bio } }',
        variables: { input: { bio: sentence(r) } },
      },
      'graphql mutation',
    ),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/analytics/events',
      {
        event: 'page_view',
        page: url(r),
        referrer: url(r),
        screen: '1920x1080',
        utm: { source: 'newsletter', medium: 'email', campaign: 'black_friday_2024' },
        ts: Date.UTC(2024, r.int(12), 1),
      },
      'analytics beacon',
    ),
  (r) =>
    json(
      r,
      'PUT',
      `/api/v1/files/${encStd(r.pick(['config.json', 'avatar.png', 'notes.md']))}`,
      { content: Buffer.from(`${sentence(r)}${r.hex(40)}`).toString('base64'), encoding: 'base64', sha: r.hex(40) },
      'base64 content',
    ),
  (r) => ({
    request: {
      method: 'POST',
      path: '/services/StockService',
      query: '',
      headers: clientHeaders(r, { contentType: 'text/xml; charset=utf-8', browser: false }),
      body: `<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><GetStock><Sku>SKU-${r.int(99999)}</Sku><Warehouse>${r.pick(['DUB-1', 'FRA-2'])}</Warehouse></GetStock></soap:Body></soap:Envelope>`,
    },
    note: 'soap without doctype',
  }),
  (r) => ({
    request: {
      method: 'POST',
      path: '/api/v1/orders/import',
      query: '',
      headers: clientHeaders(r, { contentType: 'application/xml', browser: false }),
      body: `<?xml version="1.0"?><orders><order id="${r.int(9999)}"><customer>${r.pick(LAST).replace(/'/g, '&apos;')} &amp; Sons</customer><total currency="EUR">${price(r)}</total><note><![CDATA[Leave at the door & ring twice]]></note></order></orders>`,
    },
    note: 'xml import no doctype',
  }),
  (r) =>
    json(
      r,
      'POST',
      '/csp-report',
      {
        'csp-report': {
          'document-uri': url(r),
          referrer: '',
          'violated-directive': 'script-src-elem',
          'effective-directive': 'script-src-elem',
          'original-policy': "default-src 'self'; script-src 'self' https://cdn.example.com",
          'blocked-uri': 'inline',
          'status-code': 200,
        },
      },
      'csp report',
    ),
  (r) =>
    get(
      r,
      '/api/v1/export',
      `format=csv&columns=${encStd('id,name,email,created_at')}&path=${encStd(r.pick(['/docs/getting-started', '/reports/2024/q3', '/team/shared']))}`,
      'path-like param',
    ),
  (r) => ({
    request: {
      method: 'GET',
      path: '/api/v1/me',
      query: '',
      headers: { ...clientHeaders(r, { auth: false }), 'x-api-key': `${r.pick(TOKENS())}${r.alnum(32)}` },
    },
    note: 'api key header',
  }),
  (r) => ({
    request: {
      method: 'DELETE',
      path: `/api/v1/sessions/${r.uuid()}`,
      query: '',
      headers: clientHeaders(r, { auth: true, cookie: true }),
    },
    note: 'delete session',
  }),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/users/invite',
      {
        emails: [person(r).email, person(r).email],
        role: r.pick(['viewer', 'editor']),
        message: `Hi! Join us on the "${r.pick(['Design', 'R&D', 'Ops'])}" team.`,
      },
      'invite',
    ),
  (r) =>
    get(
      r,
      '/api/v1/geo/reverse',
      `lat=${(r.next() * 180 - 90).toFixed(6)}&lon=${(r.next() * 360 - 180).toFixed(6)}`,
      'coordinates',
    ),
  (r) => ({
    request: {
      method: 'GET',
      path: '/api/v1/items',
      query: `ids=${[r.int(999), r.int(999), r.int(999)].join('%2C')}&updated_since=${r.int(1e9) + 1.7e9}`,
      headers: { ...clientHeaders(r), 'if-none-match': `W/"${r.hex(16)}"` },
    },
    note: 'etag conditional',
  }),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/batch',
      {
        requests: [
          { method: 'GET', path: `/api/v1/users/${r.int(999)}` },
          { method: 'PATCH', path: `/api/v1/orders/${r.int(999)}`, body: { status: 'cancelled' } },
        ],
      },
      'batch with paths',
    ),
  (r) => get(r, '/api/v1/users', `email=${encStd(person(r).email)}`, 'email lookup'),
  (r) =>
    get(
      r,
      `/api/v1/files/${encStd(r.pick(['Q3 report (final).pdf', "Jane's notes.txt", 'résumé 2024.docx', 'a&b.csv', 'photo #2.jpg']))}`,
      '',
      'encoded file name in path',
    ),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/feedback',
      { rating: 1 + r.int(10), comment: sentence(r), page: url(r), contact_ok: r.chance(0.5) },
      'feedback',
    ),
  (r) => ({
    request: {
      method: 'PATCH',
      path: `/api/v1/contacts/${r.uuid()}`,
      query: '',
      headers: clientHeaders(r, { contentType: 'application/merge-patch+json' }),
      body: JSON.stringify({
        phone: null,
        company: r.pick(['Acme & Co.', "Macy's", 'Procter & Gamble']),
        title: r.pick(['VP, Sales', 'Head of R&D', 'Sr. Engineer (Backend)']),
      }),
    },
    note: 'merge patch',
  }),
  (r) => get(r, '/api/v1/redirect-targets', `return_to=${encStd(url(r))}`, 'return url'),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/settings/notifications',
      {
        email: true,
        sms: false,
        quiet_hours: { from: '22:00', to: '07:00' },
        digest: 'weekly',
        channels: ['#general', '#ops-alerts'],
      },
      'settings',
    ),
];

const DEV: Gen[] = [
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/gists',
      {
        description: 'small helper',
        public: true,
        files: {
          'utils.py': { content: 'def add(a, b):\n    """Return the sum."""\n    return a + b\n\nprint(add(2, 3))\n' },
        },
      },
      'python snippet',
    ),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/gists',
      { files: { 'sum.js': { content: 'const sum = (xs) => xs.reduce((a, b) => a + b, 0);\nexport default sum;\n' } } },
      'js snippet',
    ),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/snippets',
      {
        language: 'css',
        code: '.btn { color: #fff; background: linear-gradient(90deg, #36f, #6cf); }\n.btn:hover { opacity: .9; }',
      },
      'css snippet',
    ),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/validators',
      { field: 'phone', pattern: '^\\+?[0-9 ()-]{7,20}$', message: "That doesn't look like a phone number" },
      'regex',
    ),
  (r) =>
    json(
      r,
      'PUT',
      '/api/v1/repos/acme/web/contents/package.json',
      {
        message: 'chore: bump deps',
        content: Buffer.from(
          JSON.stringify(
            { name: 'web', version: `1.${r.int(20)}.0`, scripts: { build: 'vite build', test: 'vitest run' } },
            null,
            2,
          ),
        ).toString('base64'),
        sha: r.hex(40),
      },
      'base64 file commit',
    ),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/issues',
      {
        title: r.pick([
          'Build fails on Node 20',
          'Typo in README',
          'Dark mode colours off',
          'Crash when list is empty',
        ]),
        body: `Steps:\n1. Open the app\n2. Go to Settings\n3. Click "Save"\n\nExpected: it saves.\nActual: spinner forever.\n\nVersion: 2.${r.int(9)}.${r.int(9)} on ${r.pick(['macOS 14', 'Windows 11', 'Ubuntu 24.04'])}`,
        labels: ['bug'],
      },
      'issue prose',
    ),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/issues/42/comments',
      {
        body: `Fixed in #${r.int(999)}, thanks! The root cause was an off-by-one in the pager (page * size vs. (page - 1) * size).`,
      },
      'code-ish prose',
    ),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/snippets',
      { language: 'go', code: 'func main() {\n\tfmt.Println("hello, world")\n}\n' },
      'go snippet',
    ),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/snippets',
      {
        language: 'rust',
        code: 'fn main() {\n    let v: Vec<i32> = (1..=10).collect();\n    println!("{:?}", v);\n}\n',
      },
      'rust snippet',
    ),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/configs',
      { yaml: 'server:\n  port: 8080\n  host: 0.0.0.0\nlogging:\n  level: info\n', name: `svc-${r.alnum(5)}` },
      'yaml config',
    ),
];

/** Deliberately hard but legitimate requests: each says why in its note. */
function hard(rng: Rng): Array<{ request: CorpusRequest; note: string }> {
  const r = rng;
  const issue = (body: string, note: string) =>
    json(r, 'POST', `/api/v1/repos/acme/api/issues/${r.int(999)}/comments`, { body }, note);
  return [
    issue(
      "Query is slow:\n\n```sql\nSELECT id, name FROM users WHERE email = 'a@example.com' ORDER BY created_at DESC LIMIT 10;\n```\n\nAny index ideas?",
      'sql in markdown code block',
    ),
    issue(
      "```sql\nUPDATE orders SET status = 'shipped' WHERE id IN (SELECT order_id FROM shipments);\n```",
      'update statement in code block',
    ),
    issue('We should use `DROP TABLE IF EXISTS tmp_import;` before the load.', 'drop table in inline code'),
    issue('Repro:\n\n```bash\ncurl -s https://example.com/install.sh | sh\n```', 'curl pipe sh in code block'),
    issue(
      'Dockerfile:\n\n```dockerfile\nFROM node:20-alpine\nRUN apk add --no-cache git && npm ci\nCMD ["node", "server.js"]\n```',
      'dockerfile with &&',
    ),
    issue('Run `npm install` and then `npm test`; both pass for me.', 'backticks around commands'),
    issue('Try `ls -la /var/log` to see the files.', 'ls in inline code'),
    issue(
      'Embed with:\n\n```html\n<script src="https://cdn.example.com/widget.js" async></script>\n```',
      'script tag in code block',
    ),
    issue('The button needs `onclick="toggle()"` on the `<button>` element.', 'event handler in inline code'),
    issue('In Jinja you write `{{ user.name }}` and `{% for x in items %}`.', 'jinja syntax in prose'),
    issue('Use a template literal: `const msg = `Hello ${name}`;`', 'js template literal'),
    issue('Log4j 2.17.1 fixes CVE-2021-44228; please bump the dependency.', 'log4shell mention without payload'),
    issue(
      'Why does the filter `(&(objectClass=person)(uid=jdoe))` return nothing on our LDAP?',
      'ldap filter in question',
    ),
    issue('The config lives in `../shared/config.yaml` relative to the app.', 'relative path in prose'),
    issue("`SELECT COUNT(*) FROM events WHERE ts > now() - interval '1 day'` takes 4s", 'sql in inline code'),
    issue("Got `Error: ENOENT: no such file or directory, open '/etc/app/config.json'`", 'etc path in error message'),
    issue('Python one-liner: `python -c "import sys; print(sys.version)"`', 'python -c in inline code'),
    issue(
      'Setting `__proto__` as a key broke our merge; we now use `Object.create(null)`.',
      'proto mentioned in prose',
    ),
    issue('Mongo query that works in the shell: `db.users.find({ age: { $gt: 21 } })`', 'mongo operator in code'),
    issue('The XML parser rejects `<!DOCTYPE html>` at the top; is that expected?', 'doctype mention'),
    json(
      r,
      'POST',
      '/api/v1/reports/query',
      {
        sql: 'SELECT region, SUM(revenue) AS total FROM sales WHERE year = 2024 GROUP BY region ORDER BY total DESC',
        limit: 1000,
      },
      'BI tool sql body',
    ),
    json(
      r,
      'POST',
      '/api/v1/reports/query',
      { sql: "SELECT * FROM customers WHERE country = 'IE' AND signup_date >= '2024-01-01'" },
      'BI tool sql with quotes',
    ),
    json(
      r,
      'POST',
      '/api/v1/email-templates',
      {
        name: 'order-shipped',
        subject: 'Your order {{ order.number }} has shipped',
        body: 'Hello {{ first_name }},\n\nYour order {{ order.number }} is on its way.\n{% if tracking_url %}Track it: {{ tracking_url }}{% endif %}',
      },
      'jinja template in template editor',
    ),
    json(
      r,
      'POST',
      '/api/v1/email-templates',
      { name: 'welcome', engine: 'handlebars', body: 'Hi {{firstName}}! {{#if premium}}Thanks for going Pro.{{/if}}' },
      'handlebars template',
    ),
    json(
      r,
      'POST',
      '/api/v1/email-templates',
      {
        name: 'invoice',
        engine: 'freemarker',
        body: 'Dear ${customer.name}, your invoice total is ${invoice.total?string.currency}.',
      },
      'freemarker template',
    ),
    json(
      r,
      'POST',
      '/api/v1/email-templates',
      {
        name: 'receipt',
        engine: 'erb',
        body: '<p>Thanks <%= @user.name %>, you paid <%= number_to_currency(@order.total) %>.</p>',
      },
      'erb template',
    ),
    json(
      r,
      'POST',
      '/api/v1/users/search',
      { filter: { age: { $gte: 21 }, country: { $in: ['IE', 'UK'] } }, limit: 50 },
      'mongo-style filter api',
    ),
    json(
      r,
      'POST',
      '/api/v1/products/query',
      { where: { price: { $lt: 100 } }, sort: { price: 1 } },
      'mongo-style where',
    ),
    get(
      r,
      '/odata/Products',
      `$filter=${encStd("Price gt 20 and Category eq 'Beverages'")}&$top=10&$orderby=Name`,
      'odata filter',
    ),
    get(r, '/odata/People', `$filter=${encStd("startswith(LastName, 'O''Brien')")}`, 'odata quoted apostrophe'),
    json(
      r,
      'POST',
      '/api/v1/oauth/clients',
      {
        name: 'Local dev',
        redirect_uris: ['http://localhost:3000/callback', 'http://127.0.0.1:8080/auth'],
        grant_types: ['authorization_code'],
      },
      'localhost redirect uri registration',
    ),
    json(
      r,
      'PUT',
      '/api/v1/projects/web/tsconfig',
      { extends: '../tsconfig.base.json', compilerOptions: { outDir: '../../dist/web' } },
      'relative paths in config',
    ),
    json(
      r,
      'POST',
      '/api/v1/uploads/metadata',
      { original_path: 'C:\\Users\\Jane\\Documents\\report.docx', size: 48213 },
      'windows path metadata',
    ),
    get(r, '/search', `q=${encPlus('etc passwd file permissions linux')}`, 'search about /etc/passwd', true),
    get(r, '/search', `q=${encPlus('sql injection prevention cheat sheet')}`, 'security search'),
    get(r, '/search', `q=${encPlus("what does ' or 1=1 mean")}`, 'search quoting an attack string'),
    json(
      r,
      'POST',
      '/api/v1/pages',
      {
        blocks: [
          {
            type: 'html',
            html: '<img src="https://cdn.example.com/hero.jpg" alt="Our team" width="800"><iframe src="https://www.youtube.com/embed/dQw4w9WgXcQ" allowfullscreen></iframe>',
          },
        ],
      },
      'cms img and youtube iframe',
    ),
    json(
      r,
      'POST',
      '/api/v1/pages',
      {
        blocks: [
          {
            type: 'html',
            html: '<a href="https://example.com" target="_blank" rel="noopener">Visit</a> <span style="color:red">sale</span>',
          },
        ],
      },
      'cms link with target and style',
    ),
    json(
      r,
      'POST',
      '/api/v1/snippets',
      { language: 'bash', code: 'for f in *.log; do gzip "$f"; done\necho "done: $(date)"' },
      'bash snippet with $() and ;',
    ),
    json(
      r,
      'POST',
      '/api/v1/snippets',
      { language: 'javascript', code: "document.getElementById('out').innerHTML = `<b>${escapeHtml(name)}</b>`;" },
      'js innerHTML snippet',
    ),
    json(
      r,
      'POST',
      '/api/v1/snippets',
      { language: 'python', code: "import os\nprint(os.environ.get('HOME'))" },
      'python os snippet',
    ),
    json(
      r,
      'POST',
      '/api/v1/snippets',
      {
        language: 'java',
        code: 'class Point { Point() { super(); } }\nObject o = Point.class.getConstructor().newInstance();',
      },
      'java reflection snippet',
    ),
    json(
      r,
      'POST',
      '/api/v1/cron',
      { schedule: '*/5 * * * *', command: 'backup --target s3://bucket/db && notify --ok' },
      'cron job command',
    ),
    get(r, '/api/v1/directory', `filter=${encStd('(cn=Jane*)')}`, 'ldap-ish directory filter param'),
    get(r, '/api/v1/files', `path=${encStd('../reports/q3.csv')}`, 'single relative parent'),
    json(
      r,
      'POST',
      '/api/v1/chat/messages',
      { text: 'lol my password was literally password123 && I wonder why I got hacked 😂' },
      'chat with &&',
    ),
    json(
      r,
      'POST',
      '/api/v1/chat/messages',
      { text: 'rm -rf node_modules && npm i fixed it for me' },
      'shell advice in chat',
    ),
    json(
      r,
      'POST',
      '/api/v1/chat/messages',
      { text: 'the <script> tag goes at the end of the <body>, not in <head>' },
      'html tags in prose',
    ),
    json(r, 'POST', '/api/v1/chat/messages', { text: "1=1 is always true, that's a tautology" }, 'tautology in prose'),
    json(
      r,
      'POST',
      '/api/v1/chat/messages',
      { text: "select * from the menu, I'm not picky 😄" },
      'select star in prose',
    ),
    json(
      r,
      'POST',
      '/api/v1/settings/proxy',
      { upstream: 'http://10.0.12.7:8080', health_check: '/healthz' },
      'private upstream in admin settings',
    ),
    json(
      r,
      'POST',
      '/api/v1/translations',
      { key: 'greeting', en: 'Hello, {name}!', de: 'Hallo, {name}!', fr: 'Bonjour, {name} !' },
      'icu placeholders',
    ),
    json(
      r,
      'POST',
      '/api/v1/translations',
      { key: 'price', en: 'Total: ${amount}', note: 'amount is pre-formatted' },
      'dollar brace placeholder',
    ),
    json(r, 'POST', '/api/v1/math/evaluate', { expr: '7*7', vars: {} }, 'calculator api'),
    json(
      r,
      'POST',
      '/api/v1/notes',
      { text: 'TODO: {{7*7}} renders as 49 in the preview — is that a bug? We escape it elsewhere.' },
      'template probe discussed',
    ),
    issue("Run it with `subprocess.run(['ls', '-la'], check=True)` instead of os.system.", 'python subprocess snippet'),
    issue('Report query:\n\n```sql\nSELECT id FROM a UNION ALL SELECT id FROM b;\n```', 'union in code block'),
    issue("How do I escape a quote in SQL? I use `WHERE name = 'O''Brien'` and it works.", 'sql quoting question'),
    issue('Works on http://localhost:8080 locally but not in production.', 'localhost url in prose'),
    issue("Use `grep -E '^(foo|bar)$' app.log | wc -l` to count them.", 'grep pipeline in inline code'),
    issue('Template: `<div>{{ item.name | uppercase }}</div>` in Angular.', 'angular template in inline code'),
    json(
      r,
      'POST',
      '/api/v1/support/tickets',
      {
        subject: 'Install path',
        message: 'The installer put files in C:\\Program Files\\Acme\\ and now it will not start.',
      },
      'windows path in ticket',
    ),
    json(
      r,
      'PUT',
      '/api/v1/docs/pages/setup',
      { markdown: 'See [the setup guide](../guides/setup.md) and [FAQ](../../faq.md).' },
      'relative markdown links',
    ),
    json(
      r,
      'POST',
      '/api/v1/pages',
      { blocks: [{ type: 'html', html: '<a href="javascript:void(0)" class="toggle">Show more</a>' }] },
      'legacy javascript:void(0) link',
    ),
    json(
      r,
      'POST',
      '/api/v1/email-templates',
      { name: 'js-template', body: 'Hi ${firstName}, your code is ${code}.' },
      'js-style placeholders',
    ),
    json(
      r,
      'POST',
      '/api/v1/forum/posts',
      { text: 'By the binomial theorem, ${n \\choose k}$ counts subsets, and $\\sum_{i=1}^{n} i = n(n+1)/2$.' },
      'latex with ${',
    ),
    json(
      r,
      'POST',
      '/api/v1/schemas',
      {
        $schema: 'http://json-schema.org/draft-07/schema#',
        $id: 'https://example.com/order.json',
        type: 'object',
        properties: { items: { $ref: '#/definitions/items' } },
      },
      'json schema $ keys',
    ),
    json(
      r,
      'PATCH',
      `/api/v1/records/${r.uuid()}`,
      { $set: { name: 'Renamed' }, $unset: { legacy: '' } },
      'mongo-style update api',
    ),
    json(r, 'POST', '/api/v1/sheets/cells', { cell: 'B12', formula: '=SUM(B2:B11)' }, 'spreadsheet formula'),
    json(
      r,
      'POST',
      '/api/v1/chat/messages',
      { text: "it's in /etc/nginx/sites-available/default, line 12" },
      'etc path in chat',
    ),
    json(
      r,
      'POST',
      '/api/v1/chat/messages',
      { text: 'the <img> alt text should describe the chart, not say "image"' },
      'img tag mention',
    ),
  ];
}

const AIRPORTS = ['ORD', 'LHR', 'DUB', 'JFK', 'CDG', 'FRA', 'NRT', 'GRU', 'SFO', 'AMS', 'ZRH', 'LOS'];
const TRAVEL: Gen[] = [
  (r) =>
    get(
      r,
      '/api/v1/flights/search',
      `from=${r.pick(AIRPORTS)}&to=${r.pick(AIRPORTS)}&date=${isoDate(r).slice(0, 10)}&return=${isoDate(r).slice(0, 10)}&adults=${1 + r.int(4)}&children=${r.int(3)}&cabin=${r.pick(['economy', 'premium_economy', 'business'])}`,
      'flight search',
    ),
  (r) => {
    const a = person(r);
    const b = person(r);
    return json(
      r,
      'POST',
      '/api/v1/bookings',
      {
        offer_id: `off_${r.alnum(20)}`,
        passengers: [
          {
            given_name: a.first,
            family_name: a.last,
            born_on: `19${50 + r.int(50)}-0${1 + r.int(9)}-1${r.int(9)}`,
            email: a.email,
            phone: `+353 87 ${r.int(900) + 100} ${r.int(9000) + 1000}`,
          },
          {
            given_name: b.first,
            family_name: b.last,
            born_on: `20${10 + r.int(10)}-0${1 + r.int(9)}-2${r.int(9)}`,
            type: 'child',
          },
        ],
        special_requests: r.pick([
          'Window seat, please; vegetarian meal.',
          "Wheelchair assistance at O'Hare (ORD)",
          'Travelling with a cat (in cabin) — is that OK?',
          '',
          'Need a bassinet & extra legroom',
        ]),
      },
      'booking with passengers',
    );
  },
  (r) =>
    get(
      r,
      '/api/v1/hotels',
      `q=${encPlus(r.pick(["hotel near O'Hare", 'b&b dublin city centre', "Hôtel de l'Europe", 'ryokan kyoto 2 nights', 'pet-friendly, 4* or better']))}&checkin=${isoDate(r).slice(0, 10)}&nights=${1 + r.int(9)}&rooms=1`,
      'hotel search',
    ),
  (r) =>
    json(
      r,
      'POST',
      `/api/v1/hotels/${r.int(99999)}/reviews`,
      {
        stars: 1 + r.int(5),
        title: r.pick(['Great location!', "Won't stay again", 'Clean & quiet', 'Value for money']),
        text: `${sentence(r)} ${sentence(r)}`,
        stayed: isoDate(r).slice(0, 7),
      },
      'hotel review',
    ),
  (r) =>
    json(
      r,
      'PATCH',
      `/api/v1/bookings/${r.alnum(6).toUpperCase()}`,
      {
        seat: `${1 + r.int(40)}${r.pick(['A', 'C', 'D', 'F'])}`,
        meal: r.pick(['VGML', 'KSML', 'CHML', null]),
        loyalty: { program: 'AerClub', number: `${r.int(1e9)}` },
      },
      'seat change',
    ),
  (r) =>
    get(
      r,
      '/api/v1/places/autocomplete',
      `input=${encStd(r.pick(CITIES))}&types=(cities)&language=${r.pick(['en', 'de', 'fr', 'ja'])}`,
      'place autocomplete',
    ),
];

const STACKS = [
  "TypeError: Cannot read properties of undefined (reading 'map')\n    at ProductList (https://shop.example.com/static/js/main.4f3a1c.js:2:18234)\n    at renderWithHooks (https://shop.example.com/static/js/vendor.js:1:40211)",
  'java.lang.NullPointerException: Attempt to invoke virtual method on a null object reference\n\tat com.example.app.CartActivity.onResume(CartActivity.java:87)\n\tat android.app.Activity.performResume(Activity.java:8135)',
  'Fatal error: Swift/Optional.swift: Unexpectedly found nil while unwrapping an Optional value\n0 MyShopApp 0x0000000100a1c2f4 CheckoutViewController.viewDidLoad() + 212',
  'Traceback (most recent call last):\n  File "/app/worker.py", line 42, in run\n    total = sum(item["price"] for item in items)\nKeyError: \'price\'',
  'Error: connect ECONNREFUSED 10.0.3.17:5432\n    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1595:16)',
  'System.InvalidOperationException: Sequence contains no elements\n   at System.Linq.Enumerable.First[TSource](IEnumerable`1 source)\n   at Shop.Api.Controllers.OrdersController.Get(Int32 id) in C:\\build\\src\\Shop.Api\\Controllers\\OrdersController.cs:line 58',
  'panic: runtime error: index out of range [3] with length 3\n\ngoroutine 1 [running]:\nmain.handler(0xc000012345)\n\t/src/cmd/api/main.go:41 +0x1d',
  'Uncaught ReferenceError: gtag is not defined\n    at https://www.example.com/checkout?step=2:1:1',
  "ActiveRecord::RecordNotFound (Couldn't find Order with 'id'=123):\n  app/controllers/orders_controller.rb:12:in `show'",
];
const TELEMETRY: Gen[] = [
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/telemetry',
      {
        device_id: r.uuid(),
        ts: 1732800000000 + r.int(1e8),
        fw: r.pick(['v1.2.3', 'v1.2.4-rc.1', '2024.11.0+build.77']),
        readings: [
          { t: +(15 + r.next() * 10).toFixed(1), h: r.int(100) },
          { t: +(15 + r.next() * 10).toFixed(1), h: r.int(100) },
        ],
        battery: r.int(100),
      },
      'sensor readings',
    ),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/crash-reports',
      {
        app: 'MyShopApp',
        version: `5.${r.int(20)}.${r.int(10)}`,
        os: r.pick(['iOS 18.1', 'Android 14', 'Windows 11', 'macOS 15.1']),
        stack: r.pick(STACKS),
        breadcrumbs: [
          { category: 'navigation', message: `/products/${r.int(999)}` },
          { category: 'ui.click', message: 'button#checkout' },
        ],
      },
      'crash report with stack trace',
    ),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/logs',
      {
        entries: [
          {
            level: r.pick(['info', 'warn']),
            msg: `GET /api/v1/users/${r.int(999)} 200 ${r.int(300)}ms`,
            ts: isoDate(r),
          },
          {
            level: 'info',
            msg: `user ${r.int(99999)} logged in from ${r.pick(['Chrome', 'Safari', 'Firefox'])}`,
            ts: isoDate(r),
          },
        ],
      },
      'log shipping',
    ),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/metrics',
      {
        series: [
          {
            metric: 'http.requests',
            points: [[1732800000 + r.int(1e5), r.int(5000)]],
            tags: ['env:prod', `service:${r.pick(['web', 'api', 'worker'])}`, 'region:eu-west-1'],
          },
        ],
      },
      'metrics',
    ),
  (r) =>
    json(
      r,
      'POST',
      '/api/v1/rum',
      {
        type: 'web-vitals',
        page: url(r),
        lcp: r.int(4000),
        cls: +(r.next() / 4).toFixed(3),
        inp: r.int(500),
        ua: r.pick(['Chrome 131', 'Safari 18', 'Firefox 133']),
      },
      'web vitals',
    ),
  (r) =>
    get(
      r,
      '/api/v1/devices',
      `status=online&last_seen_after=${encStd(isoDate(r))}&model=${encStd(r.pick(['TH-100', 'Cam Pro 2', 'Plug (EU)']))}`,
      'device list',
    ),
];

const FORMS: Gen[] = [
  // Legacy sites post ISO-8859-1 percent-encoded forms (%E9 is not valid UTF-8): decoders must cope.
  (r) => ({
    request: {
      method: 'POST',
      path: '/tienda/carrito/anadir',
      query: '',
      headers: clientHeaders(r, { browser: true, contentType: 'application/x-www-form-urlencoded', cookie: true }),
      body: `id=${r.int(99)}&nombre=${r.pick(['Jam%F3n+Ib%E9rico', 'Queso+Manchego', 'Vino+Tinto+Reserva', 'Turr%F3n+de+Jijona'])}&precio=${r.int(120)}&cantidad=${1 + r.int(5)}&B1=A%F1adir+al+carrito`,
    },
    note: 'latin-1 encoded shop form',
  }),
  (r) => ({
    request: {
      method: 'POST',
      path: '/tienda/registro',
      query: '',
      headers: clientHeaders(r, {
        browser: true,
        contentType: 'application/x-www-form-urlencoded; charset=ISO-8859-1',
        cookie: true,
      }),
      body: `nombre=${r.pick(['Jos%E9', 'Mar%EDa', 'In%E9s', '%C1lvaro'])}&apellidos=${r.pick(['Garc%EDa+L%F3pez', 'Mu%F1oz', 'P%E9rez+O%27Donnell'])}&direccion=${r.pick(['C%2F+Mayor+3%2C+2%BA+B', 'Avda.+de+Castell%F3n+12', 'Plaza+Espa%F1a+1'])}&cp=${String(r.int(52999)).padStart(5, '0')}&provincia=${r.pick(['Castell%F3n', 'M%E1laga', 'A+Coru%F1a'])}`,
    },
    note: 'latin-1 encoded registration form',
  }),
  (r) => {
    const p = person(r);
    return {
      request: {
        method: 'POST',
        path: '/signup',
        query: '',
        headers: clientHeaders(r, { browser: true, contentType: 'application/x-www-form-urlencoded', auth: false }),
        body: formBody([
          ['first_name', p.first],
          ['last_name', p.last],
          ['email', p.email],
          ['password', r.pick(PASSWORDS)],
          ['heard_from', r.pick(['A friend', 'Google', "Podcast (Tech Talk 'n' Stuff)", 'Other: conference'])],
          ['terms', 'on'],
        ]),
      },
      note: 'signup form',
    };
  },
  (r) => ({
    request: {
      method: 'POST',
      path: '/newsletter',
      query: '',
      headers: clientHeaders(r, { browser: true, contentType: 'application/x-www-form-urlencoded', auth: false }),
      body: formBody([
        ['email', person(r).email],
        ['topics[]', 'news'],
        ['topics[]', 'offers'],
      ]),
    },
    note: 'newsletter form',
  }),
  (r) => ({
    request: {
      method: 'POST',
      path: `/blog/${r.pick(['hello-world', 'q3-roadmap'])}/comments`,
      query: '',
      headers: clientHeaders(r, { browser: true, contentType: 'application/x-www-form-urlencoded', cookie: true }),
      body: formBody([
        ['author', `${r.pick(FIRST)} ${r.pick(LAST)}`],
        ['comment', `${sentence(r)}\r\n\r\n${sentence(r)}`],
        ['website', r.chance(0.5) ? url(r) : ''],
      ]),
    },
    note: 'blog comment form',
  }),
  (r) => get(r, '/search', `q=${encPlus(r.pick(SEARCHES))}&category=all&submit=Search`, 'search form GET', true),
  (r) => {
    const p = person(r);
    const mp = multipart(r, [
      { name: 'name', value: `${p.first} ${p.last}` },
      { name: 'email', value: p.email },
      {
        name: 'cover_letter',
        value: `Dear hiring team,\r\n\r\n${sentence(r)} I'd love to join as a ${r.pick(['Sr. Engineer (Backend)', 'Designer', 'Customer Success Manager (EMEA)'])}.\r\n\r\nBest,\r\n${p.first}`,
      },
      {
        name: 'cv',
        filename: r.pick(['CV_2024.pdf', `${p.last} - Resume (final).pdf`, 'résumé.docx']),
        type: 'application/pdf',
        value: '%PDF-1.7 ...',
      },
    ]);
    return {
      request: {
        method: 'POST',
        path: '/careers/apply',
        query: '',
        headers: clientHeaders(r, { browser: true, contentType: mp.contentType }),
        body: mp.body,
      },
      note: 'job application multipart',
    };
  },
  (r) => ({
    request: {
      method: 'POST',
      path: '/account/password',
      query: '',
      headers: clientHeaders(r, { browser: true, contentType: 'application/x-www-form-urlencoded', cookie: true }),
      body: formBody([
        ['current_password', r.pick(PASSWORDS)],
        ['new_password', r.pick(PASSWORDS)],
        ['csrf_token', r.alnum(32)],
      ]),
    },
    note: 'password change form',
  }),
];

const FAMILIES: Record<Exclude<BenignFamily, 'hard'>, { gens: Gen[]; count: number }> = {
  ecommerce: { gens: ECOMMERCE, count: 300 },
  banking: { gens: BANKING, count: 150 },
  social: { gens: SOCIAL, count: 250 },
  cms: { gens: CMS, count: 170 },
  search: { gens: SEARCH, count: 220 },
  api: { gens: API, count: 300 },
  dev: { gens: DEV, count: 60 },
  travel: { gens: TRAVEL, count: 150 },
  telemetry: { gens: TELEMETRY, count: 150 },
  forms: { gens: FORMS, count: 150 },
};

/** Every benign line by family, ids not yet assigned. */
export function generateBenign(rng: Rng): Record<BenignFamily, CorpusLine[]> {
  const out = {} as Record<BenignFamily, CorpusLine[]>;
  for (const [family, { gens, count }] of Object.entries(FAMILIES) as Array<
    [Exclude<BenignFamily, 'hard'>, { gens: Gen[]; count: number }]
  >) {
    const lines: CorpusLine[] = [];
    const seen = new Set<string>();
    let guard = 0;
    // Round-robin over generators so every shape is represented, then dedupe identical bodies.
    while (lines.length < count && guard < count * 20) {
      const g = gens[guard % gens.length]!;
      guard++;
      const { request, note } = g(rng);
      const key = `${request.method} ${request.path}?${request.query} ${request.body ?? ''}`;
      if (seen.has(key)) continue;
      seen.add(key);
      lines.push({ id: '', label: 'benign', request, note });
    }
    out[family] = lines;
  }
  out.hard = hard(rng).map(({ request, note }) => ({ id: '', label: 'benign', request, note: `hard: ${note}` }));
  return out;
}
