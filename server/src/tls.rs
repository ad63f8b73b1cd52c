//! TLS for the federation listener, with rustls.

use std::path::Path;
use std::sync::Arc;

use hanse_federation::client::tls::read_certificates;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;

/// A rustls server configuration from a PEM certificate chain and key.
pub fn server_config(cert: &Path, key: &Path) -> Result<ServerConfig, String> {
    let chain = read_certificates(cert).map_err(|e| format!("tls_cert: {e}"))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("tls_key: reading the private key {}: {e}", key.display()))?;
    ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|e| format!("the TLS certificate and key do not work together: {e}"))
}
