//! SUT: the raw limit loop. No ICE, no DTLS, no RTCP: batched receive, SRTP decrypt and
//! encrypt with rtc-srtp (pre-keyed with fixed keys, one context pair per source
//! address), batched send. What is left when all WebRTC logic is taken away.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, Result};
use rtc_srtp::context::Context;
use rtc_srtp::crypto::RTCCryptoProvider;
use rtc_srtp::protection_profile::ProtectionProfile;

use crate::common::{Request, Response, RAW_KEY_DOWN, RAW_KEY_UP, RAW_SALT_DOWN, RAW_SALT_UP};
use crate::serve::Echo;
use crate::udp::SendBatch;

/// The contexts of one generator session: decrypt what it sends, encrypt the echo.
struct Pair {
    inbound: Context,
    outbound: Context,
}

pub struct RawEcho {
    local: SocketAddr,
    fd: RawFd,
    provider: Arc<dyn RTCCryptoProvider>,
    pairs: HashMap<SocketAddr, Pair>,
    pub failures: u64,
}

/// Both ends use AEAD_AES_128_GCM, which is what the WebRTC SUTs negotiate with the
/// generator's str0m clients too.
pub const PROFILE: ProtectionProfile = ProtectionProfile::AeadAes128Gcm;

pub fn context(provider: &dyn RTCCryptoProvider, key: &[u8], salt: &[u8]) -> Result<Context> {
    Context::new(key, salt, PROFILE, None, None, provider.crypto())
        .map_err(|e| anyhow!("SRTP context: {e}"))
}

impl RawEcho {
    pub fn new(socket: &UdpSocket) -> Result<RawEcho> {
        Ok(RawEcho {
            local: socket.local_addr()?,
            fd: socket.as_raw_fd(),
            provider: rtc_srtp::crypto::default_provider()
                .map_err(|e| anyhow!("crypto provider: {e}"))?,
            pairs: HashMap::new(),
            failures: 0,
        })
    }

    fn pair(&mut self, source: SocketAddr) -> Option<&mut Pair> {
        if !self.pairs.contains_key(&source) {
            let p = &*self.provider;
            let pair = Pair {
                inbound: context(p, &RAW_KEY_UP, &RAW_SALT_UP).ok()?,
                outbound: context(p, &RAW_KEY_DOWN, &RAW_SALT_DOWN).ok()?,
            };
            self.pairs.insert(source, pair);
        }
        self.pairs.get_mut(&source)
    }
}

impl Echo for RawEcho {
    fn open(&mut self, req: &Request, _now: Instant) -> Response {
        // Nothing to negotiate: the contexts are made on the first packet from an address.
        Response {
            id: req.id,
            addr: Some(self.local.to_string()),
            ..Default::default()
        }
    }

    fn datagram(&mut self, _now: Instant, source: SocketAddr, data: &[u8], out: &mut SendBatch) {
        let fd = self.fd;
        let Some(pair) = self.pair(source) else {
            self.failures += 1;
            return;
        };
        let Ok(plain) = pair.inbound.decrypt_rtp(data) else {
            self.failures += 1;
            return;
        };
        let Ok(sealed) = pair.outbound.encrypt_rtp(&plain) else {
            self.failures += 1;
            return;
        };
        out.push(fd, source, &sealed);
    }

    fn timeouts(&mut self, _now: Instant, _out: &mut SendBatch) {}

    fn next_timeout(&self) -> Option<Instant> {
        None
    }
}
