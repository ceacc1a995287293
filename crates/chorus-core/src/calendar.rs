//! Calendar days in a platform's own time zone, and the slices an API's date limits allow.
//!
//! Platforms report daily numbers in a zone of their own (Facebook Pages and Instagram in US
//! Pacific time, an ad account in its `timezone_name`, a GA4 property in its zone). A calendar
//! day there is 23, 24 or 25 hours long, so "90 days" of Pacific days can be 90 days and one
//! hour of seconds, and an API that counts its limit in seconds refuses it. Everything here
//! is a pure function of its arguments: no clock is read, so tests can sweep any date.

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Utc};

/// The first instant of `day` in `tz`.
///
/// Where the clocks go back at midnight, the earlier midnight; where they skip midnight (a
/// spring-forward gap at 00:00, as in Santiago or Havana), the instant the day begins, which is
/// the end of the gap.
pub fn midnight<Tz: TimeZone>(day: NaiveDate, tz: &Tz) -> DateTime<Utc> {
    let local = day.and_time(NaiveTime::MIN);
    if let Some(t) = tz.from_local_datetime(&local).earliest() {
        return t.with_timezone(&Utc);
    }
    // Midnight falls in a gap: the day starts when a clock still on the previous day's offset
    // would have shown midnight, which is where the gap ends. The previous noon always exists.
    let noon_before = local - chrono::Duration::hours(12);
    tz.from_local_datetime(&noon_before).earliest().map_or_else(
        || local.and_utc(),
        |t| t.with_timezone(&Utc) + chrono::Duration::hours(12),
    )
}

/// The calendar day that the instant `t` falls on in `tz`.
pub fn day_in<Tz: TimeZone>(t: DateTime<Utc>, tz: &Tz) -> NaiveDate {
    t.with_timezone(tz).date_naive()
}

/// The length in seconds of the calendar days `[first, end)` in `tz`.
pub fn span_secs<Tz: TimeZone>(first: NaiveDate, end: NaiveDate, tz: &Tz) -> i64 {
    (midnight(end, tz) - midnight(first, tz)).num_seconds()
}

/// Splits the calendar days `[first, end)` into consecutive slices `[a, b)` that each hold at
/// most `max_days` days and span at most `max_secs` seconds from midnight to midnight in `tz`.
///
/// An API that says "at most 90 days between since and until" and counts in seconds refuses
/// 90 Pacific days across the November clock change (90 days and 3,600 s); such a slice is
/// cut to 89 days here. A slice always holds at least one day, so the split ends even when a
/// single day is longer than `max_secs`.
pub fn day_slices<Tz: TimeZone>(
    first: NaiveDate,
    end: NaiveDate,
    tz: &Tz,
    max_days: u32,
    max_secs: i64,
) -> Vec<(NaiveDate, NaiveDate)> {
    let mut out = Vec::new();
    let mut a = first;
    while a < end {
        let mut b = a
            .checked_add_days(Days::new(u64::from(max_days.max(1))))
            .unwrap_or(end)
            .min(end);
        while b > a.succ_opt().unwrap_or(b) && span_secs(a, b, tz) > max_secs {
            b = b.pred_opt().unwrap_or(a);
        }
        out.push((a, b));
        a = b;
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::FixedOffset;
    use chrono_tz::Tz;

    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    const DAY: i64 = 86_400;

    /// The zones chorus reports in, and two whose clocks change at midnight.
    const ZONES: &[&str] = &[
        "UTC",
        "America/Los_Angeles",
        "America/New_York",
        "Europe/Berlin",
        "Europe/London",
        "Australia/Sydney",
        "Asia/Kolkata",
        "America/Santiago",
        "America/Havana",
        "Pacific/Chatham",
    ];

    /// The days a sweep covers: both US and EU clock changes (the day before, of and after),
    /// leap days, year and month ends.
    const DATES: &[&str] = &[
        "2024-02-28",
        "2024-02-29",
        "2024-03-01",
        "2026-03-07",
        "2026-03-08",
        "2026-03-09",
        "2026-03-28",
        "2026-03-29",
        "2026-03-30",
        "2026-10-24",
        "2026-10-25",
        "2026-10-26",
        "2026-10-31",
        "2026-11-01",
        "2026-11-02",
        "2026-12-07",
        "2026-12-31",
        "2027-01-01",
        "2028-02-29",
        "2030-06-30",
    ];

    #[test]
    fn midnight_is_the_first_instant_of_the_day() {
        for zone in ZONES {
            let tz: Tz = zone.parse().unwrap();
            for date in DATES {
                let day = d(date);
                let m = midnight(day, &tz);
                assert_eq!(day_in(m, &tz), day, "{zone} {date}");
                let before = m - chrono::Duration::seconds(1);
                assert_eq!(
                    day_in(before, &tz),
                    day.pred_opt().unwrap(),
                    "{zone} {date}"
                );
            }
        }
    }

    #[test]
    fn pacific_days_are_23_24_or_25_hours() {
        let la: Tz = "America/Los_Angeles".parse().unwrap();
        assert_eq!(span_secs(d("2026-03-08"), d("2026-03-09"), &la), 23 * 3600);
        assert_eq!(span_secs(d("2026-11-01"), d("2026-11-02"), &la), 25 * 3600);
        assert_eq!(span_secs(d("2026-12-07"), d("2026-12-08"), &la), DAY);
        assert_eq!(
            midnight(d("2026-11-01"), &la).to_rfc3339(),
            "2026-11-01T07:00:00+00:00"
        );
        assert_eq!(
            midnight(d("2026-11-02"), &la).to_rfc3339(),
            "2026-11-02T08:00:00+00:00"
        );
    }

    #[test]
    fn a_gap_at_midnight_starts_the_day_when_the_gap_ends() {
        // Santiago moved its clocks from 00:00 to 01:00 on 2026-09-06.
        let scl: Tz = "America/Santiago".parse().unwrap();
        let m = midnight(d("2026-09-06"), &scl);
        assert_eq!(m.to_rfc3339(), "2026-09-06T04:00:00+00:00");
        assert_eq!(m.with_timezone(&scl).time().to_string(), "01:00:00");
    }

    #[test]
    fn slices_stay_inside_the_limit_in_days_and_in_seconds() {
        for zone in ZONES {
            let tz: Tz = zone.parse().unwrap();
            for date in DATES {
                for (max_days, span) in [(90, 90), (30, 30), (7, 7), (1, 1), (90, 93)] {
                    let first = d(date).checked_sub_days(Days::new(200)).unwrap();
                    let end = d(date).checked_add_days(Days::new(200)).unwrap();
                    let slices = day_slices(first, end, &tz, max_days, span * DAY);
                    assert_eq!(slices.first().unwrap().0, first);
                    assert_eq!(slices.last().unwrap().1, end);
                    for pair in slices.windows(2) {
                        assert_eq!(pair[0].1, pair[1].0, "{zone}: gap or overlap");
                    }
                    for (a, b) in &slices {
                        assert!(a < b);
                        assert!((*b - *a).num_days() <= i64::from(max_days));
                        if max_days > 1 {
                            assert!(
                                span_secs(*a, *b, &tz) <= span * DAY,
                                "{zone} {a}..{b} is {} s",
                                span_secs(*a, *b, &tz)
                            );
                            // Never shorter than it must be: one more day would break a limit.
                            if *b < end {
                                let longer = b.succ_opt().unwrap();
                                assert!(
                                    (longer - *a).num_days() > i64::from(max_days)
                                        || span_secs(*a, longer, &tz) > span * DAY,
                                    "{zone} {a}..{b} could be longer"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn ninety_pacific_days_across_november_are_cut_to_89() {
        let la: Tz = "America/Los_Angeles".parse().unwrap();
        let slices = day_slices(d("2026-09-08"), d("2026-12-07"), &la, 90, 90 * DAY);
        assert_eq!(
            slices,
            vec![
                (d("2026-09-08"), d("2026-12-06")),
                (d("2026-12-06"), d("2026-12-07"))
            ]
        );
        // The spring change makes the same 90 days shorter, so they fit in one slice.
        let spring = day_slices(d("2026-02-01"), d("2026-05-02"), &la, 90, 90 * DAY);
        assert_eq!(spring, vec![(d("2026-02-01"), d("2026-05-02"))]);
        // A fixed offset never changes.
        let fixed = FixedOffset::west_opt(8 * 3600).unwrap();
        let plain = day_slices(d("2026-09-08"), d("2026-12-07"), &fixed, 90, 90 * DAY);
        assert_eq!(plain, vec![(d("2026-09-08"), d("2026-12-07"))]);
    }

    #[test]
    fn no_days_no_slices() {
        let la: Tz = "America/Los_Angeles".parse().unwrap();
        assert!(day_slices(d("2026-01-02"), d("2026-01-02"), &la, 90, 90 * DAY).is_empty());
        assert!(day_slices(d("2026-01-03"), d("2026-01-02"), &la, 90, 90 * DAY).is_empty());
    }
}
