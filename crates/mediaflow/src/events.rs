//! Kurento's events as typed values.
//!
//! Every event carries Kurento's common fields (`source`, `timestamp_millis`, `tags`; the
//! `type` is the struct's [`TYPE`](ElementConnectedEvent::TYPE) and [`Event::type_name`]) and
//! its own. Names and fields follow `kurento-endpoint-events.txt` and Kurento's
//! interface definitions.

use mediaflow_graph::{ErrorType, MediaFlowState, MediaTranscodingState, MediaType};
use mediaflow_rtp::{
    ConnectionState, DtlsConnectionState, IceCandidate, IceCandidatePair, IceComponentState,
    MediaState,
};

use crate::element::MediaElement;
use crate::error::Result;
use crate::pipeline::ListenerId;

macro_rules! events {
    ($(
        $(#[$doc:meta])*
        $variant:ident($name:ident), $on:ident {
            $( $(#[$fdoc:meta])* $field:ident : $ty:ty, )*
        }
    )*) => {
        $(
            $(#[$doc])*
            ///
            /// ```
            /// # let pipeline = mediaflow::MediaPipeline::new()?;
            /// # let element = mediaflow::PassThrough::new(&pipeline)?;
            #[doc = concat!("let events = element.events()?; // also: element.", stringify!($on), "(|e| ...)")]
            /// for event in events.try_iter() {
            #[doc = concat!("    if let mediaflow::Event::", stringify!($variant), "(e) = event {")]
            #[doc = concat!("        assert_eq!(event_type(&e), \"", stringify!($variant), "\");")]
            ///         println!("{:?} from {} at {} ms", e, e.source, e.timestamp_millis);
            ///     }
            /// }
            #[doc = concat!("fn event_type(_: &mediaflow::", stringify!($name), ") -> &'static str {")]
            #[doc = concat!("    mediaflow::", stringify!($name), "::TYPE")]
            /// }
            /// pipeline.release()?;
            /// # Ok::<(), mediaflow::Error>(())
            /// ```
            #[derive(Clone, Debug, PartialEq, Eq)]
            pub struct $name {
                /// Id of the MediaObject that raised the event.
                pub source: String,
                /// When it was raised, in milliseconds since the Unix epoch.
                pub timestamp_millis: u64,
                /// The source's tags, when it has `send_tags_in_events` set; else empty.
                pub tags: Vec<(String, String)>,
                $( $(#[$fdoc])* pub $field: $ty, )*
            }

            impl $name {
                /// Kurento's name for this event type (what `Event::type_name` gives
                /// and the Kurento Protocol's `type` field carries).
                ///
                /// ```
                /// assert_eq!(mediaflow::MediaStateChangedEvent::TYPE, "MediaStateChanged");
                /// assert_eq!(mediaflow::ErrorEvent::TYPE, "Error");
                /// ```
                pub const TYPE: &'static str = stringify!($variant);
            }
        )*

        /// Any event, as delivered by event receivers.
        ///
        /// ```
        /// use mediaflow::{Event, MediaPipeline, PassThrough};
        /// use std::time::Duration;
        ///
        /// let pipeline = MediaPipeline::new()?;
        /// let pass = PassThrough::new(&pipeline)?;
        /// let events = pipeline.events()?;
        /// pass.connect(&pass)?;
        /// match events.recv_timeout(Duration::from_secs(5)) {
        ///     Ok(Event::ElementConnected(c)) => println!("{} -> {} ({})", c.source, c.sink, c.media_type),
        ///     Ok(Event::Error(e)) => eprintln!("{}: {}", e.error_type.as_str(), e.description),
        ///     Ok(other) => println!("{}", other.type_name()),
        ///     Err(_) => panic!("no event"),
        /// }
        /// pipeline.release()?;
        /// # Ok::<(), mediaflow::Error>(())
        /// ```
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum Event {
            $( $(#[$doc])* $variant($name), )*
        }

        impl Event {
            /// Kurento's name of the event type (its `type` field).
            ///
            /// ```
            /// use mediaflow::{MediaPipeline, PassThrough};
            /// use std::time::Duration;
            ///
            /// let pipeline = MediaPipeline::new()?;
            /// let pass = PassThrough::new(&pipeline)?;
            /// let events = pass.events()?;
            /// pass.connect(&pass)?;
            /// let e = events.recv_timeout(Duration::from_secs(5)).expect("an event");
            /// assert_eq!(e.type_name(), "ElementConnected");
            /// pipeline.release()?;
            /// # Ok::<(), mediaflow::Error>(())
            /// ```
            pub fn type_name(&self) -> &'static str {
                match self { $( Event::$variant(_) => $name::TYPE, )* }
            }

            /// Id of the MediaObject that raised it.
            ///
            /// ```
            /// use mediaflow::{MediaPipeline, PassThrough};
            /// use std::time::Duration;
            ///
            /// let pipeline = MediaPipeline::new()?;
            /// let pass = PassThrough::new(&pipeline)?;
            /// let events = pass.events()?;
            /// pass.connect(&pass)?;
            /// let e = events.recv_timeout(Duration::from_secs(5)).expect("an event");
            /// assert_eq!(e.source(), pass.id());
            /// pipeline.release()?;
            /// # Ok::<(), mediaflow::Error>(())
            /// ```
            pub fn source(&self) -> &str {
                match self { $( Event::$variant(e) => &e.source, )* }
            }

            /// When it was raised, in milliseconds since the Unix epoch.
            ///
            /// ```
            /// use mediaflow::{MediaPipeline, PassThrough};
            /// use std::time::Duration;
            ///
            /// let pipeline = MediaPipeline::new()?;
            /// let pass = PassThrough::new(&pipeline)?;
            /// let events = pass.events()?;
            /// pass.connect(&pass)?;
            /// let e = events.recv_timeout(Duration::from_secs(5)).expect("an event");
            /// let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
            /// assert!(e.timestamp_millis() <= now.as_millis() as u64);
            /// pipeline.release()?;
            /// # Ok::<(), mediaflow::Error>(())
            /// ```
            pub fn timestamp_millis(&self) -> u64 {
                match self { $( Event::$variant(e) => e.timestamp_millis, )* }
            }

            /// The source's tags, when sent in events.
            ///
            /// ```
            /// use mediaflow::{MediaPipeline, PassThrough};
            /// use std::time::Duration;
            ///
            /// let pipeline = MediaPipeline::new()?;
            /// let pass = PassThrough::new(&pipeline)?;
            /// pass.add_tag("room", "7")?;
            /// pass.set_send_tags_in_events(true)?;
            /// let events = pass.events()?;
            /// pass.connect(&pass)?;
            /// let e = events.recv_timeout(Duration::from_secs(5)).expect("an event");
            /// assert_eq!(e.tags(), &[("room".to_string(), "7".to_string())]);
            /// pipeline.release()?;
            /// # Ok::<(), mediaflow::Error>(())
            /// ```
            pub fn tags(&self) -> &[(String, String)] {
                match self { $( Event::$variant(e) => &e.tags, )* }
            }

            pub(crate) fn tags_mut(&mut self) -> &mut Vec<(String, String)> {
                match self { $( Event::$variant(e) => &mut e.tags, )* }
            }
        }

        impl MediaElement {
            $(
                #[doc = concat!("Calls `handler` on the dispatcher thread for every `", stringify!($variant),
                    "` this element raises. The handler may call back into the API.")]
                ///
                /// ```
                /// # let pipeline = mediaflow::MediaPipeline::new()?;
                /// # let element = mediaflow::PassThrough::new(&pipeline)?;
                #[doc = concat!("let id = element.", stringify!($on), "(|e| println!(\"{e:?}\"))?;")]
                /// // ... until it is not wanted any more:
                /// assert!(element.remove_listener(id));
                /// pipeline.release()?;
                /// # Ok::<(), mediaflow::Error>(())
                /// ```
                pub fn $on<F>(&self, handler: F) -> Result<ListenerId>
                where
                    F: Fn(&$name) + Send + Sync + 'static,
                {
                    self.add_listener(Some($name::TYPE), move |event| {
                        if let Event::$variant(e) = event {
                            handler(e);
                        }
                        true
                    })
                }
            )*
        }
    };
}

events! {
    /// Something went wrong in a MediaObject (Kurento's `Error`).
    Error(ErrorEvent), on_error {
        /// Human-readable cause.
        description: String,
        /// Numeric code.
        error_code: i32,
        /// Kurento's error identifier (the event's `type` string in Kurento's protocol).
        error_type: ErrorType,
    }

    /// The source element was connected to a sink.
    ElementConnected(ElementConnectedEvent), on_element_connected {
        /// Id of the sink element.
        sink: String,
        /// Which media the link carries.
        media_type: MediaType,
        /// Description of the source pad.
        source_media_description: String,
        /// Description of the sink pad.
        sink_media_description: String,
    }

    /// The source element was disconnected from a sink (by `disconnect`, a replacing
    /// `connect`, or the release of either element).
    ElementDisconnected(ElementDisconnectedEvent), on_element_disconnected {
        /// Id of the sink element.
        sink: String,
        /// Which media the link carried.
        media_type: MediaType,
        /// Description of the source pad.
        source_media_description: String,
        /// Description of the sink pad.
        sink_media_description: String,
    }

    /// Media started or stopped arriving at the element's sink pad.
    MediaFlowInStateChanged(MediaFlowInStateChangedEvent), on_media_flow_in_state_changed {
        /// Flowing or NotFlowing.
        state: MediaFlowState,
        /// The pad.
        pad_name: String,
        /// The pad's media type.
        media_type: MediaType,
    }

    /// Media started or stopped leaving the element's source pad.
    MediaFlowOutStateChanged(MediaFlowOutStateChangedEvent), on_media_flow_out_state_changed {
        /// Flowing or NotFlowing.
        state: MediaFlowState,
        /// The pad.
        pad_name: String,
        /// The pad's media type.
        media_type: MediaType,
    }

    /// The element started or stopped converting media for a consumer.
    MediaTranscodingStateChanged(MediaTranscodingStateChangedEvent), on_media_transcoding_state_changed {
        /// Transcoding or NotTranscoding.
        state: MediaTranscodingState,
        /// Name of the internal branch.
        bin_name: String,
        /// Which media.
        media_type: MediaType,
    }

    /// RTCP started or stopped flowing in a session (BaseRtpEndpoint's `MediaStateChanged`).
    MediaStateChanged(MediaStateChangedEvent), on_media_state_changed {
        /// Previous state.
        old_state: MediaState,
        /// New state.
        new_state: MediaState,
    }

    /// The RTP transport came up or went down (BaseRtpEndpoint's `ConnectionStateChanged`).
    ConnectionStateChanged(ConnectionStateChangedEvent), on_connection_state_changed {
        /// Previous state.
        old_state: ConnectionState,
        /// New state.
        new_state: ConnectionState,
    }

    /// A local ICE candidate was gathered; send it to the peer.
    IceCandidateFound(IceCandidateFoundEvent), on_ice_candidate_found {
        /// The candidate.
        candidate: IceCandidate,
    }

    /// Local candidate gathering finished.
    IceGatheringDone(IceGatheringDoneEvent), on_ice_gathering_done {
    }

    /// The ICE component changed state (libnice's states).
    IceComponentStateChanged(IceComponentStateChangedEvent), on_ice_component_state_changed {
        /// ICE stream (1: everything is bundled).
        stream_id: u32,
        /// Component (1: rtcp-mux).
        component_id: u32,
        /// The new state.
        state: IceComponentState,
    }

    /// ICE selected a (better) candidate pair.
    NewCandidatePairSelected(NewCandidatePairSelectedEvent), on_new_candidate_pair_selected {
        /// The pair.
        candidate_pair: IceCandidatePair,
    }

    /// The DTLS transport changed state.
    DtlsConnectionStateChange(DtlsConnectionStateChangeEvent), on_dtls_connection_state_change {
        /// ICE stream (1).
        stream_id: String,
        /// Component (1).
        component_id: u32,
        /// The DTLS connection (one per stream).
        connection_id: String,
        /// The new state.
        state: DtlsConnectionState,
    }

    /// A RecorderEndpoint started (or resumed) storing media.
    Recording(RecordingEvent), on_recording {
    }

    /// A RecorderEndpoint was paused.
    Paused(PausedEvent), on_paused {
    }

    /// A RecorderEndpoint stopped; its file is finalised.
    Stopped(StoppedEvent), on_stopped {
    }

    /// A data channel of a WebRtcEndpoint opened (one it created, acknowledged by the
    /// peer, or one the peer created).
    DataChannelOpened(DataChannelOpenedEvent), on_data_channel_opened {
        /// The channel's id (its SCTP stream id).
        channel_id: u16,
    }

    /// A data channel of a WebRtcEndpoint closed.
    DataChannelClosed(DataChannelClosedEvent), on_data_channel_closed {
        /// The channel's id (its SCTP stream id).
        channel_id: u16,
    }

    /// A PlayerEndpoint reached the end of its file; media stops (`play()` starts it
    /// again from the beginning).
    EndOfStream(EndOfStreamEvent), on_end_of_stream {
    }
}

/// The pad description Kurento uses when `connect` names none.
pub(crate) const DEFAULT_PAD: &str = "default";

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
