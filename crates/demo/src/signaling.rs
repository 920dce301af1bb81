//! The Hello World signaling of Kurento's tutorial, per WebSocket session:
//! client -> server `start {sdpOffer}`, `onIceCandidate {candidate}`, `stop`;
//! server -> client `startResponse {sdpAnswer}`, `iceCandidate {candidate}`,
//! `error {message}`, and (our addition, for the page's log) `event {type, detail}`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel::Sender;
use mediaflow::{Event, IceCandidate, MediaPipeline, WebRtcEndpoint};
use serde_json::{json, Value};

/// Counters the server reports at `/stats`.
#[derive(Debug, Default)]
pub struct Counters {
    /// WebSocket sessions open now.
    pub sessions: AtomicUsize,
    /// Pipelines alive now.
    pub pipelines: AtomicUsize,
    /// Pipelines created since start.
    pub created: AtomicUsize,
    /// Pipelines released since start.
    pub released: AtomicUsize,
}

/// Endpoint settings the server was started with.
#[derive(Clone, Debug, Default)]
pub struct EndpointOptions {
    /// Interfaces to gather candidates on (all when empty).
    pub interfaces: Vec<String>,
    /// UDP port range.
    pub port_range: Option<(u16, u16)>,
    /// STUN server (host, port).
    pub stun: Option<(String, u16)>,
    /// TURN server as `user:password@host:port`.
    pub turn_url: Option<String>,
    /// Largest playout delay asked of a peer's receiver, in ms (0: never; `None`:
    /// mediaflow's default).
    pub max_playout_delay: Option<u32>,
}

/// One browser's session: at most one pipeline with one self-connected endpoint.
pub struct Session {
    out: Sender<Value>,
    counters: Arc<Counters>,
    options: EndpointOptions,
    call: Option<(MediaPipeline, WebRtcEndpoint)>,
}

fn error(message: impl Into<String>) -> Value {
    json!({"id": "error", "message": message.into()})
}

/// A one-line summary of an event's own fields, for the page's log. Every variant has
/// its arm (no wildcard), so an event added later cannot reach the log without fields.
fn detail(e: &Event) -> String {
    match e {
        Event::IceCandidateFound(c) => format!(
            "{} (mid {}, m-line {})",
            c.candidate.candidate, c.candidate.sdp_mid, c.candidate.sdp_m_line_index
        ),
        Event::IceGatheringDone(_) => "all candidates gathered".to_owned(),
        Event::IceComponentStateChanged(c) => {
            format!(
                "{} (stream {}, component {})",
                c.state, c.stream_id, c.component_id
            )
        }
        Event::NewCandidatePairSelected(p) => format!(
            "local {} <-> remote {} (stream {}, component {})",
            p.candidate_pair.local_candidate,
            p.candidate_pair.remote_candidate,
            p.candidate_pair.stream_id,
            p.candidate_pair.component_id
        ),
        Event::MediaFlowInStateChanged(f) => {
            format!("{} {} (pad {})", f.media_type, f.state.as_str(), f.pad_name)
        }
        Event::MediaFlowOutStateChanged(f) => {
            format!("{} {} (pad {})", f.media_type, f.state.as_str(), f.pad_name)
        }
        Event::MediaTranscodingStateChanged(t) => {
            format!("{} {} (bin {})", t.media_type, t.state.as_str(), t.bin_name)
        }
        Event::MediaStateChanged(m) => format!("{:?} -> {:?}", m.old_state, m.new_state),
        Event::ConnectionStateChanged(c) => format!("{:?} -> {:?}", c.old_state, c.new_state),
        Event::DtlsConnectionStateChange(d) => format!(
            "{:?} (stream {}, component {}, connection {})",
            d.state, d.stream_id, d.component_id, d.connection_id
        ),
        Event::ElementConnected(c) => format!(
            "{} -> {} ({} to {})",
            c.media_type, c.sink, c.source_media_description, c.sink_media_description
        ),
        Event::ElementDisconnected(c) => format!(
            "{} -/-> {} ({} from {})",
            c.media_type, c.sink, c.source_media_description, c.sink_media_description
        ),
        Event::Error(e) => format!(
            "{} (code {}): {}",
            e.error_type.as_str(),
            e.error_code,
            e.description
        ),
        Event::Recording(_) | Event::Paused(_) | Event::Stopped(_) => String::new(),
        Event::DataChannelOpened(e) => format!("channel {}", e.channel_id),
        Event::DataChannelClosed(e) => format!("channel {}", e.channel_id),
        Event::EndOfStream(_) => String::new(),
    }
}

impl Session {
    /// A session whose replies go to `out`.
    pub fn new(out: Sender<Value>, counters: Arc<Counters>, options: EndpointOptions) -> Session {
        Session {
            out,
            counters,
            options,
            call: None,
        }
    }

    fn send(&self, v: Value) {
        let _ = self.out.send(v);
    }

    /// A call (pipeline) is up.
    pub fn in_call(&self) -> bool {
        self.call.is_some()
    }

    /// Handles one text message from the browser.
    pub fn handle_text(&mut self, text: &str) {
        let Ok(message) = serde_json::from_str::<Value>(text) else {
            return self.send(error("Invalid message: not JSON"));
        };
        let Some(id) = message.get("id").and_then(Value::as_str) else {
            return self.send(error("Invalid message: no `id`"));
        };
        match id {
            "start" => match message.get("sdpOffer").and_then(Value::as_str) {
                Some(offer) => self.start(offer),
                None => self.send(error("Invalid message: `start` needs an `sdpOffer` string")),
            },
            "onIceCandidate" => self.add_candidate(message.get("candidate")),
            "stop" => self.stop(),
            other => self.send(error(format!("Invalid message, ID: {other}"))),
        }
    }

    fn start(&mut self, offer: &str) {
        if self.call.is_some() {
            return self.send(error("Already started: send `stop` first"));
        }
        match self.create_call(offer) {
            Ok(()) => {}
            Err(e) => {
                self.stop();
                self.send(error(format!("Error processing the offer: {e}")));
            }
        }
    }

    /// The tutorial's pipeline: one WebRtcEndpoint connected to itself.
    fn create_call(&mut self, offer: &str) -> Result<(), mediaflow::Error> {
        let pipeline = MediaPipeline::new()?;
        self.counters.pipelines.fetch_add(1, Ordering::SeqCst);
        self.counters.created.fetch_add(1, Ordering::SeqCst);
        let mut builder = WebRtcEndpoint::builder(&pipeline);
        if !self.options.interfaces.is_empty() {
            builder = builder.network_interfaces(self.options.interfaces.clone());
        }
        if let Some((min, max)) = self.options.port_range {
            builder = builder.port_range(min, max);
        }
        if let Some((host, port)) = &self.options.stun {
            builder = builder
                .stun_server_address(host.clone())
                .stun_server_port(*port);
        }
        if let Some(url) = &self.options.turn_url {
            builder = builder.turn_url(url.clone());
        }
        if let Some(ms) = self.options.max_playout_delay {
            builder = builder.max_playout_delay(ms);
        }
        // Kept before anything can fail, so `stop` releases it.
        self.call = Some((pipeline.clone(), builder.build()?));
        let Some((_, endpoint)) = &self.call else {
            unreachable!()
        };
        let out = self.out.clone();
        endpoint.on_ice_candidate_found(move |e| {
            let _ = out.send(json!({"id": "iceCandidate", "candidate": {
                "candidate": e.candidate.candidate,
                "sdpMid": e.candidate.sdp_mid,
                "sdpMLineIndex": e.candidate.sdp_m_line_index,
            }}));
        })?;
        let out = self.out.clone();
        // Forwards the endpoint's events to the page's log, on the runtime's dispatcher
        // (a thread per call here once outlived its call: the fuzz target's leak check
        // caught it exiting).
        endpoint.on_event(move |e| {
            let _ = out.send(json!({"id": "event", "type": e.type_name(), "detail": detail(e)}));
        })?;
        endpoint.connect(endpoint)?;
        let answer = endpoint.process_offer(offer)?;
        // The answer goes out before any candidate, so the browser has a remote
        // description to add them to.
        self.send(json!({"id": "startResponse", "sdpAnswer": answer}));
        endpoint.gather_candidates()?;
        Ok(())
    }

    fn add_candidate(&mut self, candidate: Option<&Value>) {
        let Some((_, endpoint)) = &self.call else {
            return self.send(error("No session: send `start` before `onIceCandidate`"));
        };
        let Some(c) = candidate else {
            return self.send(error(
                "Invalid message: `onIceCandidate` needs a `candidate`",
            ));
        };
        let Some(line) = c.get("candidate").and_then(Value::as_str) else {
            return self.send(error("Invalid candidate: no `candidate` string"));
        };
        let candidate = IceCandidate {
            candidate: line.to_owned(),
            sdp_mid: c
                .get("sdpMid")
                .and_then(Value::as_str)
                .unwrap_or("0")
                .to_owned(),
            sdp_m_line_index: c
                .get("sdpMLineIndex")
                .and_then(Value::as_u64)
                .and_then(|i| u32::try_from(i).ok())
                .unwrap_or(0),
        };
        if let Err(e) = endpoint.add_ice_candidate(candidate) {
            self.send(error(format!("Invalid candidate: {e}")));
        }
    }

    /// Releases the pipeline, if any (on `stop` and when the socket closes).
    pub fn stop(&mut self) {
        if let Some((pipeline, _)) = self.call.take() {
            if let Err(e) = pipeline.release() {
                tracing::warn!("pipeline release: {e}");
            }
            self.counters.pipelines.fetch_sub(1, Ordering::SeqCst);
            self.counters.released.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mediaflow::{MediaTranscodingState, MediaTranscodingStateChangedEvent, MediaType};

    /// Issue 13, item 2: the log line of MediaTranscodingStateChanged shows its state,
    /// media type and bin name (it used to be empty).
    #[test]
    fn the_log_shows_every_field_of_a_transcoding_event() {
        let e = Event::MediaTranscodingStateChanged(MediaTranscodingStateChangedEvent {
            source: "1_mediaflow.WebRtcEndpoint".into(),
            timestamp_millis: 1,
            tags: Vec::new(),
            state: MediaTranscodingState::Transcoding,
            bin_name: "transcoder_VIDEO".into(),
            media_type: MediaType::Video,
        });
        let line = detail(&e);
        assert!(line.contains("TRANSCODING"), "{line}");
        assert!(line.contains("VIDEO"), "{line}");
        assert!(line.contains("transcoder_VIDEO"), "{line}");
    }
}
