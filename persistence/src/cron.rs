//! `--snapshot_cron`: five-field cron expressions (minute hour day-of-month month
//! day-of-week), evaluated in UTC, and the next minute one fires at.
//!
//! Each field is a comma list of `*`, `N`, `N-M`, any of them with `/STEP`; months and
//! weekdays also take three-letter English names (`JAN`, `MON`), and weekday 7 is Sunday as
//! in crontab. When both day fields are restricted a day matches if either does (crontab's
//! rule); `@hourly`, `@daily`/`@midnight`, `@weekly`, `@monthly` and `@yearly`/`@annually`
//! stand for their usual expressions. An expression that can never fire (`0 0 31 2 *`) is
//! refused, so a schedule accepted at start or by CONFIG SET always saves some day.

/// A parsed schedule: one bit per allowed value of each field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CronSchedule {
    minutes: u64,
    hours: u32,
    /// Bits 1..=31.
    days: u32,
    /// Bits 1..=12.
    months: u16,
    /// Bits 0..=6, Sunday = 0.
    weekdays: u8,
    days_restricted: bool,
    weekdays_restricted: bool,
}

/// Days searched for the next firing: past 8 years, since a 29 February schedule may skip
/// a century's non-leap year (2100).
const SEARCH_DAYS: u64 = 366 * 9;

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// First value the names count from (months are 1-based).
    names_base: u32,
}

const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
        names_base: 0,
    },
    Field {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
        names_base: 0,
    },
    Field {
        name: "day of month",
        min: 1,
        max: 31,
        names: &[],
        names_base: 0,
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: &MONTHS,
        names_base: 1,
    },
    Field {
        name: "day of week",
        min: 0,
        max: 7,
        names: &WEEKDAYS,
        names_base: 0,
    },
];

impl Field {
    fn value(&self, text: &str) -> Result<u32, String> {
        let lower = text.to_ascii_lowercase();
        if let Some(i) = self.names.iter().position(|n| *n == lower) {
            return Ok(i as u32 + self.names_base);
        }
        let v: u32 = text
            .parse()
            .map_err(|_| format!("'{text}' is not a valid {}", self.name))?;
        if v < self.min || v > self.max {
            return Err(format!(
                "{} {v} is out of range {}-{}",
                self.name, self.min, self.max
            ));
        }
        Ok(v)
    }

    /// The field's bits and whether it restricts anything (is not a bare `*`).
    fn parse(&self, text: &str) -> Result<(u64, bool), String> {
        let mut bits = 0u64;
        for item in text.split(',') {
            let (range, step) = match item.split_once('/') {
                Some((r, s)) => {
                    let step: u32 = s
                        .parse()
                        .ok()
                        .filter(|&s| s > 0)
                        .ok_or_else(|| format!("'{s}' is not a valid step"))?;
                    (r, step)
                }
                None => (item, 1),
            };
            let (lo, hi) = if range == "*" {
                (self.min, self.max)
            } else if let Some((a, b)) = range.split_once('-') {
                let (a, b) = (self.value(a)?, self.value(b)?);
                if a > b {
                    return Err(format!("range {range} of {} runs backwards", self.name));
                }
                (a, b)
            } else {
                let v = self.value(range)?;
                // `N/STEP` means from N to the end, as in crontab.
                (v, if item.contains('/') { self.max } else { v })
            };
            let mut v = lo;
            while v <= hi {
                bits |= 1 << v;
                v += step;
            }
        }
        Ok((bits, text != "*"))
    }
}

impl CronSchedule {
    /// Parses a five-field expression (or one of the `@` shorthands).
    pub fn parse(expr: &str) -> Result<CronSchedule, String> {
        let bad = |why: String| format!("invalid cron expression '{expr}': {why}");
        let expanded = match expr.trim().to_ascii_lowercase().as_str() {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            "@yearly" | "@annually" => "0 0 1 1 *",
            _ => expr,
        };
        let parts: Vec<&str> = expanded.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(bad(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week), got {}",
                parts.len()
            )));
        }
        let mut fields = [(0u64, false); 5];
        for (i, part) in parts.iter().enumerate() {
            fields[i] = FIELDS[i].parse(part).map_err(bad)?;
        }
        // Weekday 7 is Sunday.
        let weekdays = fields[4].0 | (fields[4].0 >> 7);
        let schedule = CronSchedule {
            minutes: fields[0].0,
            hours: fields[1].0 as u32,
            days: fields[2].0 as u32,
            months: fields[3].0 as u16,
            weekdays: (weekdays & 0x7f) as u8,
            days_restricted: fields[2].1,
            weekdays_restricted: fields[4].1,
        };
        if schedule.next_after(0).is_none() {
            return Err(bad("it never fires".into()));
        }
        Ok(schedule)
    }

    fn day_matches(&self, days_since_epoch: u64) -> bool {
        let (_, month, day) = civil_from_days(days_since_epoch);
        if self.months & (1 << month) == 0 {
            return false;
        }
        let weekday = (days_since_epoch + 4) % 7; // 1970-01-01 was a Thursday.
        let dom = self.days & (1 << day) != 0;
        let dow = self.weekdays & (1 << weekday) != 0;
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => dom || dow,
            (true, false) => dom,
            (false, true) => dow,
            (false, false) => true,
        }
    }

    /// Whether the schedule fires in the minute that starts at `unix_minute * 60` (UTC).
    pub fn matches(&self, unix_minute: u64) -> bool {
        let minute = unix_minute % 60;
        let hour = (unix_minute / 60) % 24;
        self.minutes & (1 << minute) != 0
            && self.hours & (1 << hour) != 0
            && self.day_matches(unix_minute / (24 * 60))
    }

    /// The start (Unix seconds) of the first firing minute strictly after `unix_s`.
    pub fn next_after(&self, unix_s: u64) -> Option<u64> {
        let first = unix_s / 60 + 1;
        let first_day = first / (24 * 60);
        for day in first_day..first_day + SEARCH_DAYS {
            if !self.day_matches(day) {
                continue;
            }
            let from = if day == first_day {
                first % (24 * 60)
            } else {
                0
            };
            for m in from..24 * 60 {
                let (hour, minute) = (m / 60, m % 60);
                if self.hours & (1 << hour) != 0 && self.minutes & (1 << minute) != 0 {
                    return Some((day * 24 * 60 + m) * 60);
                }
            }
        }
        None
    }
}

/// (year, month 1..=12, day 1..=31) of a day counted from 1970-01-01, in the proleptic
/// Gregorian calendar: shift to years starting in March, so the leap day is the last day
/// of a year, then split into 400-year eras of 146097 days.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days from 0000-03-01
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153; // month from March = 0
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = era * 400 + yoe + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix seconds of a UTC date and time (test helper, by counting days).
    fn at(y: u64, mo: u64, d: u64, h: u64, mi: u64) -> u64 {
        let mut day = 0;
        while civil_from_days(day) != (y, mo, d) {
            day += 1;
        }
        ((day * 24 + h) * 60 + mi) * 60
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_788), (2026, 12, 1));
    }

    #[test]
    fn every_five_minutes() {
        let c = CronSchedule::parse("*/5 * * * *").unwrap();
        let t = at(2026, 12, 2, 2, 13);
        assert_eq!(c.next_after(t), Some(at(2026, 12, 2, 2, 15)));
        assert_eq!(
            c.next_after(at(2026, 12, 2, 2, 15)),
            Some(at(2026, 12, 2, 2, 20))
        );
        assert_eq!(c.next_after(t + 59), Some(at(2026, 12, 2, 2, 15)));
        assert!(c.matches(at(2026, 12, 2, 2, 15) / 60));
        assert!(!c.matches(at(2026, 12, 2, 2, 16) / 60));
    }

    #[test]
    fn every_minute_fires_next_minute() {
        let c = CronSchedule::parse("* * * * *").unwrap();
        assert_eq!(c.next_after(120), Some(180));
        assert_eq!(c.next_after(179), Some(180));
    }

    #[test]
    fn lists_ranges_and_names() {
        let c = CronSchedule::parse("0,30 9-17/4 * JAN-mar mon-fri").unwrap();
        // 2026-12-31 is a Thursday; December is not in the months.
        let t = at(2026, 12, 31, 23, 59);
        // 2027-01-01 is a Friday: 09:00.
        assert_eq!(c.next_after(t), Some(at(2027, 1, 1, 9, 0)));
        assert_eq!(
            c.next_after(at(2027, 1, 1, 9, 0)),
            Some(at(2027, 1, 1, 9, 30))
        );
        assert_eq!(
            c.next_after(at(2027, 1, 1, 9, 30)),
            Some(at(2027, 1, 1, 13, 0))
        );
        // 17:30, then Monday 4 January.
        assert_eq!(
            c.next_after(at(2027, 1, 1, 17, 0)),
            Some(at(2027, 1, 1, 17, 30))
        );
        assert_eq!(
            c.next_after(at(2027, 1, 1, 17, 30)),
            Some(at(2027, 1, 4, 9, 0))
        );
    }

    #[test]
    fn day_fields_are_or_when_both_restricted() {
        // The 15th or any Sunday (7 is Sunday too).
        let c = CronSchedule::parse("0 0 15 * 7").unwrap();
        // 2026-12-02 is a Wednesday: next Sunday is the 6th.
        assert_eq!(
            c.next_after(at(2026, 12, 2, 0, 0)),
            Some(at(2026, 12, 6, 0, 0))
        );
        assert_eq!(
            c.next_after(at(2026, 12, 13, 0, 0)),
            Some(at(2026, 12, 15, 0, 0))
        );
        // Only the day of month restricted: the weekday does not widen it.
        let c = CronSchedule::parse("0 0 15 * *").unwrap();
        assert_eq!(
            c.next_after(at(2026, 12, 2, 0, 0)),
            Some(at(2026, 12, 15, 0, 0))
        );
    }

    #[test]
    fn leap_day_and_shorthands() {
        let c = CronSchedule::parse("0 12 29 2 *").unwrap();
        assert_eq!(
            c.next_after(at(2026, 12, 2, 0, 0)),
            Some(at(2028, 2, 29, 12, 0))
        );
        let c = CronSchedule::parse("@daily").unwrap();
        assert_eq!(
            c.next_after(at(2026, 12, 2, 2, 0)),
            Some(at(2026, 12, 3, 0, 0))
        );
        assert_eq!(
            CronSchedule::parse("@hourly").unwrap(),
            CronSchedule::parse("0 * * * *").unwrap()
        );
    }

    #[test]
    fn bad_expressions_are_refused() {
        for bad in [
            "",
            "* * * *",
            "* * * * * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "* * * * 8",
            "*/0 * * * *",
            "5-1 * * * *",
            "a * * * *",
            "1,,2 * * * *",
            "* * * foo *",
            "0 0 31 2 *",
            "0 0 30 2 *",
        ] {
            let e = CronSchedule::parse(bad).unwrap_err();
            assert!(e.starts_with("invalid cron expression"), "{bad}: {e}");
        }
    }
}
