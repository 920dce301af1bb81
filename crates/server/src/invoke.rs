//! `invoke`: the operations of each class, as calls into mediaflow.
//!
//! Every property is an operation `getX` / `setX {x}`. Properties mediaflow takes only
//! when an endpoint is built (STUN/TURN, interfaces, external addresses, ICE-TCP,
//! bandwidths) start from the server's options; setting one before any negotiation
//! rebuilds the endpoint with it (its links, tags and subscriptions kept), after it the
//! setter answers 40111 rather than pretend. Settings mediaflow does not have answer
//! 40006 NOT_IMPLEMENTED.

use std::sync::{Arc, Mutex, Weak};

use mediaflow::{
    ConnectionState, Event, IceCandidatePair, IceComponentState, MediaElement, MediaKind,
    MediaPipeline, MediaState, MediaType, SessionStats, WebRtcEndpoint,
};
use serde_json::{json, Map, Value};

use crate::core::{media_error, Core, EndpointOptions, Media, Object};
use crate::elements;
use crate::kurento::{self, complex, Class};
use crate::rpc::{Params, RpcError};

/// A snapshot of an object, taken under the core's lock, to call mediaflow without it.
pub(crate) struct Target {
    id: String,
    class: Class,
    media: Media,
    pipeline: String,
    children: Vec<String>,
    name: String,
    creation_time: u64,
    tags: Vec<(String, String)>,
    send_tags_in_events: bool,
    latency_stats: bool,
    endpoint: Option<Arc<EndpointInfo>>,
    pub(crate) uri_state: crate::elements::UriState,
}

impl Target {
    /// The object's Kurento id.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn of(id: &str, o: &Object) -> Target {
        Target {
            id: id.to_owned(),
            class: o.class,
            media: o.media.clone(),
            pipeline: o.pipeline.clone(),
            children: o.children.clone(),
            name: o.name.clone(),
            creation_time: o.creation_time,
            tags: o.tags.clone(),
            send_tags_in_events: o.send_tags_in_events,
            latency_stats: o.latency_stats,
            endpoint: o.endpoint.clone(),
            uri_state: o.uri_state.clone(),
        }
    }
}

/// What a WebRtcEndpoint is built with: the server's options, then what the application
/// set before negotiating.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct EndpointSettings {
    options: EndpointOptions,
    recvonly: bool,
    sendonly: bool,
    ice_tcp: bool,
    max_video_recv_kbps: u32,
    max_audio_recv_kbps: u32,
    min_video_recv_kbps: u32,
    min_video_send_kbps: u32,
    max_video_send_kbps: u32,
    /// The constructor's `useDataChannels`.
    pub(crate) use_data_channels: bool,
}

impl EndpointSettings {
    /// The server's options with the constructor's direction; Kurento's defaults.
    pub(crate) fn new(options: &EndpointOptions, recvonly: bool, sendonly: bool) -> Self {
        EndpointSettings {
            options: options.clone(),
            recvonly,
            sendonly,
            ice_tcp: false,
            max_video_recv_kbps: 0,
            max_audio_recv_kbps: 0,
            min_video_recv_kbps: 0,
            min_video_send_kbps: 100,
            max_video_send_kbps: 500,
            use_data_channels: false,
        }
    }

    /// Builds a mediaflow endpoint in `pipeline` with these settings.
    pub(crate) fn build(&self, pipeline: &MediaPipeline) -> mediaflow::Result<WebRtcEndpoint> {
        let opts = &self.options;
        let mut b = WebRtcEndpoint::builder(pipeline);
        if self.recvonly {
            b = b.recvonly();
        }
        if self.sendonly {
            b = b.sendonly();
        }
        if !opts.interfaces.is_empty() {
            b = b.network_interfaces(opts.interfaces.iter().cloned());
        }
        if let Some((min, max)) = opts.port_range {
            b = b.port_range(min, max);
        }
        if let Some((host, port)) = opts.stun.as_ref().filter(|(h, _)| !h.is_empty()) {
            b = b.stun_server_address(host.clone()).stun_server_port(*port);
        }
        if let Some(url) = &opts.turn_url {
            b = b.turn_url(url.clone());
        }
        if let Some(ip) = opts.external_ipv4 {
            b = b.external_ipv4(ip);
        }
        if let Some(ip) = opts.external_ipv6 {
            b = b.external_ipv6(ip);
        }
        if let Some(ms) = opts.max_playout_delay {
            b = b.max_playout_delay(ms);
        }
        if self.min_video_recv_kbps > 0 {
            b = b.min_video_recv_bandwidth(self.min_video_recv_kbps);
        }
        b.ice_tcp(self.ice_tcp)
            .use_data_channels(self.use_data_channels)
            .max_video_recv_bandwidth(self.max_video_recv_kbps)
            .max_audio_recv_bandwidth(self.max_audio_recv_kbps)
            .min_video_send_bandwidth(self.min_video_send_kbps)
            .max_video_send_bandwidth(self.max_video_send_kbps)
            .build()
    }
}

/// A WebRtcEndpoint's settings and its latest states (kept by a handler of its events,
/// for the state getters).
pub(crate) struct EndpointInfo {
    settings: Mutex<EndpointSettings>,
    live: Mutex<Live>,
}

#[derive(Default)]
struct Live {
    media_state: Option<MediaState>,
    connection_state: Option<ConnectionState>,
    ice: Vec<(u32, u32, IceComponentState)>,
    pair: Option<IceCandidatePair>,
    /// `gatherCandidates` was called: STUN/TURN settings can no longer change.
    gathering: bool,
}

impl EndpointInfo {
    pub(crate) fn new(settings: EndpointSettings) -> Arc<EndpointInfo> {
        Arc::new(EndpointInfo {
            settings: Mutex::new(settings),
            live: Mutex::new(Live::default()),
        })
    }

    /// Starts tracking `endpoint`'s states.
    pub(crate) fn track(self: &Arc<Self>, endpoint: &WebRtcEndpoint) {
        let weak: Weak<EndpointInfo> = Arc::downgrade(self);
        let tracked = endpoint.on_event(move |e| {
            if let Some(info) = weak.upgrade() {
                info.update(e);
            }
        });
        if let Err(e) = tracked {
            tracing::debug!("endpoint states not tracked: {e}");
        }
    }

    pub(crate) fn replace_settings(&self, settings: EndpointSettings) {
        *self.settings.lock().unwrap_or_else(|p| p.into_inner()) = settings;
    }

    fn settings(&self) -> EndpointSettings {
        self.settings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn update(&self, e: &Event) {
        let mut live = self.live();
        match e {
            Event::MediaStateChanged(m) => live.media_state = Some(m.new_state),
            Event::ConnectionStateChanged(c) => live.connection_state = Some(c.new_state),
            Event::IceComponentStateChanged(c) => {
                live.ice
                    .retain(|(s, k, _)| (*s, *k) != (c.stream_id, c.component_id));
                live.ice.push((c.stream_id, c.component_id, c.state));
            }
            Event::NewCandidatePairSelected(p) => live.pair = Some(p.candidate_pair.clone()),
            _ => {}
        }
    }
}

pub(crate) type Op = Result<Option<Value>, RpcError>;

/// Tags one object may have.
const MAX_TAGS: usize = 64;
/// Longest name, tag key or tag value.
const MAX_TEXT: usize = 4096;

fn bounded<'a>(text: &'a str, name: &str) -> Result<&'a str, RpcError> {
    if text.len() > MAX_TEXT {
        return Err(RpcError::illegal_param(format!(
            "'{name}' is longer than {MAX_TEXT} bytes"
        )));
    }
    Ok(text)
}

fn media_type(args: &Map<String, Value>, name: &str) -> Result<Option<MediaType>, RpcError> {
    match args.opt_str(name)? {
        None => Ok(None),
        Some(s) => MediaType::parse(s).map(Some).ok_or_else(|| {
            RpcError::illegal_param(format!("'{name}' must be AUDIO, VIDEO or DATA, not {s:?}"))
        }),
    }
}

fn required_media_type(args: &Map<String, Value>) -> Result<MediaType, RpcError> {
    media_type(args, "mediaType")?
        .ok_or_else(|| RpcError::invalid_params("'mediaType' is required"))
}

/// Runs `operation` of the ServerManager.
pub(crate) fn server_manager(
    core: &Core,
    operation: &str,
    _args: &Map<String, Value>,
) -> Result<Value, RpcError> {
    Ok(match operation {
        "getInfo" => kurento::server_info(),
        "getPipelines" | "getChildren" | "getChilds" => json!(core.pipelines()),
        "getSessions" => json!(core.sessions()),
        "getMetadata" => json!({
            "server": "mediaflow-server",
            "version": env!("CARGO_PKG_VERSION"),
            "protocol": format!("Kurento {}", kurento::KMS_VERSION),
        })
        .to_string()
        .into(),
        "getKmsVersion" => kurento::KMS_VERSION.into(),
        "getUsedMemory" => used_memory_kib().into(),
        "getCpuCount" => std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .into(),
        "getName" => "ServerManager".into(),
        "getTags" => json!([]),
        "getSendTagsInEvents" => false.into(),
        "getCreationTime" => 0.into(),
        _ => {
            return Err(RpcError::operation_not_found(format!(
                "ServerManager has no operation '{operation}'"
            )))
        }
    })
}

/// This process's resident memory, in KiB (`getUsedMemory`).
fn used_memory_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Runs `operation` on a pipeline or an element.
pub(crate) fn object(
    core: &Core,
    t: &Target,
    operation: &str,
    args: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let handled = match media_object(core, t, operation, args)? {
        Some(v) => Some(v),
        None => match &t.media {
            Media::Pipeline(_) => pipeline(core, t, operation, args)?,
            Media::WebRtc(e) => match element(core, t, e, operation, args)? {
                Some(v) => Some(v),
                None => webrtc(core, t, e, operation, args)?,
            },
            Media::PassThrough(e) => element(core, t, e, operation, args)?,
            Media::Recorder(e) => match element(core, t, e, operation, args)? {
                Some(v) => Some(v),
                None => elements::recorder(core, t, e, operation, args)?,
            },
            Media::Player(e) => match element(core, t, e, operation, args)? {
                Some(v) => Some(v),
                None => elements::player(core, t, e, operation, args)?,
            },
            Media::Rtp(e) => match element(core, t, e, operation, args)? {
                Some(v) => Some(v),
                None => elements::rtp(e, operation, args)?,
            },
        },
    };
    handled.ok_or_else(|| {
        RpcError::operation_not_found(format!("{} has no operation '{operation}'", t.class.name()))
    })
}

/// Changes the registry's record of the object (name, tags...); 40101 if it is gone.
pub(crate) fn update(core: &Core, id: &str, f: impl FnOnce(&mut Object)) -> Result<(), RpcError> {
    let mut state = core.state();
    let o = state
        .objects
        .get_mut(id)
        .ok_or_else(|| crate::core::not_found(id))?;
    f(o);
    Ok(())
}

/// MediaObject's operations (every class).
fn media_object(core: &Core, t: &Target, op: &str, args: &Map<String, Value>) -> Op {
    let element = t.media.element();
    Ok(Some(match op {
        "getName" => {
            let name = if t.name.is_empty() { &t.id } else { &t.name };
            name.as_str().into()
        }
        "setName" => {
            let name = bounded(args.str_param("name")?, "name")?.to_owned();
            update(core, &t.id, |o| o.name = name)?;
            Value::Null
        }
        "getMediaPipeline" => t.pipeline.as_str().into(),
        "getParent" => match t.class {
            Class::MediaPipeline => Value::Null,
            _ => t.pipeline.as_str().into(),
        },
        "getChildren" | "getChilds" => json!(t.children),
        "getCreationTime" => t.creation_time.into(),
        "getSendTagsInEvents" => t.send_tags_in_events.into(),
        "setSendTagsInEvents" => {
            let send = args
                .opt_bool("sendTagsInEvents")?
                .ok_or_else(|| RpcError::invalid_params("'sendTagsInEvents' is required"))?;
            if let Some(e) = element {
                e.set_send_tags_in_events(send).map_err(media_error)?;
            }
            update(core, &t.id, |o| o.send_tags_in_events = send)?;
            Value::Null
        }
        "addTag" => {
            let key = bounded(args.str_param("key")?, "key")?;
            let value = bounded(args.str_param("value")?, "value")?;
            let tags = match element {
                Some(e) => e.get_tags().map_err(media_error)?,
                None => t.tags.clone(),
            };
            if tags.len() >= MAX_TAGS && !tags.iter().any(|(k, _)| k == key) {
                return Err(RpcError::not_enough_resources(format!(
                    "too many tags (at most {MAX_TAGS})"
                )));
            }
            match element {
                Some(e) => e.add_tag(key, value).map_err(media_error)?,
                None => {
                    let (key, value) = (key.to_owned(), value.to_owned());
                    update(core, &t.id, |o| {
                        match o.tags.iter_mut().find(|(k, _)| *k == key) {
                            Some(tag) => tag.1 = value,
                            None => o.tags.push((key, value)),
                        }
                    })?;
                }
            }
            Value::Null
        }
        "removeTag" => {
            let key = args.str_param("key")?;
            match element {
                Some(e) => e.remove_tag(key).map_err(media_error)?,
                None => {
                    let key = key.to_owned();
                    update(core, &t.id, |o| o.tags.retain(|(k, _)| *k != key))?;
                }
            }
            Value::Null
        }
        "getTag" => {
            let key = args.str_param("key")?;
            let value = match element {
                Some(e) => e.get_tag(key).map_err(media_error)?,
                None => t
                    .tags
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.clone()),
            };
            value
                .ok_or_else(|| RpcError::tag_not_found(format!("Tag key '{key}' not found")))?
                .into()
        }
        "getTags" => match element {
            Some(e) => kurento::tags(&e.get_tags().map_err(media_error)?),
            None => kurento::tags(&t.tags),
        },
        _ => return Ok(None),
    }))
}

/// MediaPipeline's own operations.
fn pipeline(core: &Core, t: &Target, op: &str, args: &Map<String, Value>) -> Op {
    Ok(Some(match op {
        "getLatencyStats" => t.latency_stats.into(),
        "setLatencyStats" => {
            let on = args
                .opt_bool("latencyStats")?
                .ok_or_else(|| RpcError::invalid_params("'latencyStats' is required"))?;
            update(core, &t.id, |o| o.latency_stats = on)?;
            Value::Null
        }
        _ => return Ok(None),
    }))
}

fn connection_data(core: &Core, c: &mediaflow::ElementConnectionData) -> Value {
    complex(
        "ElementConnectionData",
        json!({
            "source": core.kurento_id(c.source.id()),
            "sink": core.kurento_id(c.sink.id()),
            "type": c.media_type.as_str(),
            "sourceDescription": c.source_description,
            "sinkDescription": c.sink_description,
        }),
    )
}

/// MediaElement's operations.
fn element(core: &Core, t: &Target, e: &MediaElement, op: &str, args: &Map<String, Value>) -> Op {
    Ok(Some(match op {
        "connect" | "disconnect" => {
            let sink = core.element_of(args.str_param("sink")?, &t.pipeline)?;
            let media = media_type(args, "mediaType")?;
            let result = match (op, media) {
                ("connect", None) => e.connect(&sink),
                ("connect", Some(m)) => e.connect_media(&sink, m),
                (_, None) => e.disconnect(&sink),
                (_, Some(m)) => e.disconnect_media(&sink, m),
            };
            match result {
                Ok(()) | Err(mediaflow::Error::NotConnected { .. }) => Value::Null,
                Err(err) => return Err(media_error(err)),
            }
        }
        "getSourceConnections" | "getSinkConnections" => {
            let media = media_type(args, "mediaType")?;
            let conns = if op == "getSourceConnections" {
                e.get_source_connections(media)
            } else {
                e.get_sink_connections(media)
            }
            .map_err(media_error)?;
            Value::Array(conns.iter().map(|c| connection_data(core, c)).collect())
        }
        "isMediaFlowingIn" => e
            .is_media_flowing_in(required_media_type(args)?)
            .map_err(media_error)?
            .into(),
        "isMediaFlowingOut" => e
            .is_media_flowing_out(required_media_type(args)?)
            .map_err(media_error)?
            .into(),
        "getStats" => {
            let media = media_type(args, "mediaType")?;
            match &t.media {
                Media::WebRtc(w) => stats(w.get_stats().map_err(media_error)?, &t.id, media),
                Media::Rtp(r) => stats(r.get_stats().map_err(media_error)?, &t.id, media),
                _ if e.is_released() => return Err(crate::core::not_found(&t.id)),
                _ => json!({}),
            }
        }
        _ => return Ok(None),
    }))
}

fn kind_matches(kind: Option<MediaKind>, wanted: Option<MediaType>) -> bool {
    matches!(
        (wanted, kind),
        (None, _)
            | (Some(MediaType::Audio), Some(MediaKind::Audio))
            | (Some(MediaType::Video), Some(MediaKind::Video))
    )
}

fn kind_name(kind: Option<MediaKind>) -> &'static str {
    match kind {
        Some(MediaKind::Audio) => "audio",
        Some(MediaKind::Video) => "video",
        None => "",
    }
}

/// Adds one RTP stream's stats: the fields every stream has, then `own`.
fn rtp_stats(
    out: &mut Map<String, Value>,
    type_name: &str,
    stats_type: &str,
    ssrc: u32,
    kind: Option<MediaKind>,
    ms: u64,
    own: Value,
) {
    let id = format!("{stats_type}-{ssrc}");
    let mut fields = json!({
        "id": id, "type": stats_type, "timestamp": ms as f64 / 1000.0, "timestampMillis": ms,
        "ssrc": ssrc.to_string(), "kind": kind_name(kind), "isRemote": false,
    });
    if let (Value::Object(f), Value::Object(own)) = (&mut fields, own) {
        f.extend(own);
    }
    out.insert(id, complex(type_name, fields));
}

/// `getStats` as Kurento shapes it: a map of id → RTC stats (complex types).
fn stats(s: SessionStats, id: &str, wanted: Option<MediaType>) -> Value {
    let ms = kurento::now_millis();
    let timestamp = ms as f64 / 1000.0;
    let mut out = Map::new();
    for i in s.inbound.iter().filter(|i| kind_matches(i.kind, wanted)) {
        let own = json!({
            "packetsReceived": i.packets_received, "bytesReceived": i.bytes_received,
            "packetsLost": i.packets_lost, "jitter": i.jitter, "nackCount": i.nack_count,
            "pliCount": i.pli_count, "firCount": i.fir_count,
        });
        rtp_stats(
            &mut out,
            "RTCInboundRTPStreamStats",
            "inboundrtp",
            i.ssrc,
            i.kind,
            ms,
            own,
        );
    }
    for o in s.outbound.iter().filter(|o| kind_matches(o.kind, wanted)) {
        let own = json!({
            "packetsSent": o.packets_sent, "bytesSent": o.bytes_sent,
            "retransmittedPacketsSent": o.retransmitted_packets_sent,
            "nackCount": o.nack_count, "pliCount": o.pli_count, "firCount": o.fir_count,
            "roundTripTime": o.round_trip_time, "fractionLost": o.fraction_lost,
            "remb": s.remote_estimated_bitrate,
        });
        rtp_stats(
            &mut out,
            "RTCOutboundRTPStreamStats",
            "outboundrtp",
            o.ssrc,
            o.kind,
            ms,
            own,
        );
    }
    out.insert(
        id.to_owned(),
        complex(
            "EndpointStats",
            json!({
                "id": id, "type": "endpoint", "timestamp": timestamp, "timestampMillis": ms,
                "srtpCipher": s.srtp_cipher, "datagramsDiscarded": s.datagrams_discarded,
                "srtpPacketsDiscarded": s.srtp_packets_discarded,
                "mediaNotSent": s.media_not_sent,
            }),
        ),
    );
    Value::Object(out)
}

/// WebRtcEndpoint's (and SdpEndpoint's, BaseRtpEndpoint's) operations.
fn webrtc(core: &Core, t: &Target, e: &WebRtcEndpoint, op: &str, args: &Map<String, Value>) -> Op {
    let info = t.endpoint.as_deref();
    let settings = info.map_or_else(
        || EndpointSettings::new(&EndpointOptions::default(), false, false),
        |i| i.settings(),
    );
    if let Some(v) = elements::sdp(e, op, args)? {
        return Ok(Some(v));
    }
    if let Some(v) = webrtc_ice(e, info, op, args)? {
        return Ok(Some(v));
    }
    if let Some(v) = webrtc_data_channels(e, op, args)? {
        return Ok(Some(v));
    }
    if let Some(v) = built_property(&settings, op) {
        return Ok(Some(v));
    }
    Ok(Some(match op {
        "requestKeyframe" => {
            e.request_keyframe().map_err(media_error)?;
            Value::Null
        }
        "getMediaState" => {
            let s = info.and_then(|i| i.live().media_state);
            kurento::media_state(s.unwrap_or(MediaState::Disconnected)).into()
        }
        "getConnectionState" => {
            let s = info.and_then(|i| i.live().connection_state);
            kurento::connection_state(s.unwrap_or(ConnectionState::Disconnected)).into()
        }
        "setStunServerAddress"
        | "setStunServerPort"
        | "setTurnUrl"
        | "setNetworkInterfaces"
        | "setExternalIPv4"
        | "setExternalIPv6"
        | "setIceTcp"
        | "setMaxVideoRecvBandwidth"
        | "setMaxAudioRecvBandwidth"
        | "setMinVideoRecvBandwidth"
        | "setMinVideoSendBandwidth"
        | "setMaxVideoSendBandwidth" => {
            let Some(info) = info else {
                return Ok(None);
            };
            set_built_property(core, t, e, info, op, args)?;
            Value::Null
        }
        "setMtu" | "setExternalAddress" => {
            return Err(RpcError::not_implemented(format!(
                "{op}: mediaflow has no such setting yet"
            )))
        }
        _ => return Ok(None),
    }))
}

/// A WebRtcEndpoint's ICE operations and states.
fn webrtc_ice(
    e: &WebRtcEndpoint,
    info: Option<&EndpointInfo>,
    op: &str,
    args: &Map<String, Value>,
) -> Op {
    use mediaflow::Error as E;
    Ok(Some(match op {
        "gatherCandidates" => {
            if let Some(info) = info {
                info.live().gathering = true;
            }
            e.gather_candidates().map_err(|err| match err {
                E::ElementReleased(_) | E::PipelineReleased => media_error(err),
                other => RpcError::gather_candidates(other.to_string()),
            })?;
            Value::Null
        }
        "addIceCandidate" => {
            let raw = args
                .get("candidate")
                .ok_or_else(|| RpcError::invalid_params("'candidate' is required"))?;
            let candidate = kurento::parse_ice_candidate(raw).ok_or_else(|| {
                RpcError::add_candidate(
                    "candidate must be an IceCandidate {candidate, sdpMid, sdpMLineIndex}",
                )
            })?;
            e.add_ice_candidate(candidate).map_err(|err| match err {
                E::ElementReleased(_) | E::PipelineReleased => media_error(err),
                other => RpcError::add_candidate(other.to_string()),
            })?;
            Value::Null
        }
        "getIceConnectionState" => {
            let ice = info.map(|i| i.live().ice.clone()).unwrap_or_default();
            Value::Array(
                ice.iter()
                    .map(|(s, c, state)| {
                        complex(
                            "IceConnection",
                            json!({"streamId": s.to_string(), "componentId": c,
                                "state": state.as_str()}),
                        )
                    })
                    .collect(),
            )
        }
        "getICECandidatePairs" => {
            let pair = info.and_then(|i| i.live().pair.clone());
            Value::Array(pair.iter().map(kurento::ice_candidate_pair).collect())
        }
        _ => return Ok(None),
    }))
}

/// A WebRtcEndpoint's data-channel operations.
fn webrtc_data_channels(e: &WebRtcEndpoint, op: &str, args: &Map<String, Value>) -> Op {
    Ok(Some(match op {
        "createDataChannel" => {
            // Kurento's -1 defaults mean "not set"; our id is not part of its reply.
            let limit = |name: &str| match args.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => match v.as_i64() {
                    Some(n) if n < 0 => Ok(None),
                    Some(n) => u16::try_from(n).map(Some).map_err(|_| {
                        RpcError::invalid_params(format!("'{name}' is at most 65535"))
                    }),
                    None => Err(RpcError::invalid_params(format!(
                        "'{name}' must be an integer"
                    ))),
                },
            };
            e.create_data_channel(
                args.opt_str("label")?.unwrap_or(""),
                args.opt_bool("ordered")?.unwrap_or(true),
                limit("maxPacketLifeTime")?,
                limit("maxRetransmits")?,
                args.opt_str("protocol")?.unwrap_or(""),
            )
            .map_err(media_error)?;
            Value::Null
        }
        "closeDataChannel" => {
            let id = args
                .opt_u64("channelId")?
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(|| RpcError::invalid_params("'channelId' is a channel id"))?;
            e.close_data_channel(id).map_err(media_error)?;
            Value::Null
        }
        _ => return Ok(None),
    }))
}

/// The getters of the properties an endpoint is built with.
fn built_property(settings: &EndpointSettings, op: &str) -> Option<Value> {
    let opts = &settings.options;
    let ip = |ip: Option<String>| ip.unwrap_or_default().into();
    Some(match op {
        "getStunServerAddress" => opts.stun.as_ref().map_or("", |s| &s.0).into(),
        "getStunServerPort" => opts.stun.as_ref().map_or(3478, |s| s.1).into(),
        "getTurnUrl" => opts.turn_url.as_deref().unwrap_or_default().into(),
        "getNetworkInterfaces" => opts.interfaces.join(",").into(),
        "getExternalIPv4" => ip(opts.external_ipv4.map(|i| i.to_string())),
        "getExternalIPv6" => ip(opts.external_ipv6.map(|i| i.to_string())),
        "getIceTcp" => settings.ice_tcp.into(),
        "getMtu" => 1200.into(),
        "getMaxVideoRecvBandwidth" => settings.max_video_recv_kbps.into(),
        "getMinVideoRecvBandwidth" => settings.min_video_recv_kbps.into(),
        "getMinVideoSendBandwidth" => settings.min_video_send_kbps.into(),
        "getMaxVideoSendBandwidth" => settings.max_video_send_kbps.into(),
        "getMaxAudioRecvBandwidth" => settings.max_audio_recv_kbps.into(),
        _ => return None,
    })
}

/// Sets a property mediaflow takes when it builds an endpoint: before any negotiation
/// the endpoint is rebuilt with it (links, tags and subscriptions kept); after, 40111.
fn set_built_property(
    core: &Core,
    t: &Target,
    e: &WebRtcEndpoint,
    info: &EndpointInfo,
    op: &str,
    args: &Map<String, Value>,
) -> Result<(), RpcError> {
    let mut s = info.settings();
    apply_setting(&mut s, op, args)?;
    if s == info.settings() {
        return Ok(());
    }
    let negotiated = e
        .get_local_session_descriptor()
        .map_err(media_error)?
        .is_some()
        || e.get_remote_session_descriptor()
            .map_err(media_error)?
            .is_some()
        || info.live().gathering;
    if negotiated {
        return Err(RpcError::operation_not_supported(format!(
            "{op}: mediaflow applies this when it builds an endpoint, so it can be set only \
             before processOffer, generateOffer and gatherCandidates"
        )));
    }
    core.rebuild_endpoint(&t.id, s)
}

/// What setter `op` (one of those [`webrtc`] hands to [`set_built_property`]) changes.
fn apply_setting(
    s: &mut EndpointSettings,
    op: &str,
    args: &Map<String, Value>,
) -> Result<(), RpcError> {
    // setStunServerAddress {stunServerAddress}, setIceTcp {iceTcp}...
    let name = {
        let rest = op.get(3..).unwrap_or_default();
        let mut chars = rest.chars();
        chars.next().map_or_else(String::new, |c| {
            c.to_ascii_lowercase().to_string() + chars.as_str()
        })
    };
    let kbps = || -> Result<u32, RpcError> {
        let v = args
            .opt_u64(&name)?
            .ok_or_else(|| RpcError::invalid_params(format!("'{name}' is required")))?;
        u32::try_from(v).map_err(|_| RpcError::illegal_param(format!("'{name}' is too large")))
    };
    let text = || args.str_param(&name).map(str::trim).map(str::to_owned);
    let ip = |s: String| -> Result<Option<std::net::IpAddr>, RpcError> {
        if s.is_empty() {
            return Ok(None);
        }
        s.parse()
            .map(Some)
            .map_err(|_| RpcError::illegal_param(format!("'{name}' is not an IP address: {s:?}")))
    };
    let o = &mut s.options;
    match op {
        "setStunServerAddress" => {
            let host = text()?;
            let port = o.stun.as_ref().map_or(3478, |s| s.1);
            o.stun = Some((host, port));
        }
        "setStunServerPort" => {
            let port = args
                .opt_u64(&name)?
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| RpcError::illegal_param(format!("'{name}' must be a port")))?;
            let host = o.stun.take().map(|s| s.0).unwrap_or_default();
            o.stun = Some((host, port));
        }
        "setTurnUrl" => o.turn_url = Some(text()?).filter(|u| !u.is_empty()),
        "setNetworkInterfaces" => {
            o.interfaces = text()?
                .split(',')
                .map(str::trim)
                .filter(|i| !i.is_empty())
                .map(str::to_owned)
                .collect();
        }
        "setExternalIPv4" => {
            o.external_ipv4 = match ip(text()?)? {
                Some(std::net::IpAddr::V4(v4)) => Some(v4),
                None => None,
                Some(_) => return Err(RpcError::illegal_param(format!("'{name}' is not IPv4"))),
            }
        }
        "setExternalIPv6" => {
            o.external_ipv6 = match ip(text()?)? {
                Some(std::net::IpAddr::V6(v6)) => Some(v6),
                None => None,
                Some(_) => return Err(RpcError::illegal_param(format!("'{name}' is not IPv6"))),
            }
        }
        "setIceTcp" => {
            s.ice_tcp = args
                .opt_bool(&name)?
                .ok_or_else(|| RpcError::invalid_params(format!("'{name}' is required")))?;
        }
        "setMaxVideoRecvBandwidth" => s.max_video_recv_kbps = kbps()?,
        "setMaxAudioRecvBandwidth" => s.max_audio_recv_kbps = kbps()?,
        "setMinVideoRecvBandwidth" => s.min_video_recv_kbps = kbps()?,
        "setMinVideoSendBandwidth" => s.min_video_send_kbps = kbps()?,
        _ => s.max_video_send_kbps = kbps()?,
    }
    Ok(())
}
