/**
 * Calendar periods (hour, day, ISO week from Monday, month) in an IANA time zone, as epoch-ms intervals. Offsets
 * come from Intl, so daylight-saving changes are followed: a day is 23 or 25 hours on the days the clocks move.
 */
export type Period = 'hour' | 'day' | 'week' | 'month';
export const PERIODS: readonly Period[] = ['hour', 'day', 'week', 'month'];

interface Wall {
  y: number;
  m: number; // 1-12
  d: number;
  h: number;
  min: number;
  s: number;
}

/** True when Intl knows the zone (e.g. "UTC", "Europe/Paris"). */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Period boundaries for one zone; the formatter is made once and intervals are cached until they end. */
export class Calendar {
  readonly #fmt: Intl.DateTimeFormat;
  readonly #cache = new Map<Period, { start: number; end: number }>();

  constructor(readonly zone: string) {
    this.#fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  }

  /** The period holding `now`: [start, end) in epoch ms. Cached, so a request pays one comparison. */
  interval(period: Period, now: number): { start: number; end: number } {
    const c = this.#cache.get(period);
    if (c && now >= c.start && now < c.end) return c;
    const fresh = this.#compute(period, now);
    this.#cache.set(period, fresh);
    return fresh;
  }

  #wall(t: number): Wall {
    const w: Wall = { y: 0, m: 0, d: 0, h: 0, min: 0, s: 0 };
    for (const p of this.#fmt.formatToParts(new Date(t))) {
      const v = Number(p.value);
      if (p.type === 'year') w.y = v;
      else if (p.type === 'month') w.m = v;
      else if (p.type === 'day') w.d = v;
      else if (p.type === 'hour') w.h = v;
      else if (p.type === 'minute') w.min = v;
      else if (p.type === 'second') w.s = v;
    }
    return w;
  }

  /** The zone's offset from UTC at instant t, in ms (wall clock minus UTC). */
  #offset(t: number): number {
    const w = this.#wall(t);
    const whole = t - (((t % 1000) + 1000) % 1000);
    return Date.UTC(w.y, w.m - 1, w.d, w.h, w.min, w.s) - whole;
  }

  /** The instant the zone's wall clock shows this time (two passes settle the offset across a DST change). */
  #instant(y: number, m: number, d: number, h: number): number {
    const asUtc = Date.UTC(y, m - 1, d, h);
    const first = asUtc - this.#offset(asUtc);
    return asUtc - this.#offset(first);
  }

  #compute(period: Period, now: number): { start: number; end: number } {
    const w = this.#wall(now);
    let start: number;
    let end: number;
    switch (period) {
      case 'hour':
        start = this.#instant(w.y, w.m, w.d, w.h);
        end = this.#instant(w.y, w.m, w.d, w.h + 1);
        // A wall-clock hour that repeats (clocks back) or is skipped: fall back to whole hours from the start.
        if (!(end > start) || start > now) {
          start = now - (((now % 3_600_000) + 3_600_000) % 3_600_000);
          end = start + 3_600_000;
        }
        break;
      case 'day':
        start = this.#instant(w.y, w.m, w.d, 0);
        end = this.#instant(w.y, w.m, w.d + 1, 0);
        break;
      case 'week': {
        // ISO weeks begin on Monday: getUTCDay of the wall date, Sunday = 0.
        const dow = new Date(Date.UTC(w.y, w.m - 1, w.d)).getUTCDay();
        const back = (dow + 6) % 7;
        start = this.#instant(w.y, w.m, w.d - back, 0);
        end = this.#instant(w.y, w.m, w.d - back + 7, 0);
        break;
      }
      case 'month':
        start = this.#instant(w.y, w.m, 1, 0);
        end = this.#instant(w.y, w.m + 1, 1, 0);
        break;
    }
    // Guard against a zone whose midnight does not exist (a DST change at 00:00): the interval must hold now.
    if (start > now) start = now;
    if (end <= now) end = now + 1000;
    return { start, end };
  }
}
