//! Command-line flags of the load generator, named as memtier_benchmark names them.
//!
//! Both `--flag=value` and `--flag value` are accepted, as are memtier's short forms
//! `-s -p -P -t -c -n -d`.

use std::fmt;
use std::path::PathBuf;

/// Wire protocol spoken to the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Redis,
    MemcacheText,
}

impl Protocol {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "redis" | "resp2" => Ok(Protocol::Redis),
            "memcache_text" => Ok(Protocol::MemcacheText),
            _ => Err(format!(
                "unsupported --protocol {s:?} (redis|memcache_text)"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Redis => "redis",
            Protocol::MemcacheText => "memcache_text",
        }
    }
}

/// How a client picks the next key index (memtier's `--key-pattern` letters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyPattern {
    /// `R`: uniform over [key-minimum, key-maximum].
    Random,
    /// `G`: normal around the median, clamped to the range.
    Gaussian,
    /// `S`: each client walks the whole range in order, wrapping around.
    Sequential,
    /// `P`: the range is split between all clients; each walks its own slice.
    Parallel,
}

impl KeyPattern {
    fn parse(c: &str) -> Result<Self, String> {
        match c {
            "R" => Ok(KeyPattern::Random),
            "G" => Ok(KeyPattern::Gaussian),
            "S" => Ok(KeyPattern::Sequential),
            "P" => Ok(KeyPattern::Parallel),
            _ => Err(format!("unknown key pattern {c:?} (R, G, S or P)")),
        }
    }

    fn letter(self) -> char {
        match self {
            KeyPattern::Random => 'R',
            KeyPattern::Gaussian => 'G',
            KeyPattern::Sequential => 'S',
            KeyPattern::Parallel => 'P',
        }
    }
}

/// Everything the generator needs to run one workload.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub server: String,
    pub port: u16,
    pub protocol: Protocol,
    pub threads: usize,
    /// Clients per thread.
    pub clients: usize,
    pub pipeline: usize,
    pub ratio_set: u32,
    pub ratio_get: u32,
    pub data_size: usize,
    pub key_pattern_set: KeyPattern,
    pub key_pattern_get: KeyPattern,
    pub key_minimum: u64,
    pub key_maximum: u64,
    pub key_prefix: String,
    pub key_stddev: Option<f64>,
    pub key_median: Option<f64>,
    /// Requests per client; ignored when `test_time` is set.
    pub requests: u64,
    /// Run length in seconds (overrides `requests`).
    pub test_time: Option<u64>,
    pub distinct_client_seed: bool,
    pub randomize: bool,
    pub seed: u64,
    pub hide_histogram: bool,
    pub json_out_file: Option<PathBuf>,
    /// Suppress the per-second progress line (not a memtier flag; used by tests).
    pub quiet: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: "127.0.0.1".into(),
            port: 6379,
            protocol: Protocol::Redis,
            threads: 4,
            clients: 50,
            pipeline: 1,
            ratio_set: 1,
            ratio_get: 10,
            data_size: 32,
            key_pattern_set: KeyPattern::Random,
            key_pattern_get: KeyPattern::Random,
            key_minimum: 0,
            key_maximum: 10_000_000,
            key_prefix: "memtier-".into(),
            key_stddev: None,
            key_median: None,
            requests: 10_000,
            test_time: None,
            distinct_client_seed: false,
            randomize: false,
            seed: 0x5eed_da35_e1f1_u64,
            hide_histogram: false,
            json_out_file: None,
            quiet: false,
        }
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{} {} {} threads x {} clients, pipeline {}, ratio {}:{}, data-size {}, \
             key-pattern {}:{} [{}..={}], ",
            self.server,
            self.port,
            self.protocol.name(),
            self.threads,
            self.clients,
            self.pipeline,
            self.ratio_set,
            self.ratio_get,
            self.data_size,
            self.key_pattern_set.letter(),
            self.key_pattern_get.letter(),
            self.key_minimum,
            self.key_maximum
        )?;
        match self.test_time {
            Some(t) => write!(f, "{t} s"),
            None => write!(f, "{} requests per client", self.requests),
        }
    }
}

pub const USAGE: &str = "\
usage: damselfly-bench [generator flags]
       damselfly-bench compare --damselfly \"<cmd with {port}>\" [runner flags] [tool flags]
       damselfly-bench memory --damselfly \"<cmd with {port}>\" --keys N --key-size K --value-size V

generator flags (memtier_benchmark names):
  -s, --server HOST           (127.0.0.1)     -p, --port PORT (6379)
  -P, --protocol redis|memcache_text (redis)
  -t, --threads N (4)                         -c, --clients N per thread (50)
      --pipeline N (1)                            --ratio SET:GET (1:10)
  -d, --data-size BYTES (32)                      --key-pattern S:G letters R|G|S|P (R:R)
      --key-minimum N (0)  --key-maximum N (10000000)  --key-prefix STR (memtier-)
      --key-stddev F  --key-median F              (Gaussian pattern)
  -n, --requests N per client (10000)             --test-time SECS (overrides --requests)
      --distinct-client-seed  --randomize  --hide-histogram  --json-out-file PATH
      --quiet (no progress line)
";

/// A cursor over argv that understands `--name=value` and `--name value`.
pub struct ArgCursor {
    args: Vec<String>,
    pos: usize,
    pending_value: Option<String>,
}

impl ArgCursor {
    pub fn new(args: Vec<String>) -> Self {
        ArgCursor {
            args,
            pos: 0,
            pending_value: None,
        }
    }

    /// The next flag name (with `--name=value` split so that `value()` returns the value).
    pub fn next_flag(&mut self) -> Option<String> {
        let a = self.args.get(self.pos)?.clone();
        self.pos += 1;
        if a.starts_with("--") {
            if let Some((name, v)) = a.split_once('=') {
                self.pending_value = Some(v.to_string());
                return Some(name.to_string());
            }
        }
        self.pending_value = None;
        Some(a)
    }

    /// The value of the flag just returned by `next_flag`.
    pub fn value(&mut self, flag: &str) -> Result<String, String> {
        if let Some(v) = self.pending_value.take() {
            return Ok(v);
        }
        let v = self
            .args
            .get(self.pos)
            .cloned()
            .ok_or_else(|| format!("{flag} needs a value"))?;
        self.pos += 1;
        Ok(v)
    }

    pub fn parsed<T: std::str::FromStr>(&mut self, flag: &str) -> Result<T, String> {
        let v = self.value(flag)?;
        v.parse().map_err(|_| format!("{flag}: cannot parse {v:?}"))
    }

    /// Fails if a flag that takes no value was given one (`--randomize=1`).
    pub fn no_value(&mut self, flag: &str) -> Result<(), String> {
        match self.pending_value.take() {
            Some(_) => Err(format!("{flag} takes no value")),
            None => Ok(()),
        }
    }

    /// Everything not consumed yet.
    pub fn rest(&mut self) -> Vec<String> {
        let r = self.args[self.pos..].to_vec();
        self.pos = self.args.len();
        r
    }
}

fn parse_pair(s: &str, flag: &str) -> Result<(String, String), String> {
    s.split_once(':')
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .ok_or_else(|| format!("{flag} wants A:B, got {s:?}"))
}

impl Config {
    /// Parses generator flags (argv without the program name).
    pub fn parse(args: &[String]) -> Result<Config, String> {
        let mut c = Config::default();
        let mut cur = ArgCursor::new(args.to_vec());
        while let Some(flag) = cur.next_flag() {
            match flag.as_str() {
                "-s" | "--server" => c.server = cur.value(&flag)?,
                "-p" | "--port" => c.port = cur.parsed(&flag)?,
                "-P" | "--protocol" => c.protocol = Protocol::parse(&cur.value(&flag)?)?,
                "-t" | "--threads" => c.threads = cur.parsed(&flag)?,
                "-c" | "--clients" => c.clients = cur.parsed(&flag)?,
                "--pipeline" => c.pipeline = cur.parsed(&flag)?,
                "--ratio" => {
                    let (a, b) = parse_pair(&cur.value(&flag)?, &flag)?;
                    c.ratio_set = a.parse().map_err(|_| format!("--ratio: bad {a:?}"))?;
                    c.ratio_get = b.parse().map_err(|_| format!("--ratio: bad {b:?}"))?;
                }
                "-d" | "--data-size" => c.data_size = cur.parsed(&flag)?,
                "--key-pattern" => {
                    let (a, b) = parse_pair(&cur.value(&flag)?, &flag)?;
                    c.key_pattern_set = KeyPattern::parse(&a)?;
                    c.key_pattern_get = KeyPattern::parse(&b)?;
                }
                "--key-minimum" => c.key_minimum = cur.parsed(&flag)?,
                "--key-maximum" => c.key_maximum = cur.parsed(&flag)?,
                "--key-prefix" => c.key_prefix = cur.value(&flag)?,
                "--key-stddev" => c.key_stddev = Some(cur.parsed(&flag)?),
                "--key-median" => c.key_median = Some(cur.parsed(&flag)?),
                "-n" | "--requests" => c.requests = cur.parsed(&flag)?,
                "--test-time" => c.test_time = Some(cur.parsed(&flag)?),
                "--distinct-client-seed" => {
                    cur.no_value(&flag)?;
                    c.distinct_client_seed = true
                }
                "--randomize" => {
                    cur.no_value(&flag)?;
                    c.randomize = true
                }
                "--hide-histogram" => {
                    cur.no_value(&flag)?;
                    c.hide_histogram = true
                }
                "--quiet" => {
                    cur.no_value(&flag)?;
                    c.quiet = true
                }
                "--json-out-file" => c.json_out_file = Some(cur.value(&flag)?.into()),
                "-h" | "--help" => return Err(USAGE.to_string()),
                other => return Err(format!("unknown flag {other:?}\n{USAGE}")),
            }
        }
        c.validate()?;
        Ok(c)
    }

    fn validate(&self) -> Result<(), String> {
        if self.threads == 0 || self.clients == 0 || self.pipeline == 0 {
            return Err("--threads, --clients and --pipeline must be at least 1".into());
        }
        if self.ratio_set == 0 && self.ratio_get == 0 {
            return Err("--ratio 0:0 sends nothing".into());
        }
        if self.key_minimum > self.key_maximum {
            return Err("--key-minimum is above --key-maximum".into());
        }
        if self.test_time == Some(0) {
            return Err("--test-time must be at least 1".into());
        }
        Ok(())
    }

    /// Total number of clients over all threads.
    pub fn total_clients(&self) -> usize {
        self.threads * self.clients
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn defaults_match_memtier() {
        let c = Config::parse(&[]).unwrap();
        assert_eq!((c.threads, c.clients, c.pipeline), (4, 50, 1));
        assert_eq!((c.ratio_set, c.ratio_get), (1, 10));
        assert_eq!(c.key_prefix, "memtier-");
        assert_eq!((c.key_minimum, c.key_maximum), (0, 10_000_000));
        assert_eq!(c.requests, 10_000);
        assert_eq!(c.data_size, 32);
    }

    #[test]
    fn both_flag_forms_and_short_flags() {
        let c = Config::parse(&argv(
            "--server=10.0.0.1 -p 7000 --protocol=memcache_text -t 2 --clients=3 --pipeline 16 \
             --ratio=1:1 -d 100 --key-pattern P:G --key-minimum=5 --key-maximum 50 \
             --key-prefix k: --test-time=3 --distinct-client-seed --randomize --hide-histogram \
             --json-out-file /tmp/x.json",
        ))
        .unwrap();
        assert_eq!(c.server, "10.0.0.1");
        assert_eq!(c.port, 7000);
        assert_eq!(c.protocol, Protocol::MemcacheText);
        assert_eq!((c.threads, c.clients, c.pipeline), (2, 3, 16));
        assert_eq!((c.ratio_set, c.ratio_get), (1, 1));
        assert_eq!(c.data_size, 100);
        assert_eq!(c.key_pattern_set, KeyPattern::Parallel);
        assert_eq!(c.key_pattern_get, KeyPattern::Gaussian);
        assert_eq!((c.key_minimum, c.key_maximum), (5, 50));
        assert_eq!(c.key_prefix, "k:");
        assert_eq!(c.test_time, Some(3));
        assert!(c.distinct_client_seed && c.randomize && c.hide_histogram);
        assert_eq!(c.json_out_file, Some(PathBuf::from("/tmp/x.json")));
    }

    #[test]
    fn rejects_bad_input() {
        assert!(Config::parse(&argv("--ratio 1-10")).is_err());
        assert!(Config::parse(&argv("--key-pattern X:R")).is_err());
        assert!(Config::parse(&argv("--protocol http")).is_err());
        assert!(Config::parse(&argv("--threads 0")).is_err());
        assert!(Config::parse(&argv("--key-minimum 10 --key-maximum 5")).is_err());
        assert!(Config::parse(&argv("--bogus")).is_err());
        assert!(Config::parse(&argv("--port")).is_err());
        assert!(Config::parse(&argv("--randomize=yes")).is_err());
    }
}
