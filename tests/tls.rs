//! RESP and memcached over TLS (`--tls-port`, `--memcached_tls`): certificates made at test
//! time (rcgen), a rustls client that forces versions and presents or withholds a client
//! certificate, redis-cli `--tls`, big records, long pipelines, and clients that never
//! finish a handshake.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;

use common::reference::free_port;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A certificate and its key, as DER and as PEM files.
struct Issued {
    der: Vec<u8>,
    key_der: Vec<u8>,
    cert_path: PathBuf,
    key_path: PathBuf,
}

/// A CA, a server certificate it signed, a client certificate it signed, and a client
/// certificate signed by another CA (which the server must refuse).
struct Pki {
    dir: PathBuf,
    ca: Issued,
    server: Issued,
    client: Issued,
    rogue: Issued,
}

fn ca(name: &str) -> (rcgen::Certificate, KeyPair) {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    (cert, key)
}

fn issue(
    dir: &std::path::Path,
    name: &str,
    sans: &[&str],
    usage: ExtendedKeyUsagePurpose,
    issuer: &(rcgen::Certificate, KeyPair),
) -> Issued {
    let mut p =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.extended_key_usages = vec![usage];
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &issuer.0, &issuer.1).unwrap();
    save(dir, name, cert.der().to_vec(), &cert.pem(), &key)
}

fn save(dir: &std::path::Path, name: &str, der: Vec<u8>, pem: &str, key: &KeyPair) -> Issued {
    let cert_path = dir.join(format!("{name}.crt"));
    let key_path = dir.join(format!("{name}.key"));
    std::fs::write(&cert_path, pem).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    Issued {
        der,
        key_der: key.serialize_der(),
        cert_path,
        key_path,
    }
}

impl Pki {
    fn new(test: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("damselfly-tls-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let root = ca("Damselfly test CA");
        let other = ca("Another CA");
        let server = issue(
            &dir,
            "server",
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
            &root,
        );
        let client = issue(
            &dir,
            "client",
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
            &root,
        );
        let rogue = issue(
            &dir,
            "rogue",
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
            &other,
        );
        let ca = save(&dir, "ca", root.0.der().to_vec(), &root.0.pem(), &root.1);
        Pki {
            dir,
            ca,
            server,
            client,
            rogue,
        }
    }

    fn path(p: &std::path::Path) -> &str {
        p.to_str().unwrap()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A server with TLS on a free port; `extra` are more parameters.
fn tls_server(pki: &Pki, auth: &str, extra: &[(&str, &str)]) -> damselfly::ServerHandle {
    let tls_port = free_port().to_string();
    // Port 0 with TLS on would mean TLS only: the plain port is picked free here.
    let mut b = damselfly::Server::builder()
        .bind("127.0.0.1")
        .port(free_port())
        .threads(2)
        .set("tls-port", &tls_port)
        .set("tls-cert-file", Pki::path(&pki.server.cert_path))
        .set("tls-key-file", Pki::path(&pki.server.key_path))
        .set("tls-ca-cert-file", Pki::path(&pki.ca.cert_path))
        .set("tls-auth-clients", auth);
    for (k, v) in extra {
        b = b.set(k, v);
    }
    b.start().expect("TLS server starts")
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// Connects with a rustls client trusting the test CA, speaking only `versions`, with the
/// client certificate `cert` (if any). The handshake runs at the first read or write.
fn connect(
    addr: SocketAddr,
    pki: &Pki,
    versions: &[&'static rustls::SupportedProtocolVersion],
    cert: Option<&Issued>,
) -> Tls {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(pki.ca.der.clone())).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let b = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    let config = match cert {
        Some(c) => b
            .with_client_auth_cert(
                vec![CertificateDer::from(c.der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(c.key_der.clone())),
            )
            .unwrap(),
        None => b.with_no_client_auth(),
    };
    let name = ServerName::try_from("localhost").unwrap();
    let conn = ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    StreamOwned::new(conn, tcp)
}

const BOTH: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

fn resp(args: &[&[u8]]) -> Vec<u8> {
    common::Client::encode(args)
}

/// Sends `request`, then reads exactly as many bytes as `expected` has and compares.
fn exchange(s: &mut Tls, request: &[u8], expected: &[u8]) {
    s.write_all(request).unwrap();
    s.flush().unwrap();
    let mut got = vec![0u8; expected.len()];
    s.read_exact(&mut got).unwrap();
    assert!(
        got == expected,
        "got {:?}",
        String::from_utf8_lossy(&got[..got.len().min(200)])
    );
}

/// True when the server refused the connection: its first exchange fails or ends.
fn refused(mut s: Tls) -> bool {
    if s.write_all(&resp(&[b"PING"])).is_err() || s.flush().is_err() {
        return true;
    }
    let mut buf = [0u8; 7];
    match s.read(&mut buf) {
        Ok(0) | Err(_) => true,
        Ok(_) => false,
    }
}

#[test]
fn resp_over_tls_1_2_and_1_3() {
    let pki = Pki::new("versions");
    let server = tls_server(&pki, "no", &[]);
    let addr = server.tls_addr().expect("a TLS listener");
    for (version, name) in [
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
    ] {
        let mut s = connect(addr, &pki, &[version], None);
        exchange(&mut s, &resp(&[b"PING"]), b"+PONG\r\n");
        assert_eq!(s.conn.protocol_version(), Some(name));
        exchange(&mut s, &resp(&[b"SET", b"k", b"v"]), b"+OK\r\n");
        exchange(&mut s, &resp(&[b"GET", b"k"]), b"$1\r\nv\r\n");
    }
    // The plain port serves on, with the same data.
    assert_ne!(server.addr(), addr);
    let mut plain = common::Client::connect(server.addr());
    assert_eq!(plain.cmd(&["GET", "k"]), common::bulk("v"));
    // CONFIG GET shows the TLS parameters as Redis does.
    let mut s = connect(addr, &pki, BOTH, None);
    let port = addr.port().to_string();
    let expected = format!("*2\r\n$8\r\ntls-port\r\n${}\r\n{port}\r\n", port.len());
    exchange(
        &mut s,
        &resp(&[b"CONFIG", b"GET", b"tls-port"]),
        expected.as_bytes(),
    );
    exchange(
        &mut s,
        &resp(&[b"CONFIG", b"GET", b"tls-auth-clients"]),
        b"*2\r\n$16\r\ntls-auth-clients\r\n$2\r\nno\r\n",
    );
    exchange(
        &mut s,
        &resp(&[b"CONFIG", b"GET", b"tls-protocols"]),
        b"*2\r\n$13\r\ntls-protocols\r\n$0\r\n\r\n",
    );
}

#[test]
fn tls_protocols_limits_the_versions() {
    let pki = Pki::new("protocols");
    let server = tls_server(&pki, "no", &[("tls-protocols", "TLSv1.3")]);
    let addr = server.tls_addr().unwrap();
    assert!(refused(connect(
        addr,
        &pki,
        &[&rustls::version::TLS12],
        None
    )));
    let mut s = connect(addr, &pki, &[&rustls::version::TLS13], None);
    exchange(&mut s, &resp(&[b"PING"]), b"+PONG\r\n");
    drop(server);
    let server = tls_server(&pki, "no", &[("tls-protocols", "TLSv1.2")]);
    let addr = server.tls_addr().unwrap();
    assert!(refused(connect(
        addr,
        &pki,
        &[&rustls::version::TLS13],
        None
    )));
    let mut s = connect(addr, &pki, &[&rustls::version::TLS12], None);
    exchange(&mut s, &resp(&[b"PING"]), b"+PONG\r\n");
}

#[test]
fn client_certificates_required_optional_refused() {
    let pki = Pki::new("auth");
    // yes (Redis's default): a certificate from the CA is required.
    let server = tls_server(&pki, "yes", &[]);
    let addr = server.tls_addr().unwrap();
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        assert!(refused(connect(addr, &pki, &[version], None)));
        assert!(refused(connect(addr, &pki, &[version], Some(&pki.rogue))));
        let mut s = connect(addr, &pki, &[version], Some(&pki.client));
        exchange(&mut s, &resp(&[b"PING"]), b"+PONG\r\n");
    }
    drop(server);
    // optional: none is fine, a bad one is not.
    let server = tls_server(&pki, "optional", &[]);
    let addr = server.tls_addr().unwrap();
    let mut s = connect(addr, &pki, BOTH, None);
    exchange(&mut s, &resp(&[b"PING"]), b"+PONG\r\n");
    assert!(refused(connect(addr, &pki, BOTH, Some(&pki.rogue))));
    let mut s = connect(addr, &pki, BOTH, Some(&pki.client));
    exchange(&mut s, &resp(&[b"PING"]), b"+PONG\r\n");
}

#[test]
fn big_values_and_long_pipelines_cross_records() {
    let pki = Pki::new("big");
    let server = tls_server(&pki, "no", &[]);
    let addr = server.tls_addr().unwrap();
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let mut s = connect(addr, &pki, &[version], None);
        // Values far past one 16 KiB record, both ways.
        for len in [16 * 1024 - 1, 16 * 1024 + 1, 100_000, 1_000_000] {
            let value: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            exchange(&mut s, &resp(&[b"SET", b"big", &value]), b"+OK\r\n");
            let mut expected = format!("${len}\r\n").into_bytes();
            expected.extend_from_slice(&value);
            expected.extend_from_slice(b"\r\n");
            exchange(&mut s, &resp(&[b"GET", b"big"]), &expected);
        }
        // 1000 commands in one write: requests and replies span many records.
        let mut request = Vec::new();
        let mut expected = Vec::new();
        for i in 0..1000 {
            let key = format!("key:{i}");
            let value = format!("value-{i}-{}", "x".repeat(i % 50));
            request.extend(resp(&[b"SET", key.as_bytes(), value.as_bytes()]));
            request.extend(resp(&[b"GET", key.as_bytes()]));
            expected.extend_from_slice(b"+OK\r\n");
            expected.extend(format!("${}\r\n{value}\r\n", value.len()).into_bytes());
        }
        exchange(&mut s, &request, &expected);
    }
}

#[test]
fn plain_and_stalled_clients_on_the_tls_port_are_closed_without_stalling_others() {
    let pki = Pki::new("bad");
    let server = tls_server(&pki, "no", &[]);
    let addr = server.tls_addr().unwrap();
    // A client that stops mid-handshake (it sent nothing) and one that sends garbage.
    let mut stalled = TcpStream::connect(addr).unwrap();
    let mut garbage = TcpStream::connect(addr).unwrap();
    garbage
        .write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 1, 2, 3])
        .unwrap();
    // A plain-text client gets closed.
    let mut plain = TcpStream::connect(addr).unwrap();
    plain.write_all(b"PING\r\n").unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 64];
    match plain.read(&mut buf) {
        Ok(n) => assert!(
            n == 0 || buf[0] == 0x15,
            "a plain client was answered: {buf:?}"
        ),
        Err(e) => assert_ne!(e.kind(), std::io::ErrorKind::WouldBlock, "not closed"),
    }
    // Meanwhile TLS clients are served at once.
    let started = Instant::now();
    let mut s = connect(addr, &pki, BOTH, None);
    exchange(&mut s, &resp(&[b"PING"]), b"+PONG\r\n");
    assert!(started.elapsed() < Duration::from_secs(3));
    garbage
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert!(closed_within(&mut garbage), "garbage handshake not closed");
    // The stalled client is dropped at the handshake timeout.
    stalled
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let started = Instant::now();
    assert!(closed_within(&mut stalled), "stalled handshake not closed");
    assert!(started.elapsed() < Duration::from_secs(15));
    exchange(&mut s, &resp(&[b"PING"]), b"+PONG\r\n");
}

/// Reads until the peer closes (an alert may come first); false on a read timeout.
fn closed_within(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn memcached_over_tls() {
    let pki = Pki::new("memcached");
    let mc_port = free_port().to_string();
    let server = tls_server(
        &pki,
        "no",
        &[("memcached-port", &mc_port), ("memcached-tls", "yes")],
    );
    let addr = server.memcached_addr().expect("a memcached listener");
    let mut s = connect(addr, &pki, BOTH, None);
    exchange(&mut s, b"set k 0 0 5\r\nhello\r\n", b"STORED\r\n");
    exchange(&mut s, b"get k\r\n", b"VALUE k 0 5\r\nhello\r\nEND\r\n");
    let value = "v".repeat(200_000);
    let set = format!("set big 7 0 {}\r\n{value}\r\n", value.len());
    exchange(&mut s, set.as_bytes(), b"STORED\r\n");
    let got = format!("VALUE big 7 {}\r\n{value}\r\nEND\r\n", value.len());
    exchange(&mut s, b"get big\r\n", got.as_bytes());
    // The memcached port speaks TLS only: a plain client is closed.
    let mut plain = TcpStream::connect(addr).unwrap();
    plain.write_all(b"version\r\n").unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert!(closed_within(&mut plain));
}

#[test]
fn tls_only_with_port_zero() {
    let pki = Pki::new("only");
    let tls_port = free_port();
    let server = damselfly::Server::builder()
        .bind("127.0.0.1")
        .port(0)
        .threads(1)
        .set("tls-port", &tls_port.to_string())
        .set("tls-cert-file", Pki::path(&pki.server.cert_path))
        .set("tls-key-file", Pki::path(&pki.server.key_path))
        .set("tls-auth-clients", "no")
        .start()
        .unwrap();
    assert_eq!(server.addr().port(), tls_port);
    assert_eq!(server.tls_addr(), Some(server.addr()));
    let mut s = connect(server.addr(), &pki, BOTH, None);
    exchange(&mut s, &resp(&[b"PING"]), b"+PONG\r\n");
}

#[test]
fn bad_tls_settings_stop_the_start() {
    let pki = Pki::new("settings");
    let start = |extra: &[(&str, &str)]| {
        let mut b = damselfly::Server::builder()
            .bind("127.0.0.1")
            .port(0)
            .threads(1)
            .set("tls-port", &free_port().to_string());
        for (k, v) in extra {
            b = b.set(k, v);
        }
        b.start().err().map(|e| e.to_string())
    };
    let cert = Pki::path(&pki.server.cert_path);
    let key = Pki::path(&pki.server.key_path);
    let e = start(&[]).expect("no certificate");
    assert!(e.contains("tls-cert-file"), "{e}");
    // Redis's default tls-auth-clients yes needs a CA to check client certificates with.
    let e = start(&[("tls-cert-file", cert), ("tls-key-file", key)]).expect("no CA");
    assert!(e.contains("tls-ca-cert-file"), "{e}");
    let e = start(&[
        ("tls-cert-file", cert),
        ("tls-key-file", key),
        ("tls-auth-clients", "no"),
        ("tls-protocols", "TLSv1.1"),
    ])
    .expect("an old protocol");
    assert!(e.contains("TLSv1.1"), "{e}");
    let e = start(&[
        ("tls-cert-file", cert),
        ("tls-key-file", cert),
        ("tls-auth-clients", "no"),
    ])
    .expect("a certificate as the key");
    assert!(e.contains("tls-key-file"), "{e}");
    // The CA may be a directory of PEM files.
    let dir = pki.dir.join("cas");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&pki.ca.cert_path, dir.join("ca.pem")).unwrap();
    let ok = start(&[
        ("tls-cert-file", cert),
        ("tls-key-file", key),
        ("tls-ca-cert-dir", dir.to_str().unwrap()),
    ]);
    assert_eq!(ok, None);
}

/// redis-cli from Debian's redis-tools, with `--tls`.
#[test]
fn redis_cli_connects_with_tls() {
    if Command::new("redis-cli").arg("--version").output().is_err() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("redis-cli is missing and CI=true: .ci/run must install redis-tools");
        }
        eprintln!("redis-cli not installed: skipping");
        return;
    }
    let pki = Pki::new("cli");
    let server = tls_server(&pki, "yes", &[]);
    let port = server.tls_addr().unwrap().port().to_string();
    let cli = |args: &[&str]| {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &port, "--tls", "--cacert"])
            .arg(&pki.ca.cert_path)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
    };
    let cert = Pki::path(&pki.client.cert_path);
    let key = Pki::path(&pki.client.key_path);
    assert_eq!(
        cli(&["--cert", cert, "--key", key, "SET", "a", "1"]).trim(),
        "OK"
    );
    assert_eq!(cli(&["--cert", cert, "--key", key, "GET", "a"]).trim(), "1");
    // Without a client certificate the server refuses it.
    assert_ne!(cli(&["GET", "a"]).trim(), "1");
}

#[test]
fn pubsub_and_blocking_commands_over_tls() {
    let pki = Pki::new("pubsub");
    let server = tls_server(&pki, "no", &[]);
    let addr = server.tls_addr().unwrap();
    let mut sub = connect(addr, &pki, BOTH, None);
    exchange(
        &mut sub,
        &resp(&[b"SUBSCRIBE", b"news"]),
        b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n",
    );
    // Messages reach a TLS subscriber through its push writer, big ones too.
    let mut plain = common::Client::connect(server.addr());
    let big = "m".repeat(70_000);
    for message in ["hello", big.as_str()] {
        assert_eq!(plain.cmd(&["PUBLISH", "news", message]), common::int(1));
        let expected = format!(
            "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n${}\r\n{message}\r\n",
            message.len()
        );
        let mut got = vec![0u8; expected.len()];
        sub.read_exact(&mut got).unwrap();
        assert!(got == expected.as_bytes());
    }
    // A blocked TLS client sends its earlier replies, parks, and is served.
    let mut blocked = connect(addr, &pki, BOTH, None);
    let mut request = resp(&[b"PING"]);
    request.extend(resp(&[b"BLPOP", b"queue", b"5"]));
    exchange(&mut blocked, &request, b"+PONG\r\n");
    assert_eq!(plain.cmd(&["RPUSH", "queue", "job"]), common::int(1));
    let expected = b"*2\r\n$5\r\nqueue\r\n$3\r\njob\r\n";
    let mut got = vec![0u8; expected.len()];
    blocked.read_exact(&mut got).unwrap();
    assert_eq!(&got[..], expected);
}

#[test]
fn metrics_over_tls() {
    let pki = Pki::new("metrics");
    let server = tls_server(&pki, "no", &[]);
    let addr = server.tls_addr().expect("a TLS listener");
    let mut s = connect(addr, &pki, BOTH, None);
    exchange(&mut s, &resp(&[b"SET", b"k", b"v"]), b"+OK\r\n");
    // The first line decides per connection: a fresh one asks over HTTP.
    let mut s = connect(addr, &pki, BOTH, None);
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    s.flush().unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let body = loop {
        let n = s.read(&mut chunk).expect("read");
        assert!(n > 0, "closed before the response ended");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .expect("Content-Length")
            .parse()
            .unwrap();
        if body.len() >= len {
            assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
            break body.to_string();
        }
    };
    assert!(
        body.contains("damselfly_commands_total{cmd=\"set\"} 1\n"),
        "{body}"
    );
}

/// CONFIG SET of the TLS parameters at run time, as redis-server 7.0 answers them: TLS turned
/// on, moved to another port and off again; settings reloaded for new clients while
/// established ones keep their session; bad settings and busy ports refused with Redis's
/// errors, changing nothing.
#[test]
fn config_set_turns_tls_on_moves_it_and_reloads_its_settings() {
    use common::{err, ok, Client};
    let pki = Pki::new("runtime");
    let server = common::server(2);
    let mut c = Client::connect(server.addr());
    let set = |c: &mut Client, pairs: &[&str]| {
        let mut args = vec!["config", "set"];
        args.extend_from_slice(pairs);
        c.cmd(&args)
    };
    let refused_with = |param: &str, reason: &str| {
        err(&format!(
            "ERR CONFIG SET failed (possibly related to argument '{param}') - {reason}"
        ))
    };
    let no_tls = "Unable to update TLS configuration. Check server logs.";
    let no_port = "Unable to listen on this port. Check server logs.";
    let first = free_port();
    let addr = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    // No certificate yet: refused, and no listener.
    assert_eq!(
        set(&mut c, &["tls-port", &first.to_string()]),
        refused_with("tls-port", no_tls)
    );
    assert!(TcpStream::connect(addr(first)).is_err());
    // TLS off: a certificate that does not exist is only stored, as in Redis.
    assert_eq!(set(&mut c, &["tls-cert-file", "/nonexistent.pem"]), ok());
    let (cert, key) = (
        Pki::path(&pki.server.cert_path),
        Pki::path(&pki.server.key_path),
    );
    let first_s = first.to_string();
    let on = [
        "tls-cert-file",
        cert,
        "tls-key-file",
        key,
        "tls-auth-clients",
        "no",
        "tls-port",
        &first_s,
    ];
    assert_eq!(set(&mut c, &on), ok());
    let mut established = connect(addr(first), &pki, BOTH, None);
    exchange(&mut established, &resp(&[b"PING"]), b"+PONG\r\n");

    // Moved: the new port serves, the old one is closed, the established session goes on.
    let second = free_port();
    assert_eq!(set(&mut c, &["tls-port", &second.to_string()]), ok());
    let mut s = connect(addr(second), &pki, BOTH, None);
    exchange(&mut s, &resp(&[b"SET", b"k", b"v"]), b"+OK\r\n");
    assert!(TcpStream::connect(addr(first)).is_err());
    exchange(&mut established, &resp(&[b"GET", b"k"]), b"$1\r\nv\r\n");

    // Bad settings and a busy port change nothing.
    assert_eq!(
        set(&mut c, &["tls-cert-file", "/nonexistent.pem"]),
        refused_with("tls-cert-file", no_tls)
    );
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port().to_string();
    assert_eq!(
        set(&mut c, &["tls-port", &busy_port]),
        refused_with("tls-port", no_port)
    );
    assert_eq!(
        c.cmd(&["config", "get", "tls-cert-file"]),
        common::arr(vec![common::bulk("tls-cert-file"), common::bulk(cert)])
    );
    exchange(
        &mut connect(addr(second), &pki, BOTH, None),
        &resp(&[b"PING"]),
        b"+PONG\r\n",
    );

    // Client certificates required from now on: new clients need one, the old session stays.
    let ca = Pki::path(&pki.ca.cert_path);
    assert_eq!(
        set(&mut c, &["tls-ca-cert-file", ca, "tls-auth-clients", "yes"]),
        ok()
    );
    assert!(refused(connect(addr(second), &pki, BOTH, None)));
    let mut with_cert = connect(addr(second), &pki, BOTH, Some(&pki.client));
    exchange(&mut with_cert, &resp(&[b"PING"]), b"+PONG\r\n");
    exchange(&mut s, &resp(&[b"PING"]), b"+PONG\r\n");

    // Port 0 closes the listener.
    assert_eq!(set(&mut c, &["tls-port", "0"]), ok());
    assert!(TcpStream::connect(addr(second)).is_err());
    assert_eq!(c.cmd(&["ping"]), common::simple("PONG"));
}
