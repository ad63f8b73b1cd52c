//! Which certificates other servers must present: the spec requires one
//! signed by a known CA and leaves the choice of CAs to the requesting
//! server, "strongly encouraged to rely on the operating system's
//! judgement". So the trusted roots are the system's (read with
//! rustls-native-certs, which an operator updates with the OS, unlike a
//! bundle compiled into the binary), plus the operator's own CAs for
//! private federations and test networks. Verification cannot be turned
//! off: a server that does not prove its name could impersonate any other.

use std::path::Path;
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// The PEM certificates in `path`, in order. Fails, saying so, when the
/// file cannot be read or holds none.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect())
        .map_err(|e| format!("reading the certificates in {}: {e}", path.display()))?;
    if certificates.is_empty() {
        return Err(format!(
            "{} holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")",
            path.display()
        ));
    }
    Ok(certificates)
}

/// The TLS configuration of outgoing federation requests: the system's
/// CAs, and those in `ca_file` too when given.
pub(crate) fn client_config(ca_file: Option<&Path>) -> Result<ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    let system = rustls_native_certs::load_native_certs();
    for error in &system.errors {
        tracing::warn!(%error, "a system CA certificate could not be read");
    }
    let (added, _unusable) = roots.add_parsable_certificates(system.certs);
    if let Some(path) = ca_file {
        for (i, certificate) in read_certificates(path)
            .map_err(|e| format!("federation.ca_file: {e}"))?
            .into_iter()
            .enumerate()
        {
            roots.add(certificate).map_err(|e| {
                format!(
                    "federation.ca_file: certificate {} in {} is not a usable CA certificate: {e}",
                    i + 1,
                    path.display()
                )
            })?;
        }
    }
    if added == 0 {
        tracing::warn!(
            "no CA certificates found on this system: federation will trust only \
             federation.ca_file; install the system's CA bundle (Debian/Ubuntu: \
             ca-certificates) to federate with public servers"
        );
    }
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
        .map_err(|e| format!("setting up TLS for federation: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_certificates_is_refused_with_its_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing.pem");
        let error = read_certificates(&missing).expect_err("missing file");
        assert!(error.contains("missing.pem"), "{error}");

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let error = client_config(Some(&empty)).expect_err("no certificate");
        assert!(
            error.contains("federation.ca_file") && error.contains("no PEM certificate"),
            "{error}"
        );
    }
}
