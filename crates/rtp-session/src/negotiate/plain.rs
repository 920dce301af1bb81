//! Plain RTP offer/answer (Kurento's RtpEndpoint): RTP/AVP and RTP/AVPF, no ICE and no
//! DTLS. The `c=` line and the m= port say where media goes; RTCP goes to `a=rtcp`
//! (RFC 3605), else to the RTP port + 1 (RFC 3550 §11), or to the RTP port itself when
//! both sides have `a=rtcp-mux` (RFC 5761).
//!
//! The remote SDP goes through the same parser, token checks and limits as a WebRTC
//! one (`super::parse`); codecs are matched by the same rules (`answer_codecs`,
//! `answered_codecs`) and written by the same code (`codec_lines`).

use std::net::{IpAddr, SocketAddr};

use super::{
    answer_codecs, answered_codecs, answered_kind_is, attr_value, codec_lines, default_codecs,
    direction_attr, has_attr, invalid, kind_name, local_direction, media_kind, parse_checked,
    parse_u32, random_session_id, remote_direction, remote_pts, ssrc_info, NegotiatedCodec, RawSdp,
    RawSection, Section,
};
use crate::{Direction, MediaKind, OfferOptions, SessionError};

/// What we bring to a plain RTP negotiation.
pub(crate) struct PlainLocal {
    pub cname: String,
    pub audio_ssrc: u32,
    pub video_ssrc: u32,
    pub video_rtx_ssrc: u32,
    pub direction: Direction,
    /// Our `c=` address.
    pub address: IpAddr,
    /// (RTP, RTCP) ports of our audio and video sockets.
    pub audio_ports: (u16, u16),
    pub video_ports: (u16, u16),
    /// Offer RTP/AVPF (NACK, PLI, FIR, REMB) rather than RTP/AVP.
    pub avpf: bool,
    /// SDES-SRTP (RFC 4568): our AES_CM_128_HMAC_SHA1_80 master key and salt, base64.
    /// With it we offer and accept RTP/SAVP(F) only; without, RTP/AVP(F) only.
    pub crypto: Option<String>,
    /// `b=AS` on the m-lines we receive on.
    pub max_recv_kbps: crate::MaxRecvKbps,
}

/// The one SDES suite we carry.
pub(crate) const SDES_SUITE: &str = "AES_CM_128_HMAC_SHA1_80";
/// Its master key (16 bytes) and salt (14 bytes).
pub(crate) const SDES_KEY_LEN: usize = 30;

/// An accepted m-section and where its media goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PlainSection {
    pub section: Section,
    /// Where RTP goes.
    pub rtp: SocketAddr,
    /// Where RTCP goes (`rtp` with rtcp-mux).
    pub rtcp: SocketAddr,
    /// RTP/AVPF: feedback may be sent at once.
    pub avpf: bool,
    /// SDES-SRTP: the peer's master key and salt (what it sends is protected with).
    pub remote_key: Option<Vec<u8>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Plan {
    kind: MediaKind,
    send: bool,
    recv: bool,
    codecs: Vec<NegotiatedCodec>,
    avpf: bool,
    rtcp_mux: bool,
    mid: Option<String>,
    /// SDES-SRTP: the crypto tag, and the peer's key once known.
    crypto: Option<Sdes>,
}

/// An SDES crypto tag, and the peer's key once known.
type Sdes = (u32, Option<Vec<u8>>);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Slot {
    Media(Plan),
    /// Port 0. The tokens were validated by the parser.
    Rejected {
        kind: String,
        proto: String,
        fmt: String,
    },
}

/// The plain RTP offer/answer state machine.
pub(crate) struct PlainNegotiator {
    local: PlainLocal,
    session_id: u64,
    version: u64,
    pending: Option<Vec<Slot>>,
    /// Our last SDP, and its body without the o= line (to see whether it changed).
    last_local: Option<(String, String)>,
    last_remote: Option<String>,
}

/// (AVPF, SRTP) of a profile we carry.
fn plain_proto(proto: &str) -> Option<(bool, bool)> {
    match proto {
        "RTP/AVP" => Some((false, false)),
        "RTP/AVPF" => Some((true, false)),
        "RTP/SAVP" => Some((false, true)),
        "RTP/SAVPF" => Some((true, true)),
        _ => None,
    }
}

fn proto_name(avpf: bool, secure: bool) -> &'static str {
    match (avpf, secure) {
        (false, false) => "RTP/AVP",
        (true, false) => "RTP/AVPF",
        (false, true) => "RTP/SAVP",
        (true, true) => "RTP/SAVPF",
    }
}

/// The first `a=crypto:<tag> AES_CM_128_HMAC_SHA1_80 inline:<key>[|lifetime]` of a
/// section (a tag of `want` only, when given): its tag and the decoded key and salt.
/// Lines of other suites, or with an MKI or several keys, are skipped.
fn sdes_crypto(
    sec: &RawSection<'_>,
    want: Option<u32>,
) -> Result<Option<(u32, Vec<u8>)>, SessionError> {
    use base64::Engine as _;
    for a in sec.attrs.iter().filter(|a| a.name == "crypto") {
        let v = a.value.unwrap_or("");
        let mut words = v.split(' ');
        let (tag, suite, params) = (words.next(), words.next(), words.next());
        let Some(tag) = tag.and_then(parse_u32).filter(|t| *t <= 999_999_999) else {
            return Err(invalid(format!(
                "m-section {}: malformed a=crypto",
                sec.index
            )));
        };
        if suite != Some(SDES_SUITE) || want.is_some_and(|w| w != tag) {
            continue;
        }
        let Some(inline) = params.and_then(|p| p.strip_prefix("inline:")) else {
            continue;
        };
        let mut parts = inline.split('|');
        let key = parts.next().unwrap_or("");
        // A lifetime may follow; an MKI ("n:len") we do not carry.
        if parts.any(|p| p.contains(':')) || inline.contains(';') {
            continue;
        }
        let key = base64::engine::general_purpose::STANDARD
            .decode(key)
            .ok()
            .filter(|k| k.len() == SDES_KEY_LEN)
            .ok_or_else(|| {
                invalid(format!(
                    "m-section {}: a=crypto key is not {SDES_KEY_LEN} bytes of base64",
                    sec.index
                ))
            })?;
        return Ok(Some((tag, key)));
    }
    Ok(None)
}

/// Without AVPF there is no feedback (and so no RTX).
fn for_profile(mut codecs: Vec<NegotiatedCodec>, avpf: bool) -> Vec<NegotiatedCodec> {
    if !avpf {
        for c in &mut codecs {
            c.nack = false;
            c.pli = false;
            c.fir = false;
            c.remb = false;
            c.rtx_payload_type = None;
        }
    }
    codecs
}

/// `IN IP4 <address>` / `IN IP6 <address>`: unicast literal addresses only.
fn connection_address(value: Option<&str>) -> Result<IpAddr, SessionError> {
    let v = value.ok_or_else(|| invalid("no c= line for an m-section"))?;
    let mut words = v.split(' ');
    let (net, ty, addr) = (words.next(), words.next(), words.next().unwrap_or(""));
    if net != Some("IN") || words.next().is_some() {
        return Err(invalid(format!("malformed c= line {v:?}")));
    }
    if addr.contains('/') {
        return Err(invalid("multicast c= addresses are not supported"));
    }
    let ip: IpAddr = addr.parse().map_err(|_| {
        invalid(format!(
            "c= address {addr:?} is not an IP address (names are not resolved)"
        ))
    })?;
    match (ty, ip) {
        (Some("IP4"), IpAddr::V4(_)) | (Some("IP6"), IpAddr::V6(_)) => Ok(ip),
        _ => Err(invalid(format!("c= address type does not match {addr:?}"))),
    }
}

/// `a=rtcp:<port>[ IN IP4 <address>]` (RFC 3605).
fn rtcp_attr(sec: &RawSection<'_>, ip: IpAddr) -> Result<Option<SocketAddr>, SessionError> {
    let Some(v) = attr_value(&sec.attrs, "rtcp") else {
        return Ok(None);
    };
    let (port, rest) = match v.split_once(' ') {
        Some((p, r)) => (p, Some(r)),
        None => (v, None),
    };
    let port = parse_u32(port)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
        .ok_or_else(|| invalid(format!("m-section {}: malformed a=rtcp", sec.index)))?;
    let ip = match rest {
        Some(r) => connection_address(Some(r))?,
        None => ip,
    };
    Ok(Some(SocketAddr::new(ip, port)))
}

/// Where a section's RTP and RTCP go.
fn destinations(
    raw: &RawSdp<'_>,
    sec: &RawSection<'_>,
    mux: bool,
) -> Result<(SocketAddr, SocketAddr), SessionError> {
    let ip = connection_address(sec.connection.or(raw.connection))?;
    let rtp = SocketAddr::new(ip, sec.port);
    if mux {
        return Ok((rtp, rtp));
    }
    let rtcp = match rtcp_attr(sec, ip)? {
        Some(a) => a,
        None => {
            let port = sec.port.checked_add(1).ok_or_else(|| {
                invalid(format!(
                    "m-section {}: port 65535 leaves no RTCP port",
                    sec.index
                ))
            })?;
            SocketAddr::new(ip, port)
        }
    };
    Ok((rtp, rtcp))
}

impl PlainNegotiator {
    pub fn new(local: PlainLocal) -> PlainNegotiator {
        PlainNegotiator {
            local,
            session_id: random_session_id(),
            version: 0,
            pending: None,
            last_local: None,
            last_remote: None,
        }
    }

    /// Answers a remote offer: our SDP, and what was agreed.
    pub fn process_offer(
        &mut self,
        offer: &str,
    ) -> Result<(String, Vec<PlainSection>), SessionError> {
        if self.pending.is_some() {
            return Err(SessionError::WrongState(
                "process_offer: our own offer awaits its answer".to_string(),
            ));
        }
        let (raw, mids) = parse_checked(offer)?;
        let (local_send, local_recv) = local_direction(self.local.direction);
        let mut slots = Vec::with_capacity(raw.sections.len());
        let mut sections: Vec<PlainSection> = Vec::new();
        for (sec, mid) in raw.sections.iter().zip(&mids) {
            let taken = |k: MediaKind| sections.iter().any(|s| s.section.kind == k);
            let secure_wanted = self.local.crypto.is_some();
            let usable = media_kind(sec.kind)
                .filter(|k| !taken(*k) && sec.port != 0)
                .and_then(|k| plain_proto(sec.proto).map(|(avpf, secure)| (k, avpf, secure)))
                .map(|(k, avpf, secure)| (k, avpf, secure || has_attr(&sec.attrs, "crypto")))
                .filter(|(_, _, secure)| *secure == secure_wanted);
            let mut accepted = None;
            if let Some((kind, avpf, secure)) = usable {
                let codecs = for_profile(answer_codecs(kind, &remote_pts(sec)?), avpf);
                let crypto = if secure {
                    sdes_crypto(sec, None)?.map(|(tag, key)| Some((tag, Some(key))))
                } else {
                    Some(None)
                };
                if let (false, Some(crypto)) = (codecs.is_empty(), crypto) {
                    let mux = has_attr(&sec.attrs, "rtcp-mux");
                    let (rtp, rtcp) = destinations(&raw, sec, mux)?;
                    let (remote_send, remote_recv) = remote_direction(&raw.session, &sec.attrs);
                    let plan = Plan {
                        kind,
                        send: local_send && remote_recv,
                        recv: local_recv && remote_send,
                        codecs,
                        avpf,
                        rtcp_mux: mux,
                        mid: mid.map(str::to_string),
                        crypto,
                    };
                    sections.push(self.accepted(sec, &plan, rtp, rtcp)?);
                    accepted = Some(plan);
                }
            }
            slots.push(match accepted {
                Some(plan) => Slot::Media(plan),
                None => Slot::Rejected {
                    kind: sec.kind.to_string(),
                    proto: sec.proto.to_string(),
                    fmt: sec.fmts.first().map_or("0", |f| f).to_string(),
                },
            });
        }
        if sections.is_empty() {
            return Err(SessionError::NoCommonCodec);
        }
        self.last_remote = Some(offer.to_string());
        Ok((self.store_local(&slots), sections))
    }

    /// Our offer: an audio and a video m-line with all our codecs.
    #[cfg(test)]
    pub fn generate_offer(&mut self) -> String {
        self.generate_offer_with(OfferOptions::default())
    }

    /// Our offer, asking to receive only the kinds `options` name.
    pub fn generate_offer_with(&mut self, options: OfferOptions) -> String {
        let (send, recv) = local_direction(self.local.direction);
        let avpf = self.local.avpf;
        let secure = self.local.crypto.is_some();
        let slots: Vec<Slot> = [MediaKind::Audio, MediaKind::Video]
            .into_iter()
            .map(|kind| {
                Slot::Media(Plan {
                    kind,
                    send,
                    recv: recv && options.receives(kind),
                    codecs: for_profile(default_codecs(kind), avpf),
                    avpf,
                    rtcp_mux: true,
                    mid: None,
                    crypto: secure.then_some((1, None)),
                })
            })
            .collect();
        let sdp = self.store_local(&slots);
        self.pending = Some(slots);
        sdp
    }

    /// Applies the peer's answer to our pending offer.
    pub fn process_answer(&mut self, answer: &str) -> Result<Vec<PlainSection>, SessionError> {
        let Some(offer) = self.pending.as_ref() else {
            return Err(SessionError::WrongState(
                "process_answer: no offer of ours is pending".to_string(),
            ));
        };
        let (raw, _mids) = parse_checked(answer)?;
        if raw.sections.len() > offer.len() {
            return Err(invalid(format!(
                "the answer has {} m-sections, our offer had {}",
                raw.sections.len(),
                offer.len()
            )));
        }
        // A static description (ffmpeg's -sdp_file, a GStreamer pipeline's) serves as an
        // answer too: with fewer m-sections than our offer, each is matched to our
        // first unmatched one of its media, and ours left over are rejected.
        let positional = raw.sections.len() == offer.len();
        let mut used = vec![false; offer.len()];
        let mut sections = Vec::new();
        for (i, sec) in raw.sections.iter().enumerate() {
            let slot = if positional {
                Some(i)
            } else {
                offer.iter().enumerate().position(|(j, s)| {
                    !used[j] && matches!(s, Slot::Media(p) if Some(p.kind) == media_kind(sec.kind))
                })
            };
            let Some(j) = slot else {
                return Err(invalid(format!(
                    "m-section {}: no m-section of our offer has its media",
                    sec.index
                )));
            };
            used[j] = true;
            let Slot::Media(plan) = &offer[j] else {
                continue;
            };
            if let Some((agreed, rtp, rtcp)) = answered_plan(&raw, sec, plan)? {
                sections.push(self.accepted(sec, &agreed, rtp, rtcp)?);
            }
        }
        if sections.is_empty() {
            return Err(SessionError::NoCommonCodec);
        }
        self.pending = None;
        self.last_remote = Some(answer.to_string());
        Ok(sections)
    }

    fn accepted(
        &self,
        sec: &RawSection<'_>,
        plan: &Plan,
        rtp: SocketAddr,
        rtcp: SocketAddr,
    ) -> Result<PlainSection, SessionError> {
        let (remote_ssrcs, remote_rtx) = ssrc_info(sec)?;
        Ok(PlainSection {
            section: Section {
                mid: plan.mid.clone().unwrap_or_else(|| sec.index.to_string()),
                m_line_index: sec.index,
                kind: plan.kind,
                send: plan.send,
                recv: plan.recv,
                codecs: plan.codecs.clone(),
                remote_ssrcs,
                remote_rtx,
                mid_extension: None,
                playout_delay_extension: None,
            },
            rtp,
            rtcp,
            avpf: plan.avpf,
            remote_key: plan.crypto.as_ref().and_then(|(_, k)| k.clone()),
        })
    }

    /// Our side's parameters (the sockets are bound after the session is made).
    pub fn local_mut(&mut self) -> &mut PlainLocal {
        &mut self.local
    }

    /// Our last SDP.
    pub fn local_description(&self) -> Option<String> {
        self.last_local.as_ref().map(|(sdp, _)| sdp.clone())
    }

    /// The last remote SDP applied.
    pub fn remote_description(&self) -> Option<&str> {
        self.last_remote.as_deref()
    }

    /// Renders `slots` as our SDP; the o= version moves on only when it changed.
    fn store_local(&mut self, slots: &[Slot]) -> String {
        let l = &self.local;
        let ip_ver = if l.address.is_ipv4() { "IP4" } else { "IP6" };
        let mut body = vec![
            "s=-".to_string(),
            format!("c=IN {ip_ver} {}", l.address),
            "t=0 0".to_string(),
        ];
        for slot in slots {
            match slot {
                Slot::Media(p) => self.render_plan(p, &mut body),
                Slot::Rejected { kind, proto, fmt } => {
                    body.push(format!("m={kind} 0 {proto} {fmt}"));
                }
            }
        }
        let body = body.join("\r\n");
        if self.last_local.as_ref().is_none_or(|(_, b)| *b != body) {
            self.version += 1;
        }
        let sdp = format!(
            "v=0\r\no=- {} {} IN {ip_ver} {}\r\n{body}\r\n",
            self.session_id, self.version, l.address
        );
        self.last_local = Some((sdp.clone(), body));
        sdp
    }

    fn render_plan(&self, p: &Plan, out: &mut Vec<String>) {
        let l = &self.local;
        let (rtp, rtcp) = match p.kind {
            MediaKind::Audio => l.audio_ports,
            MediaKind::Video => l.video_ports,
        };
        let mut pts = Vec::new();
        for c in &p.codecs {
            pts.push(c.payload_type.to_string());
            if let Some(r) = c.rtx_payload_type {
                pts.push(r.to_string());
            }
        }
        let proto = proto_name(p.avpf, p.crypto.is_some());
        out.push(format!(
            "m={} {rtp} {proto} {}",
            kind_name(p.kind),
            pts.join(" ")
        ));
        out.extend(super::bandwidth_line(p.recv, l.max_recv_kbps.of(p.kind)));
        out.push(format!("a=rtcp:{rtcp}"));
        if p.rtcp_mux {
            out.push("a=rtcp-mux".to_string());
        }
        if let Some(mid) = &p.mid {
            out.push(format!("a=mid:{mid}"));
        }
        out.push(format!("a={}", direction_attr(p.send, p.recv)));
        if let (Some((tag, _)), Some(key)) = (&p.crypto, &l.crypto) {
            out.push(format!("a=crypto:{tag} {SDES_SUITE} inline:{key}"));
        }
        codec_lines(&p.codecs, out);
        if p.send {
            let ssrc = match p.kind {
                MediaKind::Audio => l.audio_ssrc,
                MediaKind::Video => l.video_ssrc,
            };
            if p.codecs.iter().any(|c| c.rtx_payload_type.is_some()) {
                out.push(format!("a=ssrc-group:FID {ssrc} {}", l.video_rtx_ssrc));
                out.push(format!("a=ssrc:{} cname:{}", l.video_rtx_ssrc, l.cname));
            }
            out.push(format!("a=ssrc:{ssrc} cname:{}", l.cname));
        }
    }
}

/// What the answer's section `sec` agreed to our `plan`, with the peer's RTP and RTCP
/// destinations; `None` when it rejected it (port 0, no codec kept).
fn answered_plan(
    raw: &RawSdp<'_>,
    sec: &RawSection<'_>,
    plan: &Plan,
) -> Result<Option<(Plan, SocketAddr, SocketAddr)>, SessionError> {
    answered_kind_is(sec, plan.kind)?;
    if sec.port == 0 {
        return Ok(None);
    }
    let Some((avpf, secure)) = plain_proto(sec.proto) else {
        return Err(invalid(format!(
            "m-section {}: the answer's profile is not RTP/AVP(F) or RTP/SAVP(F)",
            sec.index
        )));
    };
    // ffmpeg's -sdp_file writes a=crypto under RTP/AVP: the keys say SRTP.
    let secure = secure || has_attr(&sec.attrs, "crypto");
    let crypto = answered_crypto(sec, plan, secure)?;
    let pts = remote_pts(sec)?;
    let codecs = answered_codecs(plan.kind, &plan.codecs, &pts, sec.index)?;
    let codecs = for_profile(codecs, avpf && plan.avpf);
    if codecs.is_empty() {
        return Ok(None);
    }
    let mux = plan.rtcp_mux && has_attr(&sec.attrs, "rtcp-mux");
    let (rtp, rtcp) = destinations(raw, sec, mux)?;
    let (remote_send, remote_recv) = remote_direction(&raw.session, &sec.attrs);
    let agreed = Plan {
        send: plan.send && remote_recv,
        recv: plan.recv && remote_send,
        codecs,
        avpf: avpf && plan.avpf,
        crypto,
        ..plan.clone()
    };
    Ok(Some((agreed, rtp, rtcp)))
}

/// The SDES keys an answer's section gives for our offer's: both sides SRTP (the key
/// under our tag) or neither.
fn answered_crypto(
    sec: &RawSection<'_>,
    plan: &Plan,
    secure: bool,
) -> Result<Option<Sdes>, SessionError> {
    match (&plan.crypto, secure) {
        (None, false) => Ok(None),
        (Some((tag, _)), true) => {
            let (tag, key) = sdes_crypto(sec, Some(*tag))?.ok_or_else(|| {
                invalid(format!(
                    "m-section {}: no a=crypto {SDES_SUITE} with our tag {tag}",
                    sec.index
                ))
            })?;
            Ok(Some((tag, Some(key))))
        }
        _ => Err(invalid(format!(
            "m-section {}: the answer's profile {} does not match our offer's",
            sec.index, sec.proto
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> PlainLocal {
        PlainLocal {
            cname: "c".into(),
            audio_ssrc: 1,
            video_ssrc: 2,
            video_rtx_ssrc: 3,
            direction: Direction::SendRecv,
            address: "127.0.0.1".parse().unwrap(),
            audio_ports: (5000, 5001),
            video_ports: (5002, 5003),
            avpf: true,
            crypto: None,
            max_recv_kbps: crate::MaxRecvKbps::default(),
        }
    }

    /// What `ffmpeg -f rtp -sdp_file` writes for a VP8 stream.
    const FFMPEG: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=No Name\r\nc=IN IP4 127.0.0.1\r\n\
        t=0 0\r\na=tool:libavformat 59.27.100\r\nm=video 6000 RTP/AVP 96\r\n\
        a=rtpmap:96 VP8/90000\r\n";

    #[test]
    fn answers_an_ffmpeg_sdp() {
        let mut n = PlainNegotiator::new(local());
        let (answer, sections) = n.process_offer(FFMPEG).unwrap();
        assert_eq!(sections.len(), 1);
        let s = &sections[0];
        assert_eq!(s.rtp, "127.0.0.1:6000".parse::<SocketAddr>().unwrap());
        assert_eq!(s.rtcp, "127.0.0.1:6001".parse::<SocketAddr>().unwrap());
        assert!(!s.avpf);
        assert!(!s.section.codecs[0].nack);
        assert!(answer.contains("m=video 5002 RTP/AVP 96\r\n"), "{answer}");
        assert!(answer.contains("a=rtcp:5003\r\n"), "{answer}");
        assert!(!answer.contains("rtcp-fb"), "{answer}");
        assert!(answer.contains("c=IN IP4 127.0.0.1\r\n"), "{answer}");
    }

    #[test]
    fn offer_then_answer() {
        let mut n = PlainNegotiator::new(local());
        let offer = n.generate_offer();
        assert!(
            offer.contains("m=audio 5000 RTP/AVPF 111 0 8\r\n"),
            "{offer}"
        );
        assert!(offer.contains("a=rtcp-fb:96 nack pli"), "{offer}");
        let answer = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
            m=audio 0 RTP/AVP 0\r\nm=video 7000 RTP/AVPF 96\r\na=rtcp:7100\r\n\
            a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\na=recvonly\r\n";
        let sections = n.process_answer(answer).unwrap();
        assert_eq!(sections.len(), 1);
        let s = &sections[0];
        assert_eq!(s.rtcp, "10.0.0.1:7100".parse::<SocketAddr>().unwrap());
        assert!(s.section.send && !s.section.recv);
        assert!(s.section.codecs[0].nack && s.section.codecs[0].pli);
        assert!(!s.section.codecs[0].fir);
    }

    #[test]
    fn a_static_sdp_answers_by_media() {
        let mut n = PlainNegotiator::new(local());
        n.generate_offer();
        let sections = n.process_answer(FFMPEG).unwrap();
        assert_eq!(sections.len(), 1);
        assert_eq!(sections[0].section.kind, MediaKind::Video);
        assert_eq!(
            sections[0].rtp,
            "127.0.0.1:6000".parse::<SocketAddr>().unwrap()
        );
        let mut n = PlainNegotiator::new(local());
        n.generate_offer();
        let two_videos = format!("{FFMPEG}m=video 6002 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n");
        assert!(n.process_answer(&two_videos).is_err());
    }

    #[test]
    fn sdes_keys_are_exchanged() {
        let key = |k: u8| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode([k; SDES_KEY_LEN])
        };
        let secure = || PlainLocal {
            crypto: Some(key(1)),
            max_recv_kbps: crate::MaxRecvKbps::default(),
            ..local()
        };
        let mut a = PlainNegotiator::new(secure());
        let offer = a.generate_offer();
        assert!(offer.contains("m=video 5002 RTP/SAVPF "), "{offer}");
        assert!(
            offer.contains(&format!("a=crypto:1 {SDES_SUITE} inline:{}", key(1))),
            "{offer}"
        );
        let mut b = PlainNegotiator::new(PlainLocal {
            crypto: Some(key(2)),
            max_recv_kbps: crate::MaxRecvKbps::default(),
            ..local()
        });
        let (answer, sections) = b.process_offer(&offer).unwrap();
        assert_eq!(sections[0].remote_key, Some(vec![1; SDES_KEY_LEN]));
        assert!(answer.contains(&format!("inline:{}", key(2))), "{answer}");
        let sections = a.process_answer(&answer).unwrap();
        assert_eq!(sections[1].remote_key, Some(vec![2; SDES_KEY_LEN]));
        // Without keys, or with keys nobody can use, nothing is accepted.
        assert_eq!(
            PlainNegotiator::new(secure()).process_offer(FFMPEG),
            Err(SessionError::NoCommonCodec)
        );
        assert_eq!(
            PlainNegotiator::new(local())
                .process_offer(&offer)
                .map(|_| ()),
            Err(SessionError::NoCommonCodec)
        );
        let short = offer.replace(&key(1), "AAAA");
        assert!(matches!(
            PlainNegotiator::new(secure()).process_offer(&short),
            Err(SessionError::InvalidSdp(_))
        ));
        // ffmpeg's dialect: a=crypto under RTP/AVP.
        let ffmpeg = format!("{FFMPEG}a=crypto:1 {SDES_SUITE} inline:{}\r\n", key(3));
        let (_, sections) = PlainNegotiator::new(secure())
            .process_offer(&ffmpeg)
            .unwrap();
        assert_eq!(sections[0].remote_key, Some(vec![3; SDES_KEY_LEN]));
    }

    #[test]
    fn bad_connections_are_typed_errors() {
        for c in [
            "c=IN IP4 example.com",
            "c=IN IP4 224.0.0.1/127",
            "c=IN IP6 127.0.0.1",
            "c=XX IP4 127.0.0.1",
            "c=IN IP4 1.2.3.4 extra",
        ] {
            let sdp = FFMPEG.replace("c=IN IP4 127.0.0.1", c);
            let mut n = PlainNegotiator::new(local());
            assert!(
                matches!(n.process_offer(&sdp), Err(SessionError::InvalidSdp(_))),
                "{c}"
            );
        }
        let no_c = FFMPEG.replace("c=IN IP4 127.0.0.1\r\n", "");
        assert!(PlainNegotiator::new(local()).process_offer(&no_c).is_err());
        let two_c = FFMPEG.replace("t=0 0", "c=IN IP4 127.0.0.1\r\nt=0 0");
        assert!(PlainNegotiator::new(local()).process_offer(&two_c).is_err());
        let webrtc = FFMPEG.replace("RTP/AVP", "UDP/TLS/RTP/SAVPF");
        assert_eq!(
            PlainNegotiator::new(local()).process_offer(&webrtc),
            Err(SessionError::NoCommonCodec)
        );
        let max_port = FFMPEG.replace("6000", "65535");
        assert!(PlainNegotiator::new(local())
            .process_offer(&max_port)
            .is_err());
    }
}
