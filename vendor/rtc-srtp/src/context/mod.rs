#[cfg(test)]
mod context_test;
#[cfg(test)]
mod srtcp_test;
#[cfg(test)]
mod srtp_test;

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};

use crypto::RTCCrypto;
use shared::replay_detector::*;

use crate::cipher::cipher_aead_aes_gcm::*;
use crate::cipher::cipher_aes_cm_hmac_sha1::*;
use crate::cipher::*;
use crate::option::*;
use crate::protection_profile::*;
use shared::error::{Error, Result};

/// SRTCP protection and unprotection.
pub mod srtcp;
/// SRTP protection and unprotection.
pub mod srtp;

const MAX_ROC: u32 = u32::MAX;
const SEQ_NUM_MEDIAN: u16 = 1 << 15;
const SEQ_NUM_MAX: u16 = u16::MAX;

/// Encrypt/Decrypt state for a single SRTP SSRC
#[derive(Default)]
pub(crate) struct SrtpSsrcState {
    ssrc: u32,
    index: u64,
    rollover_has_processed: bool,
    replay_detector: Option<Box<dyn ReplayDetector>>,
}

/// Encrypt/Decrypt state for a single SRTCP SSRC
#[derive(Default)]
pub(crate) struct SrtcpSsrcState {
    srtcp_index: usize,
    ssrc: u32,
    replay_detector: Option<Box<dyn ReplayDetector>>,
}

impl SrtpSsrcState {
    pub fn next_rollover_count(&self, sequence_number: u16) -> (u32, i32, bool) {
        let local_roc = (self.index >> 16) as u32;
        let local_seq = self.index as u16;

        let mut guess_roc = local_roc;

        let diff = if self.rollover_has_processed {
            let seq = (sequence_number as i32).wrapping_sub(local_seq as i32);
            // When local_roc is equal to 0, and entering seq-local_seq > SEQ_NUM_MEDIAN
            // judgment, it will cause guess_roc calculation error
            if self.index > SEQ_NUM_MEDIAN as _ {
                if local_seq < SEQ_NUM_MEDIAN {
                    if seq > SEQ_NUM_MEDIAN as i32 {
                        guess_roc = local_roc.wrapping_sub(1);
                        seq.wrapping_sub(SEQ_NUM_MAX as i32 + 1)
                    } else {
                        seq
                    }
                } else if local_seq - SEQ_NUM_MEDIAN > sequence_number {
                    guess_roc = local_roc.wrapping_add(1);
                    seq.wrapping_add(SEQ_NUM_MAX as i32 + 1)
                } else {
                    seq
                }
            } else {
                // local_roc is equal to 0
                seq
            }
        } else {
            0i32
        };

        (guess_roc, diff, (guess_roc == 0 && local_roc == MAX_ROC))
    }

    /// https://tools.ietf.org/html/rfc3550#appendix-A.1
    pub fn update_rollover_count(&mut self, sequence_number: u16, diff: i32) {
        if !self.rollover_has_processed {
            self.index |= sequence_number as u64;
            self.rollover_has_processed = true;
        } else {
            self.index = self.index.wrapping_add(diff as _);
        }
    }
}

/// mediaflow patch: the per-SSRC maps are looked up once or twice per packet; SipHash
/// was 2.3 % of a forwarding engine's CPU. One multiply by a per-context random key
/// instead. Keyed, though state is now made only for packets that authenticate (see
/// [`unprotect_with_state`]): a peer holding the keys still chooses its SSRCs, and the
/// key costs one XOR.
#[derive(Clone)]
pub(crate) struct SsrcHash(u64);

impl SsrcHash {
    fn new() -> SsrcHash {
        SsrcHash(RandomState::new().hash_one(0x5352_5450u32) | 1)
    }
}

impl BuildHasher for SsrcHash {
    type Hasher = SsrcHasher;
    fn build_hasher(&self) -> SsrcHasher {
        SsrcHasher(self.0)
    }
}

/// See [`SsrcHash`].
pub(crate) struct SsrcHasher(u64);

impl Hasher for SsrcHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn finish(&self) -> u64 {
        // The table indexes by the low bits: fold the well-mixed high ones in.
        self.0 ^ (self.0 >> 32)
    }
}

/// Context represents a SRTP cryptographic context
/// Context can only be used for one-way operations
/// it must either used ONLY for encryption or ONLY for decryption
pub struct Context {
    cipher: Box<dyn Cipher>,

    srtp_ssrc_states: HashMap<u32, SrtpSsrcState, SsrcHash>,
    srtcp_ssrc_states: HashMap<u32, SrtcpSsrcState, SsrcHash>,

    new_srtp_replay_detector: ContextOption,
    new_srtcp_replay_detector: ContextOption,
}

impl Context {
    /// Creates an SRTP context.
    ///
    /// The crypto implementation is supplied by the caller; this crate never resolves a default.
    /// Borrowed, not owned: it is only needed to build the keyed cipher/MAC objects below, which
    /// are what the context retains.
    pub fn new(
        master_key: &[u8],
        master_salt: &[u8],
        profile: ProtectionProfile,
        srtp_ctx_opt: Option<ContextOption>,
        srtcp_ctx_opt: Option<ContextOption>,
        crypto: &dyn RTCCrypto,
    ) -> Result<Context> {
        let key_len = profile.key_len();
        let salt_len = profile.salt_len();

        if master_key.len() != key_len {
            return Err(Error::SrtpMasterKeyLength(key_len, master_key.len()));
        } else if master_salt.len() != salt_len {
            return Err(Error::SrtpSaltLength(salt_len, master_salt.len()));
        }
        profile.ensure_crypto_supported(crypto)?;

        let cipher: Box<dyn Cipher> = match profile {
            ProtectionProfile::Aes128CmHmacSha1_32
            | ProtectionProfile::Aes128CmHmacSha1_80
            | ProtectionProfile::Aes256CmHmacSha1_80
            | ProtectionProfile::Aes256CmHmacSha1_32 => Box::new(CipherAesCmHmacSha1::new(
                profile,
                master_key,
                master_salt,
                crypto,
            )?),

            ProtectionProfile::AeadAes128Gcm | ProtectionProfile::AeadAes256Gcm => {
                // `CipherAeadAesGcm::new` selects AES-128 vs AES-256 from the
                // profile itself, so both GCM profiles share one arm.
                Box::new(CipherAeadAesGcm::new(
                    profile,
                    master_key,
                    master_salt,
                    crypto,
                )?)
            }
        };

        let srtp_ctx_opt = if let Some(ctx_opt) = srtp_ctx_opt {
            ctx_opt
        } else {
            srtp_no_replay_protection()
        };

        let srtcp_ctx_opt = if let Some(ctx_opt) = srtcp_ctx_opt {
            ctx_opt
        } else {
            srtcp_no_replay_protection()
        };

        Ok(Context {
            cipher,
            srtp_ssrc_states: HashMap::with_hasher(SsrcHash::new()),
            srtcp_ssrc_states: HashMap::with_hasher(SsrcHash::new()),
            new_srtp_replay_detector: srtp_ctx_opt,
            new_srtcp_replay_detector: srtcp_ctx_opt,
        })
    }

    fn get_srtp_ssrc_state(&mut self, ssrc: u32) -> &mut SrtpSsrcState {
        srtp_ssrc_state(
            &mut self.srtp_ssrc_states,
            &self.new_srtp_replay_detector,
            ssrc,
        )
    }

    fn get_srtcp_ssrc_state(&mut self, ssrc: u32) -> &mut SrtcpSsrcState {
        srtcp_ssrc_state(
            &mut self.srtcp_ssrc_states,
            &self.new_srtcp_replay_detector,
            ssrc,
        )
    }

    /// roc returns SRTP rollover counter value of specified SSRC.
    fn get_roc(&self, ssrc: u32) -> Option<u32> {
        self.srtp_ssrc_states
            .get(&ssrc)
            .map(|s| (s.index >> 16) as _)
    }

    /// set_roc sets SRTP rollover counter value of specified SSRC.
    fn set_roc(&mut self, ssrc: u32, roc: u32) {
        let state = self.get_srtp_ssrc_state(ssrc);
        state.index = (roc as u64) << 16;
        state.rollover_has_processed = false;
    }

    /// index returns SRTCP index value of specified SSRC.
    fn get_index(&self, ssrc: u32) -> Option<usize> {
        self.srtcp_ssrc_states.get(&ssrc).map(|s| s.srtcp_index)
    }

    /// set_index sets SRTCP index value of specified SSRC.
    fn set_index(&mut self, ssrc: u32, index: usize) {
        self.get_srtcp_ssrc_state(ssrc).srtcp_index = index % (MAX_SRTCP_INDEX + 1);
    }
}

/// Most SSRCs a context decrypts for (mediaflow patch). Only authenticated packets
/// make state, so only a peer holding the keys could reach this; past it a new SSRC's
/// packets are refused rather than held.
pub const MAX_REMOTE_SSRCS: usize = 1024;

/// A fresh SSRC's SRTP state. `or_insert_with`-style laziness so the replay detector
/// (boxed) is only built for an SSRC's first packet.
fn new_srtp_state(ssrc: u32, new_replay_detector: &ContextOption) -> SrtpSsrcState {
    SrtpSsrcState {
        ssrc,
        replay_detector: Some(new_replay_detector()),
        ..Default::default()
    }
}

/// A fresh SSRC's SRTCP state.
fn new_srtcp_state(ssrc: u32, new_replay_detector: &ContextOption) -> SrtcpSsrcState {
    SrtcpSsrcState {
        ssrc,
        replay_detector: Some(new_replay_detector()),
        ..Default::default()
    }
}

/// An SSRC's SRTP state for a packet we protect, made on its first packet (a free
/// function over the map, so a caller can hold it while it uses the cipher: one lookup
/// per packet — mediaflow patch).
fn srtp_ssrc_state<'a>(
    states: &'a mut HashMap<u32, SrtpSsrcState, SsrcHash>,
    new_replay_detector: &ContextOption,
    ssrc: u32,
) -> &'a mut SrtpSsrcState {
    states
        .entry(ssrc)
        .or_insert_with(|| new_srtp_state(ssrc, new_replay_detector))
}

/// An SSRC's SRTCP state for a compound we protect (see [`srtp_ssrc_state`]).
fn srtcp_ssrc_state<'a>(
    states: &'a mut HashMap<u32, SrtcpSsrcState, SsrcHash>,
    new_replay_detector: &ContextOption,
    ssrc: u32,
) -> &'a mut SrtcpSsrcState {
    states
        .entry(ssrc)
        .or_insert_with(|| new_srtcp_state(ssrc, new_replay_detector))
}

/// Unprotects with an SSRC's state (mediaflow patch): a state made for this packet is
/// kept only when `unprotect` succeeds, that is when the packet authenticated, so a
/// forged packet with a new SSRC leaves nothing behind (upstream made the state first,
/// and every random SSRC held memory until the context was dropped). One lookup for a
/// known SSRC, two for a new one's first packet.
fn unprotect_with_state<S, T>(
    states: &mut HashMap<u32, S, SsrcHash>,
    ssrc: u32,
    new_state: impl FnOnce() -> S,
    unprotect: impl FnOnce(&mut S) -> Result<T>,
) -> Result<T> {
    if let Some(state) = states.get_mut(&ssrc) {
        return unprotect(state);
    }
    if states.len() >= MAX_REMOTE_SSRCS {
        return Err(Error::OtherSrtpErr(format!(
            "SSRC {ssrc}: already {MAX_REMOTE_SSRCS} SSRCs"
        )));
    }
    let mut state = new_state();
    let plain = unprotect(&mut state)?;
    states.insert(ssrc, state);
    Ok(plain)
}
