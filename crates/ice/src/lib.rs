//! mediaflow's network edge for ICE: which local addresses to offer as host candidates.
//!
//! Sockets belong to the runtime (`mediaflow-runtime`), which binds UDP sockets and
//! ICE-TCP listeners on these addresses for each endpoint; the protocol work (STUN
//! checks, candidate pairs) is sans-IO in `mediaflow-rtp`.
#![deny(missing_docs)]

use std::io;
use std::net::IpAddr;

/// Why the network edge could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// No local address matched the configuration.
    #[error("no usable local address (interfaces: {0})")]
    NoAddress(String),
    /// The system could not list the interfaces.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Which addresses and ports to use.
#[derive(Clone, Debug, Default)]
pub struct NetConfig {
    /// Interface names to gather on (Kurento's `networkInterfaces`); empty means all.
    pub interfaces: Vec<String>,
    /// Inclusive port range; `None` lets the system choose.
    pub port_range: Option<(u16, u16)>,
    /// Also offer IPv6 addresses.
    pub ipv6: bool,
}

/// Local addresses to offer as host candidates: IPv4 (and IPv6 when asked) of the named
/// interfaces, or of all interfaces. Loopback is offered too, last, since a peer on the
/// same host (or a test in a network namespace) may have nothing else.
pub fn host_addresses(config: &NetConfig) -> Result<Vec<IpAddr>, NetError> {
    let mut found: Vec<(bool, IpAddr)> = if_addrs::get_if_addrs()?
        .into_iter()
        .filter(|i| config.interfaces.is_empty() || config.interfaces.contains(&i.name))
        .map(|i| (i.is_loopback(), i.ip()))
        .filter(|(_, ip)| match ip {
            IpAddr::V4(_) => true,
            // Link-local IPv6 needs scope ids that candidates cannot carry.
            IpAddr::V6(v6) => config.ipv6 && (v6.segments()[0] & 0xffc0) != 0xfe80,
        })
        .collect();
    found.sort_by_key(|(loopback, ip)| (*loopback, ip.is_ipv6()));
    found.dedup_by_key(|(_, ip)| *ip);
    if found.is_empty() {
        return Err(NetError::NoAddress(if config.interfaces.is_empty() {
            "all".into()
        } else {
            config.interfaces.join(",")
        }));
    }
    Ok(found.into_iter().map(|(_, ip)| ip).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_interfaces_are_an_error() {
        let config = NetConfig {
            interfaces: vec!["no-such-if0".into()],
            ..NetConfig::default()
        };
        assert!(matches!(
            host_addresses(&config),
            Err(NetError::NoAddress(_))
        ));
    }
}
