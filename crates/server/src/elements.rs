//! RecorderEndpoint, PlayerEndpoint and RtpEndpoint: their constructor parameters, their
//! operations, and the SdpEndpoint operations RtpEndpoint shares with WebRtcEndpoint.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mediaflow::{
    CryptoSuite, ErrorType, Event, MediaPipeline, MediaProfile, PlayerEndpoint, RecorderEndpoint,
    RtpEndpoint, WebRtcEndpoint,
};
use serde_json::{json, Map, Value};

use mediaflow_ice::NetConfig;

use crate::core::{media_error, Core, EndpointOptions};
use crate::invoke::{update, Op, Target};
use crate::kurento;
use crate::rpc::{Params, RpcError};

/// How long `stopAndWait` waits for the recording's file to be finalised.
const STOP_AND_WAIT: Duration = Duration::from_secs(10);

/// A constructor parameter of the wrong JSON type (40100, as other bad constructor
/// parameters).
fn bad_param(name: &str, want: &str) -> RpcError {
    RpcError::type_not_found(format!("constructor parameter '{name}' must be {want}"))
}

fn opt_bool(constructor: &Map<String, Value>, name: &str) -> Result<bool, RpcError> {
    match constructor.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(bad_param(name, "a boolean")),
    }
}

/// A UriEndpoint's Kurento `UriEndpointState` (STOP, START, PAUSE), shared between the
/// registry's record of the object and the event handlers that change it (a player's
/// EndOfStream, a recorder stopped by it).
#[derive(Clone, Debug)]
pub(crate) struct UriState(Arc<Mutex<&'static str>>);

impl Default for UriState {
    fn default() -> UriState {
        UriState(Arc::new(Mutex::new("STOP")))
    }
}

impl UriState {
    /// The state now.
    pub(crate) fn get(&self) -> &'static str {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the state; returns the one before.
    pub(crate) fn set(&self, state: &'static str) -> &'static str {
        std::mem::replace(
            &mut *self.0.lock().unwrap_or_else(|p| p.into_inner()),
            state,
        )
    }
}

/// The RecorderEndpoints built with `stopOnEndOfStream`, by mediaflow element id, with
/// their state: a PlayerEndpoint's EndOfStream stops those it feeds directly. Released
/// recorders are pruned whenever one is added and at every EndOfStream.
#[derive(Clone, Default)]
pub(crate) struct StopOnEndOfStream(Arc<Mutex<HashMap<String, (RecorderEndpoint, UriState)>>>);

impl StopOnEndOfStream {
    /// Registers a recorder built with `stopOnEndOfStream`.
    pub(crate) fn add(&self, recorder: &RecorderEndpoint, state: &UriState) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (r, _)| !r.is_released());
        map.insert(recorder.id().to_owned(), (recorder.clone(), state.clone()));
    }

    /// Stops the registered recorders fed directly by the element `source` (a player
    /// that reached the end of its file).
    fn end_of_stream(&self, source: &str) {
        let fed: Vec<(RecorderEndpoint, UriState)> = {
            let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
            map.retain(|_, (r, _)| !r.is_released());
            map.values()
                .filter(|(r, _)| {
                    r.get_source_connections(None)
                        .is_ok_and(|links| links.iter().any(|c| c.source.id() == source))
                })
                .cloned()
                .collect()
        };
        for (recorder, state) in fed {
            match recorder.stop() {
                Ok(()) => {
                    state.set("STOP");
                }
                Err(e) => tracing::debug!("stopOnEndOfStream: {e}"),
            }
        }
    }
}

/// Builds a PlayerEndpoint from Kurento's constructor parameters: `uri` (required; a URI
/// it cannot play is an `Error` event at `play()`, as in Kurento), `useEncodedMedia`
/// and `networkCache` (accepted and ignored: the player always hands out encoded media,
/// and downloads an http(s) file whole). Its state follows its calls and turns STOP at
/// the end of the file, which also stops the `stopOnEndOfStream` recorders it feeds.
pub(crate) fn build_player(
    pipeline: &MediaPipeline,
    constructor: &Map<String, Value>,
    state: &UriState,
    stop_on_eos: &StopOnEndOfStream,
) -> Result<PlayerEndpoint, RpcError> {
    let uri = match constructor.get("uri") {
        Some(Value::String(u)) => u.as_str(),
        _ => return Err(bad_param("uri", "a string (file:///path, http(s)://...)")),
    };
    opt_bool(constructor, "useEncodedMedia")?;
    match constructor.get("networkCache") {
        None | Some(Value::Null) => {}
        Some(v) if v.is_i64() || v.is_u64() => {}
        Some(_) => return Err(bad_param("networkCache", "an integer")),
    }
    let player = PlayerEndpoint::builder(pipeline, uri)
        .build()
        .map_err(media_error)?;
    let (state, recorders) = (state.clone(), stop_on_eos.clone());
    let listened = player.on_event(move |e| match e {
        Event::EndOfStream(end) => {
            state.set("STOP");
            recorders.end_of_stream(&end.source);
        }
        e if ends_play(e) => {
            state.set("STOP");
        }
        _ => {}
    });
    if let Err(e) = listened {
        let _ = player.release();
        return Err(media_error(e));
    }
    Ok(player)
}

/// Whether `e` is a player's Error that means `play()` started nothing (a URI or file it
/// cannot play).
pub(crate) fn ends_play(e: &Event) -> bool {
    matches!(e, Event::Error(err) if matches!(
        err.error_type,
        ErrorType::InvalidUri | ErrorType::ResourceErrorOpen | ErrorType::InvalidMedia
    ))
}

/// PlayerEndpoint's (and UriEndpoint's) operations. A change of state is told to the
/// object's UriEndpointStateChanged subscribers.
pub(crate) fn player(
    core: &Core,
    t: &Target,
    e: &PlayerEndpoint,
    op: &str,
    args: &Map<String, Value>,
) -> Op {
    let state = match op {
        "play" => {
            // START is set and told before the call: a URI it cannot play raises an
            // Error inside it, whose handler sets STOP again (and tells it) after.
            let before = t.uri_state.set("START");
            if before != "START" {
                core.notify_uri_state(t.id(), "START");
            }
            if let Err(err) = e.play() {
                t.uri_state.set(before);
                return Err(media_error(err));
            }
            return Ok(Some(Value::Null));
        }
        "pause" => {
            e.pause().map_err(media_error)?;
            "PAUSE"
        }
        "stop" => {
            e.stop().map_err(media_error)?;
            "STOP"
        }
        "getPosition" => return Ok(Some(e.get_position().map_err(media_error)?.into())),
        "setPosition" => {
            let ms = match args.get("position") {
                Some(v) => v.as_u64().ok_or_else(|| {
                    RpcError::illegal_param("'position' must be a non-negative integer (ms)")
                })?,
                None => return Err(RpcError::invalid_params("'position' is required")),
            };
            e.set_position(ms).map_err(|err| match err {
                mediaflow::Error::InvalidArgument(m) => RpcError::illegal_param(m),
                other => media_error(other),
            })?;
            return Ok(Some(Value::Null));
        }
        "getVideoInfo" => {
            let info = e.get_video_info().map_err(|err| match err {
                mediaflow::Error::InvalidArgument(m) => RpcError::illegal_param(m),
                other => media_error(other),
            })?;
            return Ok(Some(kurento::complex(
                "VideoInfo",
                json!({
                    "isSeekable": info.is_seekable,
                    "seekableInit": info.seekable_init,
                    "seekableEnd": info.seekable_end,
                    "duration": info.duration,
                }),
            )));
        }
        "getUri" => return Ok(Some(e.uri().into())),
        "getState" => return Ok(Some(t.uri_state.get().into())),
        _ => return Ok(None),
    };
    let before = t.uri_state.set(state);
    if before != state {
        core.notify_uri_state(t.id(), state);
    }
    Ok(Some(Value::Null))
}

/// Builds a RecorderEndpoint from Kurento's constructor parameters: `uri` (required),
/// `mediaProfile` (default WEBM), `stopOnEndOfStream` (the second value: whether a
/// PlayerEndpoint's EndOfStream stops it).
pub(crate) fn build_recorder(
    pipeline: &MediaPipeline,
    constructor: &Map<String, Value>,
) -> Result<(RecorderEndpoint, bool), RpcError> {
    let uri = match constructor.get("uri") {
        Some(Value::String(u)) => u.as_str(),
        _ => return Err(bad_param("uri", "a string (file:///path)")),
    };
    let profile = match constructor.get("mediaProfile") {
        None | Some(Value::Null) => MediaProfile::Webm,
        Some(Value::String(p)) => MediaProfile::parse(p).ok_or_else(|| {
            RpcError::not_implemented(format!(
                "mediaProfile {p}: mediaflow records WEBM, MKV, MP4 and their _AUDIO_ONLY / \
                 _VIDEO_ONLY profiles (not JPEG, FLV or the split recorder yet)"
            ))
        })?,
        Some(_) => return Err(bad_param("mediaProfile", "a MediaProfileSpecType string")),
    };
    let stop_on_eos = opt_bool(constructor, "stopOnEndOfStream")?;
    RecorderEndpoint::builder(pipeline, uri)
        .media_profile(profile)
        .build()
        .map(|r| (r, stop_on_eos))
        .map_err(|e| match e {
            mediaflow::Error::InvalidArgument(m) => RpcError::illegal_param(m),
            other => media_error(other),
        })
}

/// Builds an RtpEndpoint from Kurento's constructor parameters, `crypto` (SDES) and
/// `useIpv6`, on the server's interfaces and port range.
pub(crate) fn build_rtp(
    pipeline: &MediaPipeline,
    constructor: &Map<String, Value>,
    options: &EndpointOptions,
) -> Result<RtpEndpoint, RpcError> {
    let mut builder = RtpEndpoint::builder(pipeline);
    match constructor.get("crypto") {
        None | Some(Value::Null) => {}
        Some(Value::Object(sdes)) => builder = builder.crypto(crypto_suite(sdes)?),
        Some(_) => return Err(bad_param("crypto", "an SDES {crypto, key, keyBase64}")),
    }
    builder = builder.address(rtp_address(options, opt_bool(constructor, "useIpv6")?)?);
    if let Some((min, max)) = options.port_range {
        builder = builder.port_range(min, max);
    }
    builder.build().map_err(media_error)
}

/// The suite of Kurento's `SDES`. mediaflow keys SDES-SRTP with a random key of its own
/// (announced in its SDP, as SDES does), so an application's chosen key is refused
/// rather than silently replaced.
fn crypto_suite(sdes: &Map<String, Value>) -> Result<CryptoSuite, RpcError> {
    for key in ["key", "keyBase64"] {
        if sdes.get(key).is_some_and(|k| !k.is_null()) {
            return Err(RpcError::not_implemented(format!(
                "crypto.{key}: mediaflow generates its own SDES key (it is in its SDP); \
                 omit {key}"
            )));
        }
    }
    match sdes.get("crypto").and_then(Value::as_str) {
        None | Some("AES_128_CM_HMAC_SHA1_80") => Ok(CryptoSuite::AesCm128HmacSha1_80),
        Some(other) => Err(RpcError::not_implemented(format!(
            "crypto.crypto {other}: mediaflow has AES_128_CM_HMAC_SHA1_80 only"
        ))),
    }
}

/// The address an RtpEndpoint binds and writes in its SDP: the first IPv4 (or, with
/// `useIpv6`, IPv6) address of the server's `--interfaces` (all when none), in the order
/// WebRtcEndpoint offers its host candidates (loopback last).
fn rtp_address(options: &EndpointOptions, ipv6: bool) -> Result<IpAddr, RpcError> {
    let config = NetConfig {
        interfaces: options.interfaces.clone(),
        port_range: None,
        ipv6,
    };
    let addresses = mediaflow_ice::host_addresses(&config)
        .map_err(|e| RpcError::not_enough_resources(format!("RtpEndpoint: {e}")))?;
    addresses
        .into_iter()
        .find(|a| a.is_ipv6() == ipv6)
        .ok_or_else(|| {
            RpcError::not_enough_resources(format!(
                "RtpEndpoint: no IPv{} address on {}",
                if ipv6 { 6 } else { 4 },
                if options.interfaces.is_empty() {
                    "this host".to_owned()
                } else {
                    options.interfaces.join(",")
                }
            ))
        })
}

/// RecorderEndpoint's (and UriEndpoint's) operations.
pub(crate) fn recorder(
    core: &Core,
    t: &Target,
    e: &RecorderEndpoint,
    op: &str,
    _args: &Map<String, Value>,
) -> Op {
    let state = match op {
        "record" => {
            e.record().map_err(media_error)?;
            "START"
        }
        "pause" => {
            e.pause().map_err(media_error)?;
            "PAUSE"
        }
        "stop" => {
            e.stop().map_err(media_error)?;
            "STOP"
        }
        "stopAndWait" => {
            // A timeout still stopped the recorder (only the file's end is late).
            let waited = e.stop_and_wait(STOP_AND_WAIT);
            update(core, t.id(), |o| {
                o.uri_state.set("STOP");
            })?;
            waited.map_err(media_error)?;
            "STOP"
        }
        "getUri" => return Ok(Some(e.uri().into())),
        "getState" => return Ok(Some(t.uri_state.get().into())),
        _ => return Ok(None),
    };
    update(core, t.id(), |o| {
        o.uri_state.set(state);
    })?;
    Ok(Some(Value::Null))
}

/// RtpEndpoint's (BaseRtpEndpoint's, SdpEndpoint's) operations.
pub(crate) fn rtp(e: &RtpEndpoint, op: &str, args: &Map<String, Value>) -> Op {
    if let Some(v) = sdp(e, op, args)? {
        return Ok(Some(v));
    }
    Ok(Some(match op {
        "requestKeyframe" => {
            e.request_keyframe().map_err(media_error)?;
            Value::Null
        }
        "getMediaState" => kurento::media_state(e.get_media_state().map_err(media_error)?).into(),
        "getConnectionState" => {
            kurento::connection_state(e.get_connection_state().map_err(media_error)?).into()
        }
        // What mediaflow's builder used (Kurento's defaults; the server sets none).
        "getMtu" => 1200.into(),
        "getMaxVideoRecvBandwidth" | "getMinVideoRecvBandwidth" | "getMaxAudioRecvBandwidth" => {
            0.into()
        }
        "getMinVideoSendBandwidth" => 100.into(),
        "getMaxVideoSendBandwidth" => 500.into(),
        "setMtu"
        | "setMaxVideoRecvBandwidth"
        | "setMinVideoRecvBandwidth"
        | "setMaxAudioRecvBandwidth"
        | "setMinVideoSendBandwidth"
        | "setMaxVideoSendBandwidth" => {
            return Err(RpcError::not_implemented(format!(
                "{op}: mediaflow's RtpEndpoint takes this when it is built; the server does \
                 not rebuild one yet"
            )))
        }
        _ => return Ok(None),
    }))
}

/// generateOffer's optional `options` (Kurento's OfferOptions complex type): what the
/// offer asks to receive, both kinds unless said otherwise.
fn offer_options(args: &Map<String, Value>) -> Result<mediaflow::OfferOptions, RpcError> {
    let mut options = mediaflow::OfferOptions::default();
    match args.get("options") {
        None | Some(Value::Null) => {}
        Some(Value::Object(o)) => {
            if let Some(audio) = o.opt_bool("offerToReceiveAudio")? {
                options.offer_to_receive_audio = audio;
            }
            if let Some(video) = o.opt_bool("offerToReceiveVideo")? {
                options.offer_to_receive_video = video;
            }
        }
        Some(_) => {
            return Err(RpcError::invalid_params(
                "'options' must be an OfferOptions object",
            ))
        }
    }
    Ok(options)
}

/// The SDP calls of an SdpEndpoint (WebRtcEndpoint, RtpEndpoint).
pub(crate) trait SdpCalls {
    fn process_offer(&self, offer: &str) -> mediaflow::Result<String>;
    fn generate_offer(&self, options: mediaflow::OfferOptions) -> mediaflow::Result<String>;
    fn process_answer(&self, answer: &str) -> mediaflow::Result<()>;
    fn local(&self) -> mediaflow::Result<Option<String>>;
    fn remote(&self) -> mediaflow::Result<Option<String>>;
}

macro_rules! sdp_calls {
    ($t:ty) => {
        impl SdpCalls for $t {
            fn process_offer(&self, offer: &str) -> mediaflow::Result<String> {
                <$t>::process_offer(self, offer)
            }
            fn generate_offer(
                &self,
                options: mediaflow::OfferOptions,
            ) -> mediaflow::Result<String> {
                <$t>::generate_offer_with(self, options)
            }
            fn process_answer(&self, answer: &str) -> mediaflow::Result<()> {
                <$t>::process_answer(self, answer)
            }
            fn local(&self) -> mediaflow::Result<Option<String>> {
                self.get_local_session_descriptor()
            }
            fn remote(&self) -> mediaflow::Result<Option<String>> {
                self.get_remote_session_descriptor()
            }
        }
    };
}

sdp_calls!(WebRtcEndpoint);
sdp_calls!(RtpEndpoint);

/// SdpEndpoint's operations, with Kurento's error codes.
pub(crate) fn sdp(e: &dyn SdpCalls, op: &str, args: &Map<String, Value>) -> Op {
    use mediaflow::Error as E;
    let negotiated = |err: E| match err {
        E::WrongState(m) => RpcError::already_negotiated(m),
        other => media_error(other),
    };
    Ok(Some(match op {
        "processOffer" => e
            .process_offer(args.str_param("offer")?)
            .map_err(negotiated)?
            .into(),
        "generateOffer" => e
            .generate_offer(offer_options(args)?)
            .map_err(negotiated)?
            .into(),
        "processAnswer" => {
            e.process_answer(args.str_param("answer")?)
                .map_err(|err| match err {
                    E::WrongState(m) => RpcError::not_offer_generated(m),
                    E::InvalidSdp(m) => RpcError::process_answer(m),
                    other => media_error(other),
                })?;
            e.local().map_err(media_error)?.unwrap_or_default().into()
        }
        "getLocalSessionDescriptor" => e
            .local()
            .map_err(media_error)?
            .ok_or_else(|| RpcError::no_local_sdp("no local SDP yet"))?
            .into(),
        "getRemoteSessionDescriptor" => e
            .remote()
            .map_err(media_error)?
            .ok_or_else(|| RpcError::no_remote_sdp("no remote SDP yet"))?
            .into(),
        _ => return Ok(None),
    }))
}
