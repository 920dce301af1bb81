//! Kurento's vocabulary on the wire: classes and their hierarchy, the events each class
//! raises, complex types (`__module__` / `__type__`) and enum spellings.

use std::time::{SystemTime, UNIX_EPOCH};

use mediaflow::{
    ConnectionState, DtlsConnectionState, Event, IceCandidate, IceCandidatePair, MediaState,
};
use serde_json::{json, Map, Value};

/// The id of the one ServerManager.
pub const SERVER_MANAGER: &str = "manager_ServerManager";

/// The Kurento version this server speaks (what `getKmsVersion` and `getInfo` report).
pub const KMS_VERSION: &str = "7.3.0";

/// The classes the server can create (and the ServerManager).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// `kurento.ServerManager`.
    ServerManager,
    /// `kurento.MediaPipeline`.
    MediaPipeline,
    /// `kurento.WebRtcEndpoint`.
    WebRtcEndpoint,
    /// `kurento.PassThrough`.
    PassThrough,
    /// `kurento.RecorderEndpoint`.
    RecorderEndpoint,
    /// `kurento.RtpEndpoint`.
    RtpEndpoint,
    /// `kurento.PlayerEndpoint`.
    PlayerEndpoint,
}

const MEDIA_OBJECT_EVENTS: &[&str] = &["Error"];
const MEDIA_ELEMENT_EVENTS: &[&str] = &[
    "ElementConnected",
    "ElementDisconnected",
    "MediaFlowOutStateChanged",
    "MediaFlowInStateChanged",
    "MediaTranscodingStateChanged",
];
const SESSION_ENDPOINT_EVENTS: &[&str] = &["MediaSessionTerminated", "MediaSessionStarted"];
const BASE_RTP_EVENTS: &[&str] = &["MediaStateChanged", "ConnectionStateChanged"];
const WEBRTC_EVENTS: &[&str] = &[
    "IceCandidateFound",
    "IceGatheringDone",
    "IceComponentStateChanged",
    "NewCandidatePairSelected",
    "DtlsConnectionStateChange",
    "DataChannelOpened",
    "DataChannelClosed",
];
const SERVER_MANAGER_EVENTS: &[&str] = &["ObjectCreated", "ObjectDestroyed"];
const URI_ENDPOINT_EVENTS: &[&str] = &["UriEndpointStateChanged"];
const RECORDER_EVENTS: &[&str] = &["Recording", "Paused", "Stopped"];
const PLAYER_EVENTS: &[&str] = &["EndOfStream"];
const RTP_EVENTS: &[&str] = &["OnKeySoftLimit"];

impl Class {
    /// Reads a type name of `create`/`describe`, qualified (`kurento.WebRtcEndpoint`) or
    /// not.
    pub fn parse_creatable(name: &str) -> Option<Class> {
        match name.strip_prefix("kurento.").unwrap_or(name) {
            "MediaPipeline" => Some(Class::MediaPipeline),
            "WebRtcEndpoint" => Some(Class::WebRtcEndpoint),
            "PassThrough" => Some(Class::PassThrough),
            "RecorderEndpoint" => Some(Class::RecorderEndpoint),
            "RtpEndpoint" => Some(Class::RtpEndpoint),
            "PlayerEndpoint" => Some(Class::PlayerEndpoint),
            _ => None,
        }
    }

    /// The class name (`WebRtcEndpoint`).
    pub fn name(self) -> &'static str {
        match self {
            Class::ServerManager => "ServerManager",
            Class::MediaPipeline => "MediaPipeline",
            Class::WebRtcEndpoint => "WebRtcEndpoint",
            Class::PassThrough => "PassThrough",
            Class::RecorderEndpoint => "RecorderEndpoint",
            Class::RtpEndpoint => "RtpEndpoint",
            Class::PlayerEndpoint => "PlayerEndpoint",
        }
    }

    /// Its ancestors, nearest first, qualified (as `describe` answers).
    pub fn hierarchy(self) -> &'static [&'static str] {
        match self {
            Class::ServerManager | Class::MediaPipeline => &["kurento.MediaObject"],
            Class::WebRtcEndpoint | Class::RtpEndpoint => &[
                "kurento.BaseRtpEndpoint",
                "kurento.SdpEndpoint",
                "kurento.SessionEndpoint",
                "kurento.Endpoint",
                "kurento.MediaElement",
                "kurento.MediaObject",
            ],
            Class::PassThrough => &[
                "kurento.Filter",
                "kurento.MediaElement",
                "kurento.MediaObject",
            ],
            Class::RecorderEndpoint | Class::PlayerEndpoint => &[
                "kurento.UriEndpoint",
                "kurento.Endpoint",
                "kurento.MediaElement",
                "kurento.MediaObject",
            ],
        }
    }

    /// True when objects of this class may raise events of `event_type`.
    pub fn raises(self, event_type: &str) -> bool {
        let groups: &[&[&str]] = match self {
            Class::ServerManager => &[MEDIA_OBJECT_EVENTS, SERVER_MANAGER_EVENTS],
            Class::MediaPipeline => &[MEDIA_OBJECT_EVENTS],
            Class::PassThrough => &[MEDIA_OBJECT_EVENTS, MEDIA_ELEMENT_EVENTS],
            Class::WebRtcEndpoint => &[
                MEDIA_OBJECT_EVENTS,
                MEDIA_ELEMENT_EVENTS,
                SESSION_ENDPOINT_EVENTS,
                BASE_RTP_EVENTS,
                WEBRTC_EVENTS,
            ],
            Class::RtpEndpoint => &[
                MEDIA_OBJECT_EVENTS,
                MEDIA_ELEMENT_EVENTS,
                SESSION_ENDPOINT_EVENTS,
                BASE_RTP_EVENTS,
                RTP_EVENTS,
            ],
            Class::RecorderEndpoint => &[
                MEDIA_OBJECT_EVENTS,
                MEDIA_ELEMENT_EVENTS,
                URI_ENDPOINT_EVENTS,
                RECORDER_EVENTS,
            ],
            Class::PlayerEndpoint => &[
                MEDIA_OBJECT_EVENTS,
                MEDIA_ELEMENT_EVENTS,
                URI_ENDPOINT_EVENTS,
                PLAYER_EVENTS,
            ],
        };
        groups.iter().any(|g| g.contains(&event_type))
    }

    /// `describe`'s answer (without the session id).
    pub fn describe(self) -> Value {
        json!({
            "type": self.name(),
            "qualifiedType": format!("kurento.{}", self.name()),
            "hierarchy": self.hierarchy(),
        })
    }
}

/// A value of a Kurento complex type: `fields` plus `__module__` and `__type__`.
pub fn complex(type_name: &str, fields: Value) -> Value {
    let mut map = match fields {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    map.insert("__module__".into(), "kurento".into());
    map.insert("__type__".into(), type_name.into());
    Value::Object(map)
}

/// Kurento's `IceCandidate`.
pub fn ice_candidate(c: &IceCandidate) -> Value {
    complex(
        "IceCandidate",
        json!({"candidate": c.candidate, "sdpMid": c.sdp_mid, "sdpMLineIndex": c.sdp_m_line_index}),
    )
}

/// Reads Kurento's `IceCandidate` (`addIceCandidate`'s parameter).
pub fn parse_ice_candidate(v: &Value) -> Option<IceCandidate> {
    let o = v.as_object()?;
    let candidate = o.get("candidate")?.as_str()?.to_owned();
    let sdp_mid = match o.get("sdpMid") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let sdp_m_line_index = match o.get("sdpMLineIndex") {
        Some(v) => u32::try_from(v.as_u64()?).ok()?,
        None => 0,
    };
    Some(IceCandidate {
        candidate,
        sdp_mid,
        sdp_m_line_index,
    })
}

/// Kurento's `IceCandidatePair`.
pub fn ice_candidate_pair(p: &IceCandidatePair) -> Value {
    complex(
        "IceCandidatePair",
        json!({
            "streamId": p.stream_id,
            "componentId": p.component_id,
            "localCandidate": p.local_candidate,
            "remoteCandidate": p.remote_candidate,
        }),
    )
}

/// Kurento's `Tag` list.
pub fn tags(tags: &[(String, String)]) -> Value {
    Value::Array(
        tags.iter()
            .map(|(k, v)| complex("Tag", json!({"key": k, "value": v})))
            .collect(),
    )
}

/// Kurento's `ConnectionState` spelling.
pub fn connection_state(s: ConnectionState) -> &'static str {
    match s {
        ConnectionState::Disconnected => "DISCONNECTED",
        ConnectionState::Connected => "CONNECTED",
    }
}

/// Kurento's `MediaState` spelling.
pub fn media_state(s: MediaState) -> &'static str {
    match s {
        MediaState::Disconnected => "DISCONNECTED",
        MediaState::Connected => "CONNECTED",
    }
}

/// Kurento's `DtlsConnectionState` spelling.
pub fn dtls_state(s: DtlsConnectionState) -> &'static str {
    match s {
        DtlsConnectionState::New => "NEW",
        DtlsConnectionState::Connecting => "CONNECTING",
        DtlsConnectionState::Connected => "CONNECTED",
        DtlsConnectionState::Closed => "CLOSED",
        DtlsConnectionState::Failed => "FAILED",
    }
}

/// Milliseconds since the Unix epoch, as Kurento's events carry them (a string).
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The `data` of an `onEvent` for `event`, raised by the object `source`; `id_of` maps
/// mediaflow's element ids (an ElementConnected's sink) to Kurento ids.
pub fn event_data(event: &Event, source: &str, id_of: &dyn Fn(&str) -> String) -> Value {
    let mut data = Map::new();
    data.insert("source".into(), source.into());
    data.insert("type".into(), event.type_name().into());
    data.insert(
        "timestampMillis".into(),
        event.timestamp_millis().to_string().into(),
    );
    data.insert("tags".into(), tags(event.tags()));
    let own = match event {
        Event::Error(e) => json!({
            "description": e.description,
            "errorCode": e.error_code,
            "type": e.error_type.as_str(),
        }),
        Event::ElementConnected(e) => json!({
            "sink": id_of(&e.sink),
            "mediaType": e.media_type.as_str(),
            "sourceMediaDescription": e.source_media_description,
            "sinkMediaDescription": e.sink_media_description,
        }),
        Event::ElementDisconnected(e) => json!({
            "sink": id_of(&e.sink),
            "mediaType": e.media_type.as_str(),
            "sourceMediaDescription": e.source_media_description,
            "sinkMediaDescription": e.sink_media_description,
        }),
        Event::MediaFlowInStateChanged(e) => json!({
            "state": e.state.as_str(), "padName": e.pad_name, "mediaType": e.media_type.as_str(),
        }),
        Event::MediaFlowOutStateChanged(e) => json!({
            "state": e.state.as_str(), "padName": e.pad_name, "mediaType": e.media_type.as_str(),
        }),
        Event::MediaTranscodingStateChanged(e) => json!({
            "state": e.state.as_str(), "binName": e.bin_name, "mediaType": e.media_type.as_str(),
        }),
        Event::MediaStateChanged(e) => json!({
            "oldState": media_state(e.old_state), "newState": media_state(e.new_state),
        }),
        Event::ConnectionStateChanged(e) => json!({
            "oldState": connection_state(e.old_state),
            "newState": connection_state(e.new_state),
        }),
        Event::IceCandidateFound(e) => json!({"candidate": ice_candidate(&e.candidate)}),
        Event::IceGatheringDone(_) => json!({}),
        Event::IceComponentStateChanged(e) => json!({
            "streamId": e.stream_id, "componentId": e.component_id, "state": e.state.as_str(),
        }),
        Event::NewCandidatePairSelected(e) => {
            json!({"candidatePair": ice_candidate_pair(&e.candidate_pair)})
        }
        Event::DtlsConnectionStateChange(e) => json!({
            "streamId": e.stream_id,
            "componentId": e.component_id,
            "connectionId": e.connection_id,
            "state": dtls_state(e.state),
        }),
        Event::Recording(_) | Event::Paused(_) | Event::Stopped(_) => json!({}),
        Event::DataChannelOpened(e) => json!({"channelId": e.channel_id}),
        Event::DataChannelClosed(e) => json!({"channelId": e.channel_id}),
        Event::EndOfStream(_) => json!({}),
    };
    if let Value::Object(own) = own {
        data.extend(own);
    }
    Value::Object(data)
}

/// Kurento's `UriEndpointState` a recorder's own event puts it in (Recording: START,
/// Paused: PAUSE, Stopped: STOP), for UriEndpointStateChanged.
pub fn uri_endpoint_state(event: &Event) -> Option<&'static str> {
    match event {
        Event::Recording(_) => Some("START"),
        Event::Paused(_) => Some("PAUSE"),
        Event::Stopped(_) => Some("STOP"),
        _ => None,
    }
}

/// The `data` of a UriEndpointStateChanged, raised by `source` with `event` (one of
/// the recorder's own events, whose time and tags it takes).
pub fn uri_endpoint_state_changed(event: &Event, source: &str) -> Option<Value> {
    let state = uri_endpoint_state(event)?;
    Some(json!({
        "source": source,
        "type": "UriEndpointStateChanged",
        "timestampMillis": event.timestamp_millis().to_string(),
        "tags": tags(event.tags()),
        "state": state,
    }))
}

/// The `params` of an `onEvent` notification.
pub fn on_event(object: &str, event_type: &str, data: Value) -> Value {
    json!({"value": {"object": object, "type": event_type, "data": data}})
}

/// The `data` of a ServerManager's ObjectCreated / ObjectDestroyed.
pub fn object_event_data(event_type: &str, object: &str) -> Value {
    json!({
        "source": SERVER_MANAGER,
        "type": event_type,
        "timestampMillis": now_millis().to_string(),
        "tags": [],
        "object": object,
    })
}

/// `ServerManager.getInfo`: the modules (`core`, `elements`, `filters` — the JS client
/// refuses a server without one of them) and their factories.
pub fn server_info() -> Value {
    let module = |name: &str, factories: &[&str]| {
        complex(
            "ModuleInfo",
            json!({
                "name": name,
                "version": KMS_VERSION,
                "generationTime": "mediaflow",
                "factories": factories,
            }),
        )
    };
    complex(
        "ServerInfo",
        json!({
            "version": KMS_VERSION,
            "modules": [
                module("core", &["MediaPipeline", "PassThrough"]),
                module(
                    "elements",
                    &["WebRtcEndpoint", "RtpEndpoint", "RecorderEndpoint", "PlayerEndpoint"],
                ),
                module("filters", &[]),
            ],
            "type": "KMS",
            "capabilities": ["transactions"],
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use mediaflow::{IceCandidateFoundEvent, IceComponentState, IceComponentStateChangedEvent};

    #[test]
    fn events_have_kurentos_shape() {
        let e = Event::IceCandidateFound(IceCandidateFoundEvent {
            source: "7_mediaflow.WebRtcEndpoint".into(),
            timestamp_millis: 1234,
            tags: vec![("k".into(), "v".into())],
            candidate: IceCandidate {
                candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host".into(),
                sdp_mid: "0".into(),
                sdp_m_line_index: 0,
            },
        });
        let d = event_data(&e, "p/e_kurento.WebRtcEndpoint", &|s| s.to_owned());
        assert_eq!(d["source"], "p/e_kurento.WebRtcEndpoint");
        assert_eq!(d["type"], "IceCandidateFound");
        assert_eq!(d["timestampMillis"], "1234");
        assert_eq!(d["tags"][0]["__type__"], "Tag");
        assert_eq!(d["candidate"]["__module__"], "kurento");
        assert_eq!(d["candidate"]["__type__"], "IceCandidate");
        assert_eq!(d["candidate"]["sdpMLineIndex"], 0);
        let s = Event::IceComponentStateChanged(IceComponentStateChangedEvent {
            source: String::new(),
            timestamp_millis: 1,
            tags: vec![],
            stream_id: 1,
            component_id: 1,
            state: IceComponentState::Gathering,
        });
        assert_eq!(event_data(&s, "x", &|s| s.to_owned())["state"], "GATHERING");
    }

    #[test]
    fn classes_and_candidates() {
        assert_eq!(
            Class::parse_creatable("kurento.WebRtcEndpoint"),
            Some(Class::WebRtcEndpoint)
        );
        assert_eq!(
            Class::parse_creatable("PlayerEndpoint"),
            Some(Class::PlayerEndpoint)
        );
        assert_eq!(Class::parse_creatable("Composite"), None);
        assert!(Class::PlayerEndpoint.raises("EndOfStream"));
        assert!(!Class::RecorderEndpoint.raises("EndOfStream"));
        assert!(Class::WebRtcEndpoint.raises("IceCandidateFound"));
        assert!(!Class::PassThrough.raises("IceCandidateFound"));
        assert!(Class::ServerManager.raises("ObjectCreated"));
        let c = parse_ice_candidate(&json!({"candidate": "candidate:x", "sdpMid": "0",
            "sdpMLineIndex": 1, "__module__": "kurento", "__type__": "IceCandidate"}))
        .unwrap();
        assert_eq!((c.sdp_mid.as_str(), c.sdp_m_line_index), ("0", 1));
        assert!(parse_ice_candidate(&json!({"sdpMid": "0"})).is_none());
        let modules: Vec<_> = server_info()["modules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(modules, ["core", "elements", "filters"]);
    }
}
