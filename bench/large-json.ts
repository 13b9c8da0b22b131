/**
 * /large-json: about 10 KB of JSON, a page of 20 user records as a naive API returns them (internal fields, hashes,
 * an SSN, a card number, an email and phone each): what response-filter and redact work on in the bench.
 */
export const LARGE_JSON = JSON.stringify({
  page: 1,
  total: 20,
  items: Array.from({ length: 20 }, (_, i) => ({
    id: `u_${1001 + i}`,
    name: `User Number ${i}`,
    email: `user${i}@example.com`,
    phone: `+44 20 7946 ${String(1000 + i)}`,
    role: i % 5 === 0 ? 'admin' : 'customer',
    created_at: '2024-01-15T10:00:00Z',
    address: { street: `${i} Long Street`, city: 'London', postal_code: 'SW1A 1AA', country: 'GB' },
    tags: ['alpha', 'beta', 'gamma'],
    password_hash: '$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA',
    ssn: '536-90-4399',
    card: '4111 1111 1111 1111',
    internal_id: 880000 + i,
    internal_notes: 'VIP customer, handle with care; escalations go to the account manager.',
  })),
});
