//! A server's CPU time and resident memory, read from `/proc`.

use std::io;

/// utime and stime of a process (all its threads), in clock ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuTicks {
    pub utime: u64,
    pub stime: u64,
}

impl CpuTicks {
    pub fn total(self) -> u64 {
        self.utime + self.stime
    }
}

/// Parses `/proc/PID/stat`. The command name (field 2) is in parentheses and may itself
/// contain spaces and parentheses, so fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Result<CpuTicks, String> {
    let close = text
        .rfind(')')
        .ok_or_else(|| "no ')' in /proc/PID/stat".to_string())?;
    // After ") " come fields 3 (state), 4, ... ; utime is field 14, stime field 15.
    let fields: Vec<&str> = text[close + 1..].split_whitespace().collect();
    let get = |n: usize| -> Result<u64, String> {
        fields
            .get(n - 3)
            .ok_or_else(|| format!("/proc/PID/stat has no field {n}"))?
            .parse()
            .map_err(|_| format!("/proc/PID/stat field {n} is not a number"))
    };
    Ok(CpuTicks {
        utime: get(14)?,
        stime: get(15)?,
    })
}

/// Parses `VmRSS:` (kB) out of `/proc/PID/status`.
pub fn parse_status_rss_kb(text: &str) -> Result<u64, String> {
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("VmRSS:") {
            let num = rest
                .split_whitespace()
                .next()
                .ok_or_else(|| "empty VmRSS".to_string())?;
            return num.parse().map_err(|_| format!("bad VmRSS {num:?}"));
        }
    }
    Err("no VmRSS line in /proc/PID/status".into())
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`).
pub fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf only reads a configuration value; no pointers are involved.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// Converts ticks to microseconds.
pub fn ticks_to_us(ticks: u64, per_sec: u64) -> u64 {
    ticks * 1_000_000 / per_sec.max(1)
}

/// CPU time (user + system) used so far by `pid`, in µs.
pub fn cpu_time_us(pid: u32) -> io::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let t = parse_stat(&text).map_err(io::Error::other)?;
    Ok(ticks_to_us(t.total(), clock_ticks_per_sec()))
}

/// Resident set size of `pid`, in kB.
pub fn rss_kb(pid: u32) -> io::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_status_rss_kb(&text).map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_awkward_command_name() {
        let line = "4242 (redis) server (x)) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                    777 333 0 0 20 0 5 0 123456 12345678 2345 18446744073709551615";
        assert_eq!(
            parse_stat(line).unwrap(),
            CpuTicks {
                utime: 777,
                stime: 333
            }
        );
        assert!(parse_stat("12 (x) S 1 2").is_err());
        assert!(parse_stat("garbage").is_err());
    }

    #[test]
    fn stat_of_this_process_parses() {
        let text = std::fs::read_to_string("/proc/self/stat").unwrap();
        parse_stat(&text).unwrap();
        assert!(rss_kb(std::process::id()).unwrap() > 0);
    }

    #[test]
    fn status_rss() {
        let text = "Name:\tredis-server\nVmPeak:\t  20000 kB\nVmRSS:\t    8123 kB\nThreads:\t5\n";
        assert_eq!(parse_status_rss_kb(text).unwrap(), 8123);
        assert!(parse_status_rss_kb("Name:\tx\n").is_err());
    }

    #[test]
    fn ticks_convert() {
        assert_eq!(ticks_to_us(250, 100), 2_500_000);
        assert_eq!(ticks_to_us(3, 1000), 3_000);
    }
}
