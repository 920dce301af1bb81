//! RecorderEndpoint, PlayerEndpoint and RtpEndpoint through the C ABI, the SDP calls
//! every SdpEndpoint (WebRtcEndpoint, RtpEndpoint) shares, and a WebRtcEndpoint's data
//! channels.

use std::ffi::c_char;
use std::time::Duration;

use mediaflow::{
    CryptoSuite, MediaProfile, PlayerEndpoint, RecorderEndpoint, RtpEndpoint, WebRtcEndpoint,
};

use super::*;

/// Kurento's `MediaProfileSpecType`: a recording's container and the media it keeps.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum mf_media_profile {
    /// WebM, VP8 video and Opus audio.
    MF_MEDIA_PROFILE_WEBM = 0,
    /// WebM, Opus audio only.
    MF_MEDIA_PROFILE_WEBM_AUDIO_ONLY = 1,
    /// WebM, VP8 video only.
    MF_MEDIA_PROFILE_WEBM_VIDEO_ONLY = 2,
    /// Matroska, VP8 video and Opus audio.
    MF_MEDIA_PROFILE_MKV = 3,
    /// Matroska, Opus audio only.
    MF_MEDIA_PROFILE_MKV_AUDIO_ONLY = 4,
    /// Matroska, VP8 video only.
    MF_MEDIA_PROFILE_MKV_VIDEO_ONLY = 5,
    /// Fragmented MP4, H.264 video (VP8 is transcoded to it) and Opus audio.
    MF_MEDIA_PROFILE_MP4 = 6,
    /// Fragmented MP4, Opus audio only.
    MF_MEDIA_PROFILE_MP4_AUDIO_ONLY = 7,
    /// Fragmented MP4, H.264 video only (VP8 is transcoded to it).
    MF_MEDIA_PROFILE_MP4_VIDEO_ONLY = 8,
}

/// A media profile from C, as an integer (C may pass a value the enum does not name).
fn profile_arg(profile: u32) -> Result<MediaProfile, mf_result> {
    Ok(match profile {
        0 => MediaProfile::Webm,
        1 => MediaProfile::WebmAudioOnly,
        2 => MediaProfile::WebmVideoOnly,
        3 => MediaProfile::Mkv,
        4 => MediaProfile::MkvAudioOnly,
        5 => MediaProfile::MkvVideoOnly,
        6 => MediaProfile::Mp4,
        7 => MediaProfile::Mp4AudioOnly,
        8 => MediaProfile::Mp4VideoOnly,
        other => {
            return Err(fail(
                MF_RESULT_INVALID_ARGUMENT,
                &format!("media profile {other} is not an mf_media_profile (0-8)"),
            ))
        }
    })
}

/// SDES-SRTP crypto suites of an RtpEndpoint (Kurento's `CryptoSuite`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum mf_crypto_suite {
    /// Plain RTP, no SRTP.
    MF_CRYPTO_SUITE_NONE = 0,
    /// AES_128_CM_HMAC_SHA1_80 (RFC 4568), with a random key of the endpoint's.
    MF_CRYPTO_SUITE_AES_128_CM_HMAC_SHA1_80 = 1,
}

fn crypto_arg(crypto: u32) -> Result<Option<CryptoSuite>, mf_result> {
    match crypto {
        0 => Ok(None),
        1 => Ok(Some(CryptoSuite::AesCm128HmacSha1_80)),
        other => Err(fail(
            MF_RESULT_INVALID_ARGUMENT,
            &format!("crypto {other} is not an mf_crypto_suite (0-1)"),
        )),
    }
}

fn recorder(element: *const mf_element) -> Result<&'static RecorderEndpoint, mf_result> {
    typed(element, "recorder", "a RecorderEndpoint", |e| {
        e.recorder.as_ref()
    })
}

/// Creates a RecorderEndpoint in `pipeline` that stores what reaches it in the file of
/// `uri` (`file:///absolute/path.webm`; NUL-terminated UTF-8, read during the call
/// only). `media_profile` is an `mf_media_profile` value (another integer:
/// `MF_RESULT_INVALID_ARGUMENT`). The file is not touched before `mf_recorder_record`.
/// `*out` receives a new handle the caller owns and frees with `mf_element_free`.
/// Errors: NULL `pipeline`/`uri`/`out` (`MF_RESULT_NULL_ARGUMENT`), a URI that is not
/// `file:///...` (`MF_RESULT_INVALID_ARGUMENT`), a released pipeline.
#[no_mangle]
pub extern "C" fn mf_recorder_endpoint_new(
    pipeline: *const mf_pipeline,
    uri: *const c_char,
    media_profile: u32,
    out: *mut *mut mf_element,
) -> mf_result {
    guard(|| {
        let pipeline = non_null(pipeline, "pipeline")?;
        let uri = str_arg(uri, "uri")?;
        let profile = profile_arg(media_profile)?;
        out_ptr(out, "out")?;
        let recorder = RecorderEndpoint::builder(&pipeline.inner, uri)
            .media_profile(profile)
            .build()
            .code()?;
        new_element(
            out,
            mf_element {
                recorder: Some(recorder.clone()),
                ..plain(recorder.into())
            },
        )
    })
}

/// Starts recording, or resumes after `mf_recorder_pause` (Kurento's `record`). The
/// file is created by the first call; when it cannot be, the call still succeeds and an
/// Error event RESOURCE_ERROR_OPEN follows. A Recording event is raised once it
/// records. `MF_RESULT_WRONG_STATE` after `mf_recorder_stop`;
/// `MF_RESULT_WRONG_ELEMENT_TYPE` for another kind of element.
#[no_mangle]
pub extern "C" fn mf_recorder_record(recorder_endpoint: *const mf_element) -> mf_result {
    guard(|| recorder(recorder_endpoint)?.record().code())
}

/// Pauses recording (Kurento's `pause`): media arriving meanwhile is not stored. A
/// Paused event follows. `recorder_endpoint` is borrowed for the call. Errors: NULL
/// (`MF_RESULT_NULL_ARGUMENT`), not a RecorderEndpoint (`MF_RESULT_WRONG_ELEMENT_TYPE`),
/// a released element or pipeline, `MF_RESULT_TIMEOUT`, `MF_RESULT_PANIC`. Pausing what
/// is not recording (before `mf_recorder_record`, after `mf_recorder_stop`) does nothing.
#[no_mangle]
pub extern "C" fn mf_recorder_pause(recorder_endpoint: *const mf_element) -> mf_result {
    guard(|| recorder(recorder_endpoint)?.pause().code())
}

/// Stops recording (Kurento's `stop`); the file is finalised in the background and a
/// Stopped event follows when it is. A stopped recorder does not record again.
/// `recorder_endpoint` is borrowed for the call. Errors as `mf_recorder_pause` (a second
/// stop is not an error).
#[no_mangle]
pub extern "C" fn mf_recorder_stop(recorder_endpoint: *const mf_element) -> mf_result {
    guard(|| recorder(recorder_endpoint)?.stop().code())
}

/// Writes a counter of an element to `*out` (untouched on error).
fn counter<E>(
    element: Result<&'static E, mf_result>,
    out: *mut u64,
    read: impl FnOnce(&E) -> u64,
) -> mf_result {
    guard(|| {
        let e = element?;
        *out_ptr(out, "out")? = read(e);
        Ok(())
    })
}

/// `*out` receives how many frames the recorder dropped because its writer fell behind
/// the media (a slow disk) or could not store them (an H.264 frame without a NAL unit).
/// `recorder_endpoint` is borrowed for the call; `*out` is the caller's. Errors: NULL
/// `recorder_endpoint` or `out` (`MF_RESULT_NULL_ARGUMENT`), not a RecorderEndpoint
/// (`MF_RESULT_WRONG_ELEMENT_TYPE`), `MF_RESULT_PANIC`. Readable after release too.
#[no_mangle]
pub extern "C" fn mf_recorder_dropped_frames(
    recorder_endpoint: *const mf_element,
    out: *mut u64,
) -> mf_result {
    counter(
        recorder(recorder_endpoint),
        out,
        RecorderEndpoint::dropped_frames,
    )
}

/// `*out` receives how many video frames the recorder did not store because no keyframe
/// had come since recording started or resumed, a packet was lost or a frame dropped (a
/// decoder could not use them; a keyframe is asked for meanwhile). Ownership and errors
/// as `mf_recorder_dropped_frames`.
#[no_mangle]
pub extern "C" fn mf_recorder_skipped_frames(
    recorder_endpoint: *const mf_element,
    out: *mut u64,
) -> mf_result {
    counter(
        recorder(recorder_endpoint),
        out,
        RecorderEndpoint::skipped_frames,
    )
}

/// Stops and waits until the file is finalised, at most `timeout_ms` milliseconds
/// (Kurento's `stopAndWait`; `MF_RESULT_TIMEOUT` past it, the file then finishes in the
/// background). After the element or its pipeline was released it only waits.
#[no_mangle]
pub extern "C" fn mf_recorder_stop_and_wait(
    recorder_endpoint: *const mf_element,
    timeout_ms: u32,
) -> mf_result {
    guard(|| {
        recorder(recorder_endpoint)?
            .stop_and_wait(Duration::from_millis(u64::from(timeout_ms)))
            .code()
    })
}

/// Options of a new RtpEndpoint; zero-initialize it (`{0}`) for the defaults. The
/// strings are read during `mf_rtp_endpoint_new` only and may be NULL.
#[repr(C)]
pub struct mf_rtp_options {
    /// Only receive media.
    pub recvonly: bool,
    /// Only send media.
    pub sendonly: bool,
    /// Local IP address (IPv4 or IPv6 text) to bind and to write in the SDP's `c=` line
    /// (NULL: the host's first address).
    pub address: *const c_char,
    /// UDP port range (both 0: any port). Each medium takes an even RTP port and the
    /// next one for RTCP.
    pub min_port: u16,
    /// Upper end of the port range.
    pub max_port: u16,
    /// SDES-SRTP (Kurento's `crypto`): an `mf_crypto_suite` value (0: plain RTP).
    /// With a suite, plain RTP/AVP(F) offers are refused.
    pub crypto: u32,
    /// Offer RTP/AVP without RTCP feedback instead of RTP/AVPF (NACK, PLI, FIR, REMB).
    /// Offers of either profile are answered in it.
    pub avp: bool,
    /// Most video the peer may send, in kbps (0: 2 Mbps), announced as `b=AS` and
    /// with REMB.
    pub max_video_recv_bandwidth: u32,
    /// Most audio the peer may send, in kbps (0: no limit), announced as `b=AS`.
    pub max_audio_recv_bandwidth: u32,
}

/// Creates an RtpEndpoint (Kurento's plain RTP endpoint: SDP offer/answer with
/// RTP/AVP(F), no ICE, no DTLS) in `pipeline`; its sockets are bound now. `options` may
/// be NULL for the defaults (it is read during the call only). Negotiate with
/// `mf_sdp_endpoint_generate_offer` / `_process_offer` / `_process_answer`. `*out`
/// receives a new handle the caller owns and frees with `mf_element_free`. Errors: NULL
/// `pipeline`/`out`, a bad `address` or `crypto` value (`MF_RESULT_INVALID_ARGUMENT`),
/// no free ports (`MF_RESULT_RESOURCE`), a released pipeline.
#[no_mangle]
pub extern "C" fn mf_rtp_endpoint_new(
    pipeline: *const mf_pipeline,
    options: *const mf_rtp_options,
    out: *mut *mut mf_element,
) -> mf_result {
    guard(|| {
        let pipeline = non_null(pipeline, "pipeline")?;
        out_ptr(out, "out")?;
        let mut builder = RtpEndpoint::builder(&pipeline.inner);
        // SAFETY: NULL or a valid options struct (documented).
        if let Some(o) = unsafe { options.as_ref() } {
            if o.recvonly && o.sendonly {
                return Err(fail(
                    MF_RESULT_INVALID_ARGUMENT,
                    "recvonly and sendonly exclude each other",
                ));
            }
            if o.recvonly {
                builder = builder.recvonly();
            }
            if o.sendonly {
                builder = builder.sendonly();
            }
            if let Some(ip) = opt_str(o.address, "address")? {
                let ip = ip.parse::<std::net::IpAddr>().map_err(|_| {
                    fail(
                        MF_RESULT_INVALID_ARGUMENT,
                        &format!("address {ip:?} is not an IP address"),
                    )
                })?;
                builder = builder.address(ip);
            }
            if o.min_port != 0 || o.max_port != 0 {
                builder = builder.port_range(o.min_port, o.max_port);
            }
            if let Some(suite) = crypto_arg(o.crypto)? {
                builder = builder.crypto(suite);
            }
            builder = builder
                .avpf(!o.avp)
                .max_video_recv_bandwidth(o.max_video_recv_bandwidth)
                .max_audio_recv_bandwidth(o.max_audio_recv_bandwidth);
        }
        let endpoint = builder.build().code()?;
        new_element(
            out,
            mf_element {
                rtp: Some(endpoint.clone()),
                ..plain(endpoint.into())
            },
        )
    })
}

/// The SDP side of a WebRtcEndpoint or an RtpEndpoint (Kurento's SdpEndpoint).
enum Sdp<'a> {
    WebRtc(&'a WebRtcEndpoint),
    Rtp(&'a RtpEndpoint),
}

fn sdp_endpoint(element: *const mf_element) -> Result<Sdp<'static>, mf_result> {
    let element: &'static mf_element = non_null(element, "endpoint")?;
    match (&element.webrtc, &element.rtp) {
        (Some(w), _) => Ok(Sdp::WebRtc(w)),
        (_, Some(r)) => Ok(Sdp::Rtp(r)),
        _ => Err(fail(
            MF_RESULT_WRONG_ELEMENT_TYPE,
            "the element is not an SdpEndpoint (WebRtcEndpoint or RtpEndpoint)",
        )),
    }
}

/// Writes an optional SDP to `*out`: the text (the caller frees it with
/// `mf_string_free`) or NULL when there is none yet.
fn optional_sdp(sdp: Option<String>, out: &mut *mut c_char) {
    *out = sdp.map_or(std::ptr::null_mut(), |s| owned_string(&s));
}

/// Applies the peer's SDP offer to a WebRtcEndpoint or an RtpEndpoint (Kurento's
/// `processOffer`). `offer` is NUL-terminated UTF-8, read during the call. `*answer`
/// receives our SDP answer, owned by the caller (free it with `mf_string_free`); it is
/// left untouched on error. Errors: `MF_RESULT_INVALID_SDP`, `MF_RESULT_NO_COMMON_CODEC`,
/// `MF_RESULT_WRONG_STATE` (already negotiated), `MF_RESULT_WRONG_ELEMENT_TYPE`.
#[no_mangle]
pub extern "C" fn mf_sdp_endpoint_process_offer(
    endpoint: *const mf_element,
    offer: *const c_char,
    answer: *mut *mut c_char,
) -> mf_result {
    guard(|| {
        let endpoint = sdp_endpoint(endpoint)?;
        let offer = str_arg(offer, "offer")?;
        let out = out_ptr(answer, "answer")?;
        let sdp = match endpoint {
            Sdp::WebRtc(e) => e.process_offer(offer),
            Sdp::Rtp(e) => e.process_offer(offer),
        }
        .code()?;
        *out = owned_string(&sdp);
        Ok(())
    })
}

/// Creates an SDP offer (Kurento's `generateOffer`: audio and video). `*offer` receives
/// it, owned by the caller (free it with `mf_string_free`); it is left untouched on
/// error. Errors: NULL `endpoint`/`offer` (`MF_RESULT_NULL_ARGUMENT`), not a
/// WebRtcEndpoint or RtpEndpoint (`MF_RESULT_WRONG_ELEMENT_TYPE`), a released element
/// or pipeline, `MF_RESULT_TIMEOUT`, `MF_RESULT_PANIC`.
#[no_mangle]
pub extern "C" fn mf_sdp_endpoint_generate_offer(
    endpoint: *const mf_element,
    offer: *mut *mut c_char,
) -> mf_result {
    mf_sdp_endpoint_generate_offer_with(endpoint, true, true, offer)
}

/// Creates an SDP offer asking to receive only the kinds named (Kurento's
/// `generateOffer(OfferOptions {offerToReceiveAudio, offerToReceiveVideo})`): a kind not
/// asked for is offered `sendonly` (`inactive` for an endpoint that does not send it
/// either). `*offer` receives it, owned by the caller (free it with `mf_string_free`).
/// Errors as `mf_sdp_endpoint_generate_offer`.
#[no_mangle]
pub extern "C" fn mf_sdp_endpoint_generate_offer_with(
    endpoint: *const mf_element,
    offer_to_receive_audio: bool,
    offer_to_receive_video: bool,
    offer: *mut *mut c_char,
) -> mf_result {
    guard(|| {
        let endpoint = sdp_endpoint(endpoint)?;
        let out = out_ptr(offer, "offer")?;
        let options = mediaflow::OfferOptions {
            offer_to_receive_audio,
            offer_to_receive_video,
        };
        let sdp = match endpoint {
            Sdp::WebRtc(e) => e.generate_offer_with(options),
            Sdp::Rtp(e) => e.generate_offer_with(options),
        }
        .code()?;
        *out = owned_string(&sdp);
        Ok(())
    })
}

/// Applies the peer's SDP answer to our offer (Kurento's `processAnswer`). `answer` is
/// read during the call. `MF_RESULT_WRONG_STATE` without a generated offer.
#[no_mangle]
pub extern "C" fn mf_sdp_endpoint_process_answer(
    endpoint: *const mf_element,
    answer: *const c_char,
) -> mf_result {
    guard(|| {
        let endpoint = sdp_endpoint(endpoint)?;
        let answer = str_arg(answer, "answer")?;
        match endpoint {
            Sdp::WebRtc(e) => e.process_answer(answer),
            Sdp::Rtp(e) => e.process_answer(answer),
        }
        .code()
    })
}

/// Our SDP once offered or answered (Kurento's `getLocalSessionDescriptor`). `*sdp`
/// receives it, owned by the caller (free it with `mf_string_free`), or NULL before
/// any negotiation.
#[no_mangle]
pub extern "C" fn mf_sdp_endpoint_get_local_session_descriptor(
    endpoint: *const mf_element,
    sdp: *mut *mut c_char,
) -> mf_result {
    guard(|| {
        let endpoint = sdp_endpoint(endpoint)?;
        let out = out_ptr(sdp, "sdp")?;
        let local = match endpoint {
            Sdp::WebRtc(e) => e.get_local_session_descriptor(),
            Sdp::Rtp(e) => e.get_local_session_descriptor(),
        }
        .code()?;
        optional_sdp(local, out);
        Ok(())
    })
}

/// The peer's SDP once given (Kurento's `getRemoteSessionDescriptor`). `*sdp` receives
/// it, owned by the caller (free it with `mf_string_free`), or NULL before it came.
#[no_mangle]
pub extern "C" fn mf_sdp_endpoint_get_remote_session_descriptor(
    endpoint: *const mf_element,
    sdp: *mut *mut c_char,
) -> mf_result {
    guard(|| {
        let endpoint = sdp_endpoint(endpoint)?;
        let out = out_ptr(sdp, "sdp")?;
        let remote = match endpoint {
            Sdp::WebRtc(e) => e.get_remote_session_descriptor(),
            Sdp::Rtp(e) => e.get_remote_session_descriptor(),
        }
        .code()?;
        optional_sdp(remote, out);
        Ok(())
    })
}

fn player(element: *const mf_element) -> Result<&'static PlayerEndpoint, mf_result> {
    typed(element, "player", "a PlayerEndpoint", |e| e.player.as_ref())
}

/// Creates a PlayerEndpoint in `pipeline` that plays the WebM or Matroska file of `uri`
/// (`file:///absolute/path.webm`, or `http://` / `https://`, downloaded whole first;
/// NUL-terminated UTF-8, read during the call only): its first VP8 (else H.264) track
/// and first Opus track leave as RTP in real time once `mf_player_play` is called.
/// The URI is looked at by `mf_player_play` (as in Kurento: a URI or file it cannot
/// play is an Error event INVALID_URI, RESOURCE_ERROR_OPEN or INVALID_MEDIA then).
/// `*out` receives a new handle the caller owns and frees with `mf_element_free`; on
/// error it is left untouched. Errors: NULL `pipeline`/`uri`/`out`
/// (`MF_RESULT_NULL_ARGUMENT`), `MF_RESULT_INVALID_UTF8`, a released pipeline,
/// `MF_RESULT_TIMEOUT` if the pipeline's worker does not answer (5 s), `MF_RESULT_PANIC`.
#[no_mangle]
pub extern "C" fn mf_player_endpoint_new(
    pipeline: *const mf_pipeline,
    uri: *const c_char,
    out: *mut *mut mf_element,
) -> mf_result {
    guard(|| {
        let pipeline = non_null(pipeline, "pipeline")?;
        let uri = str_arg(uri, "uri")?;
        out_ptr(out, "out")?;
        let player = PlayerEndpoint::builder(&pipeline.inner, uri)
            .build()
            .code()?;
        new_element(
            out,
            mf_element {
                player: Some(player.clone()),
                ..plain(player.into())
            },
        )
    })
}

/// Starts playing (Kurento's `play`): from the start when stopped or at the end of the
/// file, from where it was when paused. A local file is opened during the call; a URI
/// or file it cannot play raises an Error event and the call still succeeds. An
/// EndOfStream event follows the end of the file. Errors: NULL
/// (`MF_RESULT_NULL_ARGUMENT`), not a PlayerEndpoint (`MF_RESULT_WRONG_ELEMENT_TYPE`),
/// a released element or pipeline, `MF_RESULT_TIMEOUT`, `MF_RESULT_PANIC`.
#[no_mangle]
pub extern "C" fn mf_player_play(player_endpoint: *const mf_element) -> mf_result {
    guard(|| player(player_endpoint)?.play().code())
}

/// Pauses (Kurento's `pause`): media stops, the position holds; `mf_player_play`
/// resumes. Errors as `mf_player_play`.
#[no_mangle]
pub extern "C" fn mf_player_pause(player_endpoint: *const mf_element) -> mf_result {
    guard(|| player(player_endpoint)?.pause().code())
}

/// Stops (Kurento's `stop`): media stops and the position goes back to the start.
/// Errors as `mf_player_play`.
#[no_mangle]
pub extern "C" fn mf_player_stop(player_endpoint: *const mf_element) -> mf_result {
    guard(|| player(player_endpoint)?.stop().code())
}

/// `*out` receives how many frames the player skipped because they were larger than a
/// frame can be (4 MiB: a corrupt or hostile file). Ownership and errors as
/// `mf_recorder_dropped_frames` (for a PlayerEndpoint).
#[no_mangle]
pub extern "C" fn mf_player_dropped_frames(
    player_endpoint: *const mf_element,
    out: *mut u64,
) -> mf_result {
    counter(player(player_endpoint), out, PlayerEndpoint::dropped_frames)
}

/// `*out` receives how many keyframe requests consumers sent the player (a file cannot
/// make a keyframe: they are counted, and the consumer decodes from the file's next
/// one). Ownership and errors as `mf_player_dropped_frames`.
#[no_mangle]
pub extern "C" fn mf_player_keyframe_requests(
    player_endpoint: *const mf_element,
    out: *mut u64,
) -> mf_result {
    counter(
        player(player_endpoint),
        out,
        PlayerEndpoint::keyframe_requests,
    )
}

/// `*position_ms` receives the position in the file, in milliseconds (Kurento's
/// `position`); on error it is left untouched. Errors: NULL `player_endpoint` or
/// `position_ms` (`MF_RESULT_NULL_ARGUMENT`), others as `mf_player_play`.
#[no_mangle]
pub extern "C" fn mf_player_get_position(
    player_endpoint: *const mf_element,
    position_ms: *mut u64,
) -> mf_result {
    guard(|| {
        let p = player(player_endpoint)?;
        out_ptr(position_ms, "position_ms")?;
        let ms = p.get_position().code()?;
        *out_ptr(position_ms, "position_ms")? = ms;
        Ok(())
    })
}

/// Jumps to `position_ms` milliseconds into the file while playing or paused
/// (Kurento's `setPosition`); playback resumes at the video keyframe at or before it.
/// Errors: a position it cannot go to (`MF_RESULT_INVALID_ARGUMENT`), not playing or
/// paused (`MF_RESULT_WRONG_STATE`), others as `mf_player_play`.
#[no_mangle]
pub extern "C" fn mf_player_set_position(
    player_endpoint: *const mf_element,
    position_ms: u64,
) -> mf_result {
    guard(|| player(player_endpoint)?.set_position(position_ms).code())
}

/// A data channel's partial-reliability bound from C: -1 for none (Kurento's
/// default), else 0-65535.
fn reliability_arg(value: i32, what: &str) -> Result<Option<u16>, mf_result> {
    match value {
        -1 => Ok(None),
        v => u16::try_from(v).map(Some).map_err(|_| {
            fail(
                MF_RESULT_INVALID_ARGUMENT,
                &format!("{what} {v} is neither -1 (none) nor 0-65535"),
            )
        }),
    }
}

/// Creates a data channel to the peer (Kurento's `createDataChannel`); `*channel_id`
/// receives its id (on error it is left untouched), and a DataChannelOpened event
/// follows once the peer acknowledged it. The endpoint needs `use_data_channels` in its
/// `mf_webrtc_options` and a negotiated data-channel section. `label` (NUL-terminated
/// UTF-8) is required; `protocol` may be NULL (none). `ordered` false lets messages
/// arrive as they come; `max_packet_life_time` (ms) or `max_retransmits` make it
/// partially reliable, -1 for neither (Kurento's defaults). Errors: NULL
/// `webrtc_endpoint`/`label`/`channel_id` (`MF_RESULT_NULL_ARGUMENT`),
/// `MF_RESULT_INVALID_UTF8`, a bound outside -1..65535 (`MF_RESULT_INVALID_ARGUMENT`),
/// not a WebRtcEndpoint (`MF_RESULT_WRONG_ELEMENT_TYPE`), no data-channel section
/// negotiated (`MF_RESULT_WRONG_STATE`), a label too long (`MF_RESULT_INVALID_ARGUMENT`),
/// too many channels (`MF_RESULT_RESOURCE`), a released element or pipeline,
/// `MF_RESULT_TIMEOUT`, `MF_RESULT_PANIC`.
#[no_mangle]
pub extern "C" fn mf_webrtc_create_data_channel(
    webrtc_endpoint: *const mf_element,
    label: *const c_char,
    ordered: bool,
    max_packet_life_time: i32,
    max_retransmits: i32,
    protocol: *const c_char,
    channel_id: *mut u16,
) -> mf_result {
    guard(|| {
        let e = webrtc(webrtc_endpoint)?;
        let label = str_arg(label, "label")?;
        let protocol = opt_str(protocol, "protocol")?.unwrap_or("");
        let life = reliability_arg(max_packet_life_time, "max_packet_life_time")?;
        let retransmits = reliability_arg(max_retransmits, "max_retransmits")?;
        out_ptr(channel_id, "channel_id")?;
        let id = e
            .create_data_channel(label, ordered, life, retransmits, protocol)
            .code()?;
        *out_ptr(channel_id, "channel_id")? = id;
        Ok(())
    })
}

/// Closes data channel `channel_id` (Kurento's `closeDataChannel`); a
/// DataChannelClosed event follows. Errors: NULL (`MF_RESULT_NULL_ARGUMENT`), not a
/// WebRtcEndpoint (`MF_RESULT_WRONG_ELEMENT_TYPE`), no such channel
/// (`MF_RESULT_INVALID_ARGUMENT`), no data-channel section negotiated
/// (`MF_RESULT_WRONG_STATE`), a released element or pipeline, `MF_RESULT_TIMEOUT`,
/// `MF_RESULT_PANIC`.
#[no_mangle]
pub extern "C" fn mf_webrtc_close_data_channel(
    webrtc_endpoint: *const mf_element,
    channel_id: u16,
) -> mf_result {
    guard(|| {
        webrtc(webrtc_endpoint)?
            .close_data_channel(channel_id)
            .code()
    })
}
