//! The `tls-*` parameters as one rustls `ServerConfig`, built once at start and shared by
//! every TLS connection of both listeners.

use crate::config::Config;
use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use std::io;
use std::path::Path;
use std::sync::Arc;

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// The server config when a TLS listener is on (`tls-port` set, or `memcached-tls yes` with a
/// memcached port); None when nothing serves TLS. Errors name the parameter at fault.
pub fn server_config(config: &Config) -> io::Result<Option<Arc<ServerConfig>>> {
    with_values(&|name| config.get(name).unwrap_or_default())
}

/// As [`server_config`], with each parameter's value from `get` (CONFIG SET checks the values
/// it is about to set before any of them is).
pub fn with_values(get: &dyn Fn(&str) -> String) -> io::Result<Option<Arc<ServerConfig>>> {
    let memcached =
        get("memcached-tls") == "yes" && !matches!(get("memcached-port").as_str(), "" | "0");
    if matches!(get("tls-port").as_str(), "" | "0") && !memcached {
        return Ok(None);
    }
    build(
        &get("tls-cert-file"),
        &get("tls-key-file"),
        &get("tls-ca-cert-file"),
        &get("tls-ca-cert-dir"),
        &get("tls-auth-clients"),
        &get("tls-protocols"),
    )
    .map(Some)
}

/// The parameters the TLS settings are built from: CONFIG SET of any rebuilds them.
pub const PARAMS: &[&str] = &[
    "tls-port",
    "tls-cert-file",
    "tls-key-file",
    "tls-ca-cert-file",
    "tls-ca-cert-dir",
    "tls-auth-clients",
    "tls-protocols",
];

fn build(
    cert_file: &str,
    key_file: &str,
    ca_file: &str,
    ca_dir: &str,
    auth_clients: &str,
    protocols: &str,
) -> io::Result<Arc<ServerConfig>> {
    if cert_file.is_empty() || key_file.is_empty() {
        return Err(invalid(
            "TLS needs tls-cert-file and tls-key-file (PEM certificate chain and private key)"
                .into(),
        ));
    }
    let versions = protocol_versions(protocols)?;
    let provider = Arc::new(ring::default_provider());
    let certs = load_certs(Path::new(cert_file), "tls-cert-file")?;
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| invalid(format!("tls-key-file {key_file}: {e}")))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| invalid(format!("tls-protocols: {e}")))?;
    let builder = match auth_clients {
        "no" => builder.with_no_client_auth(),
        mode => {
            let roots = load_roots(ca_file, ca_dir)?;
            if roots.is_empty() {
                return Err(invalid(format!(
                    "tls-auth-clients {mode} needs tls-ca-cert-file or tls-ca-cert-dir (the CA client certificates are checked against)"
                )));
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if mode == "optional" {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier
                .build()
                .map_err(|e| invalid(format!("tls-ca-cert-file: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| invalid(format!("tls-cert-file/tls-key-file: {e}")))?;
    Ok(Arc::new(config))
}

/// `tls-protocols`: Redis's words (`TLSv1.2 TLSv1.3`, any case); empty serves both.
fn protocol_versions(text: &str) -> io::Result<Vec<&'static SupportedProtocolVersion>> {
    let mut versions = Vec::new();
    for word in text.split_whitespace() {
        let v = match word.to_ascii_lowercase().as_str() {
            "tlsv1.2" => &rustls::version::TLS12,
            "tlsv1.3" => &rustls::version::TLS13,
            "tlsv1" | "tlsv1.1" => {
                return Err(invalid(format!(
                    "tls-protocols: {word} is not served (only TLSv1.2 and TLSv1.3 are)"
                )))
            }
            _ => return Err(invalid(format!("tls-protocols: invalid protocol '{word}'"))),
        };
        if !versions.contains(&v) {
            versions.push(v);
        }
    }
    if versions.is_empty() {
        versions = vec![&rustls::version::TLS12, &rustls::version::TLS13];
    }
    Ok(versions)
}

fn load_certs(path: &Path, param: &str) -> io::Result<Vec<CertificateDer<'static>>> {
    let bad =
        |e: rustls::pki_types::pem::Error| invalid(format!("{param} {}: {e}", path.display()));
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(bad)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad)?;
    if certs.is_empty() {
        return Err(invalid(format!(
            "{param} {}: no PEM certificate in it",
            path.display()
        )));
    }
    Ok(certs)
}

/// The CA certificates of `tls-ca-cert-file` and of every file in `tls-ca-cert-dir` (files
/// that hold no certificate, such as hash links' targets already read, are skipped).
fn load_roots(ca_file: &str, ca_dir: &str) -> io::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    let mut add = |certs: Vec<CertificateDer<'static>>, from: &Path| -> io::Result<()> {
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| invalid(format!("CA certificate in {}: {e}", from.display())))?;
        }
        Ok(())
    };
    if !ca_file.is_empty() {
        let path = Path::new(ca_file);
        add(load_certs(path, "tls-ca-cert-file")?, path)?;
    }
    if !ca_dir.is_empty() {
        let entries = std::fs::read_dir(ca_dir)
            .map_err(|e| invalid(format!("tls-ca-cert-dir {ca_dir}: {e}")))?;
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        paths.sort();
        for path in paths.iter().filter(|p| p.is_file()) {
            if let Ok(certs) = load_certs(path, "tls-ca-cert-dir") {
                add(certs, path)?;
            }
        }
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_parse_as_redis_words() {
        assert_eq!(protocol_versions("").unwrap().len(), 2);
        let only13 = protocol_versions("TLSv1.3").unwrap();
        assert_eq!(only13, vec![&rustls::version::TLS13]);
        assert_eq!(protocol_versions("tlsv1.2  TLSv1.2").unwrap().len(), 1);
        assert!(protocol_versions("TLSv1.1").is_err());
        assert!(protocol_versions("SSLv3").is_err());
    }

    #[test]
    fn missing_files_are_named() {
        let e = build("", "", "", "", "no", "").unwrap_err().to_string();
        assert!(e.contains("tls-cert-file"), "{e}");
        let e = build("/nonexistent.pem", "/k.pem", "", "", "no", "")
            .unwrap_err()
            .to_string();
        assert!(e.contains("tls-cert-file /nonexistent.pem"), "{e}");
    }
}
