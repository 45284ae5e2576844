//! TLS for the `ssl` and `wss` services: the certificate chain and key from `SSL_CERTFILE` and
//! `SSL_KEYFILE` (PEM, ElectrumX's names), reloaded when the files change.
//!
//! [`TlsCerts`] holds the current rustls configuration. [`TlsCerts::watch`] checks the files'
//! modification stamps every [`RELOAD_INTERVAL`]; when either changed it loads both again and
//! new handshakes use the result. Sessions already established keep the keys they negotiated,
//! so nothing is dropped. A certificate that fails to load (half-written, key not matching,
//! garbage) is logged with the reason and the previous one stays in use; the next change of the
//! files is tried again.

use crate::config::{Service, ServiceProtocol};
use anyhow::{Context, Result, anyhow, bail};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};
use tokio_rustls::TlsAcceptor;

/// How often the certificate files are checked for changes.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(2);

/// The TLS configuration of every ssl/wss listener, shared, replaced when the files change.
pub struct TlsCerts {
    cert_path: PathBuf,
    key_path: PathBuf,
    state: Mutex<State>,
}

struct State {
    config: Arc<ServerConfig>,
    /// The files' stamps when last looked at (loaded or not).
    stamps: (Option<Stamp>, Option<Stamp>),
}

/// What tells that a file changed: modification time, size and (on Unix) inode, so that
/// replacing the file by a rename is seen even within one mtime tick.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Stamp {
        modified: m.modified().ok(),
        len: m.len(),
        inode,
    })
}

impl TlsCerts {
    /// The TLS configuration for `services`: `None` when none of them is ssl or wss (the
    /// certificate options are then ignored, as in ElectrumX). Errors name the option.
    pub fn for_services(
        services: &[Service],
        cert: Option<&Path>,
        key: Option<&Path>,
    ) -> Result<Option<Arc<TlsCerts>>> {
        let Some(needs) = services
            .iter()
            .find(|s| matches!(s.protocol, ServiceProtocol::Ssl | ServiceProtocol::Wss))
        else {
            return Ok(None);
        };
        let missing = |opt: &str, what: &str| {
            anyhow!(
                "{opt} is not set: SERVICES has {needs}, which needs {what}; set {opt} (and \
                 {}) or remove the ssl/wss services",
                if opt == "SSL_CERTFILE" {
                    "SSL_KEYFILE"
                } else {
                    "SSL_CERTFILE"
                }
            )
        };
        let cert = cert.ok_or_else(|| missing("SSL_CERTFILE", "a PEM certificate chain"))?;
        let key = key.ok_or_else(|| missing("SSL_KEYFILE", "the PEM private key"))?;
        Self::load(cert, key).map(Some)
    }

    /// Loads the certificate chain and key now.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<TlsCerts>> {
        let stamps = (stamp(cert), stamp(key));
        let config = server_config(cert, key)?;
        Ok(Arc::new(TlsCerts {
            cert_path: cert.to_path_buf(),
            key_path: key.to_path_buf(),
            state: Mutex::new(State {
                config: Arc::new(config),
                stamps,
            }),
        }))
    }

    /// An acceptor with the current certificate.
    pub fn acceptor(&self) -> TlsAcceptor {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        TlsAcceptor::from(state.config.clone())
    }

    /// Reloads the files if they changed since last looked at. Returns whether a new
    /// certificate is now in use.
    pub fn reload_if_changed(&self) -> bool {
        let stamps = (stamp(&self.cert_path), stamp(&self.key_path));
        {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if state.stamps == stamps {
                return false;
            }
            // Look at this version once: a failure is logged once, and the next change
            // (say, the key written after the certificate) is tried again.
            state.stamps = stamps;
        }
        match server_config(&self.cert_path, &self.key_path) {
            Ok(config) => {
                let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                state.config = Arc::new(config);
                tracing::info!(
                    "TLS certificate reloaded from {}; new connections use it",
                    self.cert_path.display()
                );
                true
            }
            Err(e) => {
                tracing::warn!(
                    "cannot reload the TLS certificate ({e:#}); still serving the previous one"
                );
                false
            }
        }
    }

    /// Checks the files every [`RELOAD_INTERVAL`], forever (run it as a task).
    pub async fn watch(self: Arc<Self>) {
        let mut tick = tokio::time::interval(RELOAD_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.reload_if_changed();
        }
    }
}

/// Reads both PEM files and builds a server configuration (ring provider, TLS 1.2 and 1.3).
fn server_config(cert: &Path, key: &Path) -> Result<ServerConfig> {
    let cert_pem = std::fs::read(cert)
        .with_context(|| format!("SSL_CERTFILE: cannot read {}", cert.display()))?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("SSL_CERTFILE: {} is not valid PEM: {e}", cert.display()))?;
    if chain.is_empty() {
        bail!(
            "SSL_CERTFILE: {} has no CERTIFICATE section (expected a PEM certificate chain)",
            cert.display()
        );
    }
    let key_pem = std::fs::read(key)
        .with_context(|| format!("SSL_KEYFILE: cannot read {}", key.display()))?;
    let key_der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        anyhow!(
            "SSL_KEYFILE: {} holds no usable PEM private key (PKCS#8, PKCS#1 or SEC1): {e}",
            key.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| {
            anyhow!(
                "SSL_CERTFILE {} with SSL_KEYFILE {}: {e}",
                cert.display(),
                key.display()
            )
        })
}
