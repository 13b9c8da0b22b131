// Seed data for the demo upstream. Every record deliberately carries sensitive fields (SSNs, password hashes,
// IBANs, card numbers, internal notes) so the gateway's response filtering and PII redaction have something
// to remove. All values are fictitious: 555-01xx phones, example.com mail, published test IBANs and cards.

export type Role = 'customer' | 'admin';

export interface Address {
  street: string;
  city: string;
  postal_code: string;
  country: string;
}

export interface User {
  id: string;
  name: string;
  email: string;
  phone: string;
  ssn: string;
  date_of_birth: string;
  address: Address;
  password_hash: string;
  role: Role;
  tenant_id: string;
  internal_notes: string;
}

export interface Account {
  id: string;
  owner_id: string;
  iban: string;
  balance: number;
  currency: string;
}

export interface OrderItem {
  sku: string;
  qty: number;
  price: number;
}

export type OrderStatus = 'pending' | 'paid' | 'shipped' | 'delivered' | 'cancelled';

export interface Order {
  id: string;
  user_id: string;
  items: OrderItem[];
  total: number;
  status: OrderStatus;
  card_number: string;
  created_at: string;
}

export interface DemoData {
  users: User[];
  accounts: Account[];
  orders: Order[];
}

/** Sum of qty * price, rounded to cents so floating point noise never shows up in responses. */
export function orderTotal(items: readonly OrderItem[]): number {
  return Math.round(items.reduce((sum, i) => sum + i.qty * i.price, 0) * 100) / 100;
}

const order = (
  id: string,
  user_id: string,
  items: OrderItem[],
  status: OrderStatus,
  card_number: string,
  created_at: string,
): Order => ({ id, user_id, items, total: orderTotal(items), status, card_number, created_at });

const SEED: DemoData = {
  users: [
    {
      id: 'u_1001',
      name: 'Alice Martin',
      email: 'alice.martin@example.com',
      phone: '+1-202-555-0101',
      ssn: '123-45-6789',
      date_of_birth: '1988-04-12',
      address: { street: '12 Harbour Road', city: 'Springfield', postal_code: '62701', country: 'US' },
      password_hash: '$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy',
      role: 'customer',
      tenant_id: 't_acme',
      internal_notes: 'VIP customer; approved for overdraft up to 5000.',
    },
    {
      id: 'u_1002',
      name: 'Bob Nguyen',
      email: 'bob.nguyen@example.com',
      phone: '+1-202-555-0102',
      ssn: '234-56-7890',
      date_of_birth: '1992-11-03',
      address: { street: '48 Elm Street', city: 'Shelbyville', postal_code: '62565', country: 'US' },
      password_hash: '$2b$10$7EqJtq98hPqEX7fNZaFWoOhi5BWX4Z2uSHxPKTrKfmzv0aRh/6xGu',
      role: 'customer',
      tenant_id: 't_acme',
      internal_notes: 'Disputed a chargeback in 2023; monitor refunds.',
    },
    {
      id: 'u_1003',
      name: 'Carla Rossi',
      email: 'carla.rossi@example.com',
      phone: '+1-202-555-0103',
      ssn: '345-67-8901',
      date_of_birth: '1979-06-25',
      address: { street: '7 Via Roma', city: 'Capital City', postal_code: '10115', country: 'US' },
      password_hash: '$2b$10$wYjDq8Zr4mCNc3lK1T9OQeF0hHn2sVbKp6LxR5uJg7aEiWzMdyPoS',
      role: 'customer',
      tenant_id: 't_globex',
      internal_notes: 'KYC documents re-verified 2024-02.',
    },
    {
      id: 'u_1004',
      name: 'Deepak Shah',
      email: 'deepak.shah@example.com',
      phone: '+1-202-555-0104',
      ssn: '456-78-9012',
      date_of_birth: '2001-01-30',
      address: { street: '301 Oak Avenue', city: 'Ogdenville', postal_code: '30301', country: 'US' },
      password_hash: '$2b$10$Qm3xT7bYv1KpL9sD2fH6eOuZ8cWn4RjA0gE5iM/yVtB.lXkNoPq2S',
      role: 'customer',
      tenant_id: 't_globex',
      internal_notes: 'Account flagged by fraud engine, cleared manually.',
    },
    {
      id: 'u_1005',
      name: 'Eve Okafor',
      email: 'eve.okafor@example.com',
      phone: '+1-202-555-0105',
      ssn: '567-89-0123',
      date_of_birth: '1985-09-17',
      address: { street: '1 Admin Plaza', city: 'Springfield', postal_code: '62702', country: 'US' },
      password_hash: '$2b$10$Zk8pW2nVc6JrT4yH1bL0sOeMq9aXuD3gF7iK5hN/wRzE.tYvCmBjQ',
      role: 'admin',
      tenant_id: 't_acme',
      internal_notes: 'Platform administrator; break-glass credentials holder.',
    },
  ],
  // Published example IBANs: they pass the ISO 13616 mod-97 check, so IBAN detectors treat them as real.
  accounts: [
    { id: 'acc_2001', owner_id: 'u_1001', iban: 'GB82WEST12345698765432', balance: 2450.75, currency: 'GBP' },
    { id: 'acc_2002', owner_id: 'u_1001', iban: 'DE89370400440532013000', balance: 10200, currency: 'EUR' },
    { id: 'acc_2003', owner_id: 'u_1002', iban: 'FR1420041010050500013M02606', balance: 310.4, currency: 'EUR' },
    { id: 'acc_2004', owner_id: 'u_1003', iban: 'NL91ABNA0417164300', balance: 98000.12, currency: 'EUR' },
    { id: 'acc_2005', owner_id: 'u_1004', iban: 'ES9121000418450200051332', balance: 15, currency: 'EUR' },
    { id: 'acc_2006', owner_id: 'u_1005', iban: 'IT60X0542811101000000123456', balance: 500000, currency: 'EUR' },
  ],
  // Standard processor test card numbers: Luhn-valid, never chargeable.
  orders: [
    order(
      'ord_3001',
      'u_1001',
      [
        { sku: 'BOOK-001', qty: 2, price: 12.5 },
        { sku: 'PEN-010', qty: 3, price: 1.99 },
      ],
      'delivered',
      '4111111111111111',
      '2024-03-01T10:15:00.000Z',
    ),
    order(
      'ord_3002',
      'u_1001',
      [{ sku: 'LAMP-220', qty: 1, price: 49.9 }],
      'shipped',
      '4111111111111111',
      '2024-05-12T08:00:00.000Z',
    ),
    order(
      'ord_3003',
      'u_1002',
      [{ sku: 'MUG-003', qty: 4, price: 7.25 }],
      'paid',
      '5555555555554444',
      '2024-06-20T14:30:00.000Z',
    ),
    order(
      'ord_3004',
      'u_1003',
      [{ sku: 'DESK-900', qty: 1, price: 329 }],
      'pending',
      '378282246310005',
      '2024-07-02T09:45:00.000Z',
    ),
    order(
      'ord_3005',
      'u_1004',
      [{ sku: 'CHAIR-450', qty: 2, price: 149.99 }],
      'cancelled',
      '4242424242424242',
      '2024-07-15T16:20:00.000Z',
    ),
    order(
      'ord_3006',
      'u_1003',
      [{ sku: 'BOOK-001', qty: 1, price: 12.5 }],
      'paid',
      '6011111111111117',
      '2024-08-09T11:05:00.000Z',
    ),
  ],
};

/** A fresh deep copy of the seed data, so each server (and each test) mutates its own state. */
export function createSeedData(): DemoData {
  return structuredClone(SEED);
}
