//! Prometheus `GET /metrics` on the main port (HTTP edge cases, a real `prometheus` scraping
//! it) and INFO latencystats against redis-server.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::memcached::require;
use common::reference::{free_port, start_redis};
use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Sends raw bytes on a fresh connection.
fn http_conn(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// Reads one HTTP response: (status line, headers in lower case, body).
fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> (String, String, String) {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8(buf[..end].to_vec()).unwrap();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .expect("Content-Length");
            while buf.len() < end + 4 + len {
                read_more(s, buf);
            }
            let body = String::from_utf8(buf[end + 4..end + 4 + len].to_vec()).unwrap();
            buf.drain(..end + 4 + len);
            let (status, headers) = head.split_once("\r\n").unwrap_or((&head, ""));
            return (status.to_string(), headers.to_ascii_lowercase(), body);
        }
        read_more(s, buf);
    }
}

fn read_more(s: &mut TcpStream, buf: &mut Vec<u8>) {
    let mut chunk = [0u8; 65536];
    let n = s.read(&mut chunk).expect("read");
    assert!(n > 0, "server closed the connection");
    buf.extend_from_slice(&chunk[..n]);
}

/// True when the server closes the connection (EOF) within the read timeout.
fn closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 4096];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

fn get(addr: SocketAddr, request: &[u8]) -> (String, String, String, TcpStream) {
    let mut s = http_conn(addr);
    s.write_all(request).unwrap();
    let mut buf = Vec::new();
    let (status, headers, body) = read_response(&mut s, &mut buf);
    (status, headers, body, s)
}

/// The value of the sample `series` (name and labels, exactly as printed).
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn metrics_answer_prometheus_text() {
    let server = server(2);
    let addr = server.addr();
    let mut c = Client::connect(addr);
    for i in 0..5 {
        c.cmd(&["INCR", "counter"]);
        c.cmd(&["SET", &format!("k{i}"), "v"]);
    }
    c.cmd(&["EXPIRE", "k0", "100"]);
    c.cmd(&["GET", "nosuch"]);
    c.cmd(&["NOSUCHCMD"]);
    c.cmd(&["CONFIG", "GET", "maxmemory"]);
    let (status, headers, body, mut s) = get(
        addr,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        headers.contains("content-type: text/plain; version=0.0.4"),
        "{headers}"
    );
    assert!(closed(&mut s), "Connection: close is honoured");
    assert!(
        body.contains("# TYPE damselfly_commands_total counter\n"),
        "{body}"
    );
    assert!(body.contains("# HELP damselfly_commands_total "));
    assert_eq!(
        sample(&body, "damselfly_commands_total{cmd=\"incr\"}"),
        Some(5.0)
    );
    assert_eq!(
        sample(&body, "damselfly_commands_total{cmd=\"set\"}"),
        Some(5.0)
    );
    assert_eq!(sample(&body, "damselfly_db_keys{db=\"db0\"}"), Some(6.0));
    assert_eq!(
        sample(&body, "damselfly_db_keys_expiring{db=\"db0\"}"),
        Some(1.0)
    );
    assert_eq!(sample(&body, "damselfly_keyspace_misses_total"), Some(1.0));
    assert_eq!(
        sample(&body, "damselfly_errors_total{type=\"ERR\"}"),
        Some(1.0)
    );
    assert_eq!(sample(&body, "damselfly_connected_clients"), Some(2.0));
    assert!(sample(&body, "damselfly_memory_used_bytes").unwrap() > 0.0);
    assert!(sample(&body, "damselfly_commands_processed_total").unwrap() >= 14.0);
    // The histogram: cumulative buckets ending in +Inf, _sum and _count; subcommands apart.
    assert!(body.contains("# TYPE damselfly_command_latency_seconds histogram\n"));
    let inf = "damselfly_command_latency_seconds_bucket{cmd=\"incr\",le=\"+Inf\"}";
    assert_eq!(sample(&body, inf), Some(5.0));
    assert_eq!(
        sample(
            &body,
            "damselfly_command_latency_seconds_count{cmd=\"incr\"}"
        ),
        Some(5.0)
    );
    let sum = sample(&body, "damselfly_command_latency_seconds_sum{cmd=\"incr\"}").unwrap();
    assert!(sum > 0.0 && sum < 5.0);
    assert_eq!(
        sample(
            &body,
            "damselfly_command_latency_seconds_count{cmd=\"config|get\"}"
        ),
        Some(1.0)
    );
    let mut last = 0.0;
    let mut bounds = 0;
    for l in body
        .lines()
        .filter(|l| l.starts_with("damselfly_command_latency_seconds_bucket{cmd=\"incr\""))
    {
        let n: f64 = l.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(n >= last, "cumulative: {l}");
        last = n;
        bounds += 1;
    }
    assert_eq!(bounds, 22);
    // Per proactor: both threads report their load.
    for p in ["0", "1"] {
        let cpu = format!("damselfly_proactor_cpu_seconds_total{{proactor=\"{p}\"}}");
        assert!(sample(&body, &cpu).is_some(), "{cpu}");
    }
    // Every sample line parses as `series value`, after its family's TYPE line.
    for l in body.lines().filter(|l| !l.starts_with('#')) {
        let (_, v) = l.rsplit_once(' ').unwrap();
        assert!(v.parse::<f64>().is_ok() || v == "+Inf", "{l}");
    }
    server.shutdown();
}

#[test]
fn keep_alive_and_http_errors() {
    let server = server(2);
    let addr = server.addr();
    let mut s = http_conn(addr);
    let mut buf = Vec::new();
    // HTTP/1.1 keeps the connection; two requests may even arrive together.
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics?x=1 HTTP/1.1\r\n\r\n")
        .unwrap();
    for _ in 0..2 {
        let (status, headers, body) = read_response(&mut s, &mut buf);
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(headers.contains("connection: keep-alive"));
        assert!(body.contains("damselfly_uptime_in_seconds"));
    }
    s.write_all(b"GET /other HTTP/1.1\r\n\r\n").unwrap();
    let (status, _, _) = read_response(&mut s, &mut buf);
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    s.write_all(b"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
        .unwrap();
    let (status, headers, _) = read_response(&mut s, &mut buf);
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
    assert!(headers.contains("allow: get"));
    // HTTP/1.0 closes unless asked otherwise.
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let (status, _, _) = read_response(&mut s, &mut buf);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(closed(&mut s));

    // Headers past 8 KiB: 431, then the connection closes.
    let mut big = b"GET /metrics HTTP/1.1\r\n".to_vec();
    for i in 0..200 {
        big.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "a".repeat(60)).as_bytes());
    }
    let (status, _, _, mut s) = get(addr, &big);
    assert_eq!(status, "HTTP/1.1 431 Request Header Fields Too Large");
    assert!(closed(&mut s));
    // Malformed: 400 and close.
    let (status, _, _, mut s) = get(addr, b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 400 Bad Request");
    assert!(closed(&mut s));

    // A half-sent request is dropped after the client timeout; the server still serves.
    let mut c = Client::connect(addr);
    assert_eq!(c.cmd(&["CONFIG", "SET", "timeout", "1"]), ok());
    let mut s = http_conn(addr);
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let t = Instant::now();
    assert!(closed(&mut s));
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_secs(8),
        "{waited:?}"
    );
    assert_eq!(c.cmd(&["PING"]), simple("PONG"));
    server.shutdown();
}

#[test]
fn resp_clients_sending_get_still_get_resp() {
    let server = server(2);
    let addr = server.addr();
    let mut c = Client::connect(addr);
    assert_eq!(c.cmd(&["SET", "/metrics", "v"]), ok());
    assert_eq!(c.cmd(&["GET", "/metrics"]), bulk("v"));
    // A fresh connection whose first command is GET, as an array and inline.
    let mut c = Client::connect(addr);
    assert_eq!(c.cmd(&["GET", "metrics"]), nil());
    let mut c = Client::connect(addr);
    c.send_raw(b"GET /metrics\r\n");
    assert_eq!(c.read_reply(), bulk("v"));
    let mut c = Client::connect(addr);
    c.send_raw(b"GET ");
    std::thread::sleep(Duration::from_millis(50));
    c.send_raw(b"/metrics\r\nPING\r\n");
    assert_eq!(c.read_reply(), bulk("v"));
    assert_eq!(c.read_reply(), simple("PONG"));
    // `GET /metrics HTTP/1.1` as a RESP array is a GET with two arguments.
    let mut c = Client::connect(addr);
    assert_eq!(
        c.cmd(&["GET", "/metrics", "HTTP/1.1"]),
        err("ERR wrong number of arguments for 'get' command")
    );
    server.shutdown();
}

#[test]
fn metrics_need_credentials_when_a_password_is_set() {
    let server = damselfly::Server::builder()
        .bind("127.0.0.1")
        .port(0)
        .threads(1)
        .set("requirepass", "s3cret")
        .start()
        .unwrap();
    let addr = server.addr();
    let (status, headers, _, _) = get(addr, b"GET /metrics HTTP/1.1\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 401 Unauthorized");
    assert!(headers.contains("www-authenticate: basic"));
    // default:wrong, then default:s3cret and a bare password.
    let (status, _, _, _) = get(
        addr,
        b"GET /metrics HTTP/1.1\r\nAuthorization: Basic ZGVmYXVsdDp3cm9uZw==\r\n\r\n",
    );
    assert_eq!(status, "HTTP/1.1 401 Unauthorized");
    let (status, _, body, _) = get(
        addr,
        b"GET /metrics HTTP/1.1\r\nAuthorization: Basic ZGVmYXVsdDpzM2NyZXQ=\r\n\r\n",
    );
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("damselfly_connected_clients"));
    assert!(!body.contains("s3cret"));
    let (status, _, _, _) = get(
        addr,
        b"GET /metrics HTTP/1.1\r\nAuthorization: Basic OnMzY3JldA==\r\n\r\n",
    );
    assert_eq!(status, "HTTP/1.1 200 OK");
    server.shutdown();
}

/// `latency_percentiles_usec_<cmd>:p50=<n.nnn>,...` lines of INFO latencystats.
fn latency_lines(c: &mut Client) -> Vec<String> {
    let text = match c.cmd(&["INFO", "latencystats"]) {
        damselfly_protocol::Reply::Bulk(b) => String::from_utf8(b).unwrap(),
        r => panic!("{r:?}"),
    };
    assert!(text.starts_with("# Latencystats\r\n"), "{text}");
    text.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The line's shape with the figures blanked out: `p50=#,p99=#`.
fn shape(line: &str) -> String {
    let (name, values) = line.split_once(':').unwrap();
    let parts: Vec<String> = values
        .split(',')
        .filter(|v| !v.is_empty())
        .map(|v| {
            let (p, n) = v.split_once('=').unwrap();
            let (int, frac) = n.split_once('.').unwrap();
            assert!(int.parse::<u64>().is_ok() && frac.len() == 3, "{line}");
            format!("{p}=#")
        })
        .collect();
    format!("{name}:{}", parts.join(","))
}

#[test]
fn info_latencystats_as_redis_prints_it() {
    let Some(redis) = start_redis() else {
        return;
    };
    let server = server(2);
    let ours: SocketAddr = server.addr();
    let theirs: SocketAddr = format!("127.0.0.1:{}", redis.port).parse().unwrap();
    let mut results = Vec::new();
    for addr in [ours, theirs] {
        let mut c = Client::connect(addr);
        let mut out = Vec::new();
        for args in [
            &["CONFIG", "GET", "latency-tracking"][..],
            &["CONFIG", "GET", "latency-tracking-info-percentiles"],
            &[
                "CONFIG",
                "SET",
                "latency-tracking-info-percentiles",
                "50 101",
            ],
            &["CONFIG", "SET", "latency-tracking-info-percentiles", "abc"],
            &["CONFIG", "SET", "latency-tracking", "maybe"],
            &[
                "CONFIG",
                "SET",
                "latency-tracking-info-percentiles",
                "0 100 99.99 50.5 1e1",
            ],
            &["CONFIG", "GET", "latency-tracking-info-percentiles"],
        ] {
            out.push(c.cmd_raw(args));
        }
        assert_eq!(c.cmd(&["CONFIG", "RESETSTAT"]), ok());
        c.cmd(&["SET", "a", "b"]);
        c.cmd(&["GET", "a"]);
        let mut lines: Vec<String> = latency_lines(&mut c).iter().map(|l| shape(l)).collect();
        lines.sort();
        out.push(lines.join("\n").into_bytes());
        // Empty list: the lines stay, with no figures.
        c.cmd(&["CONFIG", "SET", "latency-tracking-info-percentiles", ""]);
        let mut lines = latency_lines(&mut c);
        lines.sort();
        out.push(lines.join("\n").into_bytes());
        // Tracking off: nothing is printed.
        c.cmd(&["CONFIG", "SET", "latency-tracking", "no"]);
        out.push(latency_lines(&mut c).join("\n").into_bytes());
        assert!(!latency_lines(&mut c).iter().any(|l| l.contains("info")));
        results.push(out);
    }
    for (i, (a, b)) in results[0].iter().zip(&results[1]).enumerate() {
        assert_eq!(
            String::from_utf8_lossy(a),
            String::from_utf8_lossy(b),
            "step {i}"
        );
    }
    server.shutdown();
}

#[test]
fn latencystats_and_prometheus_read_one_histogram() {
    let server = server(1);
    let addr = server.addr();
    let mut c = Client::connect(addr);
    for _ in 0..20 {
        c.cmd(&["PING"]);
    }
    let (_, _, body, _) = get(addr, b"GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
    let count = sample(
        &body,
        "damselfly_command_latency_seconds_count{cmd=\"ping\"}",
    );
    assert_eq!(count, Some(20.0));
    let line = latency_lines(&mut c)
        .into_iter()
        .find(|l| l.starts_with("latency_percentiles_usec_ping:"))
        .unwrap();
    let p100: f64 = {
        c.cmd(&["CONFIG", "SET", "latency-tracking-info-percentiles", "100"]);
        let l = latency_lines(&mut c)
            .into_iter()
            .find(|l| l.starts_with("latency_percentiles_usec_ping:"))
            .unwrap();
        l.rsplit('=').next().unwrap().parse().unwrap()
    };
    assert!(
        line.contains("p50=") && line.contains(",p99=") && line.contains(",p99.9="),
        "{line}"
    );
    // The slowest PING (p100, µs) lies in the first bucket whose count reaches 20.
    let first_full = body
        .lines()
        .filter(|l| {
            l.starts_with("damselfly_command_latency_seconds_bucket{cmd=\"ping\",le=\"")
                && !l.contains("+Inf")
        })
        .find_map(|l| {
            let le: f64 = l.split("le=\"").nth(1)?.split('"').next()?.parse().ok()?;
            (l.rsplit(' ').next()?.parse::<f64>().ok()? >= 20.0).then_some(le)
        })
        .unwrap();
    assert!(
        p100 / 1e6 <= first_full + 1e-9 && p100 / 1e6 > first_full / 2.1,
        "{p100} {first_full}"
    );
    server.shutdown();
}

/// A `prometheus` process on a free port, stopped by PID.
struct Prometheus {
    child: Child,
    dir: std::path::PathBuf,
    port: u16,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Queries prometheus's HTTP API with a raw TCP client; the body (JSON).
fn prom_query(port: u16, query: &str) -> Option<String> {
    let mut enc = String::new();
    for b in query.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' {
            enc.push(b as char);
        } else {
            enc.push_str(&format!("%{b:02X}"));
        }
    }
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let req = format!(
        "GET /api/v1/query?query={enc} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    Some(text.split_once("\r\n\r\n")?.1.to_string())
}

/// The value of a single-sample instant vector (`"value":[<time>,"<v>"]`).
fn prom_value(port: u16, query: &str) -> Option<String> {
    let body = prom_query(port, query)?;
    let v = body.split("\"value\":[").nth(1)?;
    let v = v.split(',').nth(1)?;
    Some(
        v.trim_matches(|c| c == '"' || c == ']' || c == '}')
            .to_string(),
    )
}

#[test]
fn a_real_prometheus_scrapes_metrics() {
    if !require("prometheus", "prometheus") {
        return;
    }
    let server = server(2);
    let addr = server.addr();
    let mut c = Client::connect(addr);
    for _ in 0..7 {
        c.cmd(&["INCR", "scraped"]);
    }
    let dir = std::env::temp_dir().join(format!(
        "damselfly-prometheus-{}-{}",
        std::process::id(),
        addr.port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: damselfly\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
            addr.port()
        ),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let prom = Prometheus { child, dir, port };
    let deadline = Instant::now() + Duration::from_secs(60);
    let query = "damselfly_commands_total{cmd=\"incr\"}";
    loop {
        let up = prom_value(prom.port, "up{job=\"damselfly\"}");
        let incr = prom_value(prom.port, query);
        if up.as_deref() == Some("1") && incr.as_deref() == Some("7") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "prometheus never scraped: up={up:?} incr={incr:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // The histogram arrives as series Prometheus can compute with.
    let q = "histogram_quantile(0.5, damselfly_command_latency_seconds_bucket{cmd=\"incr\"})";
    let p50: f64 = prom_value(prom.port, q).unwrap().parse().unwrap();
    assert!(p50 > 0.0 && p50 < 1.0, "{p50}");
    drop(prom);
    server.shutdown();
}
