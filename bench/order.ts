/** About 1 KB of JSON as a shop's API receives it: ids, items, an address, free text with apostrophes and a URL. */
export const ORDER_JSON = JSON.stringify({
  customer_id: 'u_1001',
  currency: 'EUR',
  items: [
    { sku: 'BOOK-001', name: "The Hitchhiker's Guide to the Galaxy", qty: 2, price: 12.5 },
    { sku: 'PEN-010', name: 'Fountain pen, blue ink (0.5 mm)', qty: 3, price: 1.99 },
    { sku: 'LAMP-220', name: 'Desk lamp - select the warm white option', qty: 1, price: 49.9 },
  ],
  shipping: {
    name: "Siobhan O'Connor",
    street: '12 Harbour Road, Flat 3',
    city: 'Springfield',
    postal_code: '62701',
    country: 'US',
    phone: '+1-202-555-0101',
  },
  coupon: 'SPRING-2026',
  gift: true,
  note: "Please leave it with the neighbour at no. 14 if I'm out; the door code is 4-1-7. It's a birthday present, so don't ring twice! Tracking updates to https://example.com/orders/track?id=ord_3001&lang=en would be great. Thanks & have a nice day :)",
  metadata: {
    source: 'web',
    campaign: 'newsletter-2026-03',
    ab_test: 'checkout-v2',
    referrer: 'https://www.example.org/blog/best-lamps',
  },
});
