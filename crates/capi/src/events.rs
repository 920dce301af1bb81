//! Events through the C ABI: a callback per element or pipeline, and typed accessors.

use std::ffi::{c_char, c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::*;
use mediaflow::ErrorType;

/// Kinds of events (Kurento's names).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum mf_event_type {
    /// `Error`.
    MF_EVENT_ERROR = 0,
    /// `ElementConnected`.
    MF_EVENT_ELEMENT_CONNECTED = 1,
    /// `ElementDisconnected`.
    MF_EVENT_ELEMENT_DISCONNECTED = 2,
    /// `MediaFlowInStateChanged`.
    MF_EVENT_MEDIA_FLOW_IN_STATE_CHANGED = 3,
    /// `MediaFlowOutStateChanged`.
    MF_EVENT_MEDIA_FLOW_OUT_STATE_CHANGED = 4,
    /// `MediaTranscodingStateChanged`.
    MF_EVENT_MEDIA_TRANSCODING_STATE_CHANGED = 5,
    /// `MediaStateChanged`.
    MF_EVENT_MEDIA_STATE_CHANGED = 6,
    /// `ConnectionStateChanged`.
    MF_EVENT_CONNECTION_STATE_CHANGED = 7,
    /// `IceCandidateFound`.
    MF_EVENT_ICE_CANDIDATE_FOUND = 8,
    /// `IceGatheringDone`.
    MF_EVENT_ICE_GATHERING_DONE = 9,
    /// `IceComponentStateChanged`.
    MF_EVENT_ICE_COMPONENT_STATE_CHANGED = 10,
    /// `NewCandidatePairSelected`.
    MF_EVENT_NEW_CANDIDATE_PAIR_SELECTED = 11,
    /// `DtlsConnectionStateChange`.
    MF_EVENT_DTLS_CONNECTION_STATE_CHANGE = 12,
    /// `Recording` (RecorderEndpoint).
    MF_EVENT_RECORDING = 13,
    /// `Paused` (RecorderEndpoint).
    MF_EVENT_PAUSED = 14,
    /// `Stopped` (RecorderEndpoint).
    MF_EVENT_STOPPED = 15,
    /// `DataChannelOpened` (WebRtcEndpoint).
    MF_EVENT_DATA_CHANNEL_OPENED = 16,
    /// `DataChannelClosed` (WebRtcEndpoint).
    MF_EVENT_DATA_CHANNEL_CLOSED = 17,
    /// `EndOfStream` (PlayerEndpoint).
    MF_EVENT_END_OF_STREAM = 18,
}

/// Flowing or not (MediaFlowIn/OutStateChanged).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum mf_media_flow_state {
    /// Buffers pass.
    MF_FLOWING = 0,
    /// No buffer for the idle time.
    MF_NOT_FLOWING = 1,
}

/// libnice's component states (IceComponentStateChanged).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum mf_ice_component_state {
    /// No activity.
    MF_ICE_DISCONNECTED = 0,
    /// Gathering local candidates.
    MF_ICE_GATHERING = 1,
    /// Connectivity checks running.
    MF_ICE_CONNECTING = 2,
    /// A working pair.
    MF_ICE_CONNECTED = 3,
    /// Selection final.
    MF_ICE_READY = 4,
    /// No connectivity.
    MF_ICE_FAILED = 5,
}

/// Connected or not (ConnectionStateChanged, MediaStateChanged).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum mf_connection_state {
    /// Down.
    MF_DISCONNECTED = 0,
    /// Up.
    MF_CONNECTED = 1,
}

/// DTLS transport states (DtlsConnectionStateChange).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum mf_dtls_state {
    /// Not started.
    MF_DTLS_NEW = 0,
    /// Handshaking.
    MF_DTLS_CONNECTING = 1,
    /// Keys exchanged.
    MF_DTLS_CONNECTED = 2,
    /// Closed.
    MF_DTLS_CLOSED = 3,
    /// Failed.
    MF_DTLS_FAILED = 4,
}

/// Transcoding or not (MediaTranscodingStateChanged).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum mf_transcoding_state {
    /// Decoding and re-encoding for a consumer.
    MF_TRANSCODING = 0,
    /// Forwarding as it came.
    MF_NOT_TRANSCODING = 1,
}

/// Kurento's error types (the `type` string of an Error event, as a number).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum mf_error_type {
    /// `UNEXPECTED_ELEMENT_ERROR`: unclassified (Kurento's default).
    MF_ERROR_UNEXPECTED_ELEMENT_ERROR = 0,
    /// `UNEXPECTED_PIPELINE_ERROR`: an error no element handled, raised on the pipeline.
    MF_ERROR_UNEXPECTED_PIPELINE_ERROR = 1,
    /// `RESOURCE_ERROR_OPEN`: a local file or resource could not be opened.
    MF_ERROR_RESOURCE_ERROR_OPEN = 2,
    /// `RESOURCE_ERROR_WRITE`: a write to storage failed.
    MF_ERROR_RESOURCE_ERROR_WRITE = 3,
    /// `RESOURCE_ERROR_NO_SPACE_LEFT`: storage is full.
    MF_ERROR_RESOURCE_ERROR_NO_SPACE_LEFT = 4,
    /// `STREAM_ERROR_DECODE`: a received stream could not be decoded.
    MF_ERROR_STREAM_ERROR_DECODE = 5,
    /// `STREAM_ERROR_FAILED`: a generic media flow failure.
    MF_ERROR_STREAM_ERROR_FAILED = 6,
    /// `INVALID_URI`: a URI could not be used.
    MF_ERROR_INVALID_URI = 7,
    /// `INVALID_MEDIA`: media of an unusable kind or format.
    MF_ERROR_INVALID_MEDIA = 8,
}

/// An event, valid only while the callback that received it runs (opaque).
pub struct mf_event {
    event: Event,
    type_name: CString,
    source: CString,
    /// Strings of the event's own fields, in the order `mf_event::new` lists them.
    fields: Vec<CString>,
    /// The source's tags (key, value), when it sends tags in events.
    tags: Vec<(CString, CString)>,
}

fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', " ")).unwrap_or_default()
}

impl mf_event {
    /// Copies the event and C strings of its string fields, per kind:
    /// - IceCandidateFound: candidate, sdp_mid
    /// - NewCandidatePairSelected: local, remote, stream_id
    /// - Error: type, description
    /// - ElementConnected/Disconnected: sink, source and sink media descriptions
    /// - MediaTranscodingStateChanged: bin_name
    /// - MediaFlowIn/OutStateChanged: pad_name
    /// - DtlsConnectionStateChange: stream_id, connection_id
    fn new(event: &Event) -> mf_event {
        let fields = match event {
            Event::IceCandidateFound(e) => vec![
                cstring(&e.candidate.candidate),
                cstring(&e.candidate.sdp_mid),
            ],
            Event::NewCandidatePairSelected(e) => vec![
                cstring(&e.candidate_pair.local_candidate),
                cstring(&e.candidate_pair.remote_candidate),
                cstring(&e.candidate_pair.stream_id),
            ],
            Event::Error(e) => vec![cstring(e.error_type.as_str()), cstring(&e.description)],
            Event::ElementConnected(e) => vec![
                cstring(&e.sink),
                cstring(&e.source_media_description),
                cstring(&e.sink_media_description),
            ],
            Event::ElementDisconnected(e) => vec![
                cstring(&e.sink),
                cstring(&e.source_media_description),
                cstring(&e.sink_media_description),
            ],
            Event::MediaTranscodingStateChanged(e) => vec![cstring(&e.bin_name)],
            Event::MediaFlowInStateChanged(e) => vec![cstring(&e.pad_name)],
            Event::MediaFlowOutStateChanged(e) => vec![cstring(&e.pad_name)],
            Event::DtlsConnectionStateChange(e) => {
                vec![cstring(&e.stream_id), cstring(&e.connection_id)]
            }
            _ => Vec::new(),
        };
        mf_event {
            event: event.clone(),
            type_name: cstring(event.type_name()),
            source: cstring(event.source()),
            fields,
            tags: event
                .tags()
                .iter()
                .map(|(k, v)| (cstring(k), cstring(v)))
                .collect(),
        }
    }

    /// String field `index` (see `new`); "" if the kind has none there.
    fn field(&self, index: usize) -> *const c_char {
        self.fields.get(index).map_or(c"".as_ptr(), |s| s.as_ptr())
    }
}

/// Writes `value` to `out` unless `out` is NULL.
fn put<T>(out: *mut T, value: T) {
    // SAFETY: NULL or a writable location of the caller (documented per function).
    if let Some(o) = unsafe { out.as_mut() } {
        *o = value;
    }
}

/// A callback for events. It runs on the pipeline's event thread (a dispatcher thread of
/// its runtime, shared with other pipelines, so keep it short), may call back into
/// the API, and must not keep `event` after it returns.
pub type mf_event_callback = Option<extern "C" fn(event: *const mf_event, user_data: *mut c_void)>;

/// `user_data` travels to the event thread; the caller vouches it may be used there.
struct UserData(*mut c_void);
// SAFETY: documented contract of the subscribe functions: user_data is used from the
// event thread; synchronizing access to it is the caller's part.
unsafe impl Send for UserData {}
unsafe impl Sync for UserData {}

fn forward(
    callback: extern "C" fn(*const mf_event, *mut c_void),
    user_data: UserData,
) -> impl Fn(&Event) + Send + Sync {
    move |event| {
        let event = mf_event::new(event);
        let user_data = &user_data;
        // A C callback cannot unwind into us, but building the event could panic.
        let _ = catch_unwind(AssertUnwindSafe(|| callback(&event, user_data.0)));
    }
}

/// Calls `callback(event, user_data)` for every event `element` raises, until
/// `mf_element_unsubscribe` or the element's release. `*subscription` receives an id for
/// unsubscribing (may be NULL).
/// `element` is a live handle (from an `mf_*_new` function, not freed), borrowed for
/// the call. `callback` must not be NULL; it runs on the pipeline's event thread (a
/// dispatcher thread of its runtime, never the caller's), one event at a time and in
/// order per pipeline, and may call back into the API. `user_data` is passed through
/// untouched and is used on that thread: it must stay valid until the subscription ends
/// (`mf_element_unsubscribe` returned, or the element or pipeline was released and its
/// release call returned); synchronising it is the caller's part. `subscription` is
/// NULL or a writable location of the caller. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL
/// `element` or `callback`), `MF_RESULT_PIPELINE_RELEASED` /
/// `MF_RESULT_ELEMENT_RELEASED` after a release, `MF_RESULT_TIMEOUT` if the pipeline's
/// worker does not answer (5 s), `MF_RESULT_PANIC` (a bug).
#[no_mangle]
pub extern "C" fn mf_element_subscribe(
    element: *const mf_element,
    callback: mf_event_callback,
    user_data: *mut c_void,
    subscription: *mut u64,
) -> mf_result {
    guard(|| {
        let element = non_null(element, "element")?;
        let callback = callback.ok_or_else(|| fail(MF_RESULT_NULL_ARGUMENT, "callback is NULL"))?;
        let id = element
            .inner
            .on_event(forward(callback, UserData(user_data)))
            .code()?;
        if !subscription.is_null() {
            *out_ptr(subscription, "subscription")? = id.as_u64();
        }
        Ok(())
    })
}

/// Calls `callback(event, user_data)` for every event of the pipeline and its elements.
/// Until `mf_pipeline_unsubscribe` or the pipeline's release; `*subscription` receives
/// an id for unsubscribing (may be NULL). `pipeline` is a live handle (from
/// `mf_pipeline_new`/`mf_pipeline_new_on`, not freed), borrowed for the call. Callback
/// thread and `user_data` rules: as `mf_element_subscribe`. Errors:
/// `MF_RESULT_NULL_ARGUMENT` (NULL `pipeline` or `callback`),
/// `MF_RESULT_PIPELINE_RELEASED` / `MF_RESULT_ELEMENT_RELEASED` after a release,
/// `MF_RESULT_TIMEOUT` if the pipeline's worker does not answer (5 s),
/// `MF_RESULT_PANIC` (a bug).
#[no_mangle]
pub extern "C" fn mf_pipeline_subscribe(
    pipeline: *const mf_pipeline,
    callback: mf_event_callback,
    user_data: *mut c_void,
    subscription: *mut u64,
) -> mf_result {
    guard(|| {
        let pipeline = non_null(pipeline, "pipeline")?;
        let callback = callback.ok_or_else(|| fail(MF_RESULT_NULL_ARGUMENT, "callback is NULL"))?;
        let id = pipeline
            .inner
            .on_event(forward(callback, UserData(user_data)))
            .code()?;
        if !subscription.is_null() {
            *out_ptr(subscription, "subscription")? = id.as_u64();
        }
        Ok(())
    })
}

/// Ends a subscription made with `mf_element_subscribe` on this element.
/// `element` is a live handle (from an `mf_*_new` function, not freed), borrowed for
/// the call. After it returns, the callback is not called again except for an event
/// being delivered on the event thread at that moment. Errors:
/// `MF_RESULT_NULL_ARGUMENT`, `MF_RESULT_INVALID_ARGUMENT` (unknown `subscription`),
/// `MF_RESULT_PANIC`.
#[no_mangle]
pub extern "C" fn mf_element_unsubscribe(
    element: *const mf_element,
    subscription: u64,
) -> mf_result {
    guard(|| {
        let element = non_null(element, "element")?;
        if element
            .inner
            .remove_listener(mediaflow::ListenerId::from_u64(subscription))
        {
            Ok(())
        } else {
            Err(fail(MF_RESULT_INVALID_ARGUMENT, "no such subscription"))
        }
    })
}

/// Ends a subscription made on this pipeline or any of its elements; no more calls
/// after the event being delivered, if any. `MF_RESULT_INVALID_ARGUMENT` if unknown.
/// `pipeline` is a live handle (from `mf_pipeline_new`/`mf_pipeline_new_on`, not
/// freed), borrowed for the call. Errors: `MF_RESULT_NULL_ARGUMENT`,
/// `MF_RESULT_INVALID_ARGUMENT`, `MF_RESULT_PANIC`.
#[no_mangle]
pub extern "C" fn mf_pipeline_unsubscribe(
    pipeline: *const mf_pipeline,
    subscription: u64,
) -> mf_result {
    guard(|| {
        let pipeline = non_null(pipeline, "pipeline")?;
        if pipeline
            .inner
            .remove_listener(mediaflow::ListenerId::from_u64(subscription))
        {
            Ok(())
        } else {
            Err(fail(MF_RESULT_INVALID_ARGUMENT, "no such subscription"))
        }
    })
}

fn event<'a>(e: *const mf_event) -> Result<&'a mf_event, mf_result> {
    non_null(e, "event")
}

/// The event's kind. An invalid (NULL) event gives `MF_EVENT_ERROR`.
/// `event` is the pointer the callback received, used only while that callback runs.
/// Never fails.
#[no_mangle]
pub extern "C" fn mf_event_get_type(event: *const mf_event) -> mf_event_type {
    use mf_event_type::*;
    // SAFETY: NULL or an event passed to a running callback.
    let Some(e) = (unsafe { event.as_ref() }) else {
        return MF_EVENT_ERROR;
    };
    match &e.event {
        Event::Error(_) => MF_EVENT_ERROR,
        Event::ElementConnected(_) => MF_EVENT_ELEMENT_CONNECTED,
        Event::ElementDisconnected(_) => MF_EVENT_ELEMENT_DISCONNECTED,
        Event::MediaFlowInStateChanged(_) => MF_EVENT_MEDIA_FLOW_IN_STATE_CHANGED,
        Event::MediaFlowOutStateChanged(_) => MF_EVENT_MEDIA_FLOW_OUT_STATE_CHANGED,
        Event::MediaTranscodingStateChanged(_) => MF_EVENT_MEDIA_TRANSCODING_STATE_CHANGED,
        Event::MediaStateChanged(_) => MF_EVENT_MEDIA_STATE_CHANGED,
        Event::ConnectionStateChanged(_) => MF_EVENT_CONNECTION_STATE_CHANGED,
        Event::IceCandidateFound(_) => MF_EVENT_ICE_CANDIDATE_FOUND,
        Event::IceGatheringDone(_) => MF_EVENT_ICE_GATHERING_DONE,
        Event::IceComponentStateChanged(_) => MF_EVENT_ICE_COMPONENT_STATE_CHANGED,
        Event::NewCandidatePairSelected(_) => MF_EVENT_NEW_CANDIDATE_PAIR_SELECTED,
        Event::DtlsConnectionStateChange(_) => MF_EVENT_DTLS_CONNECTION_STATE_CHANGE,
        Event::Recording(_) => MF_EVENT_RECORDING,
        Event::Paused(_) => MF_EVENT_PAUSED,
        Event::Stopped(_) => MF_EVENT_STOPPED,
        Event::DataChannelOpened(_) => MF_EVENT_DATA_CHANNEL_OPENED,
        Event::DataChannelClosed(_) => MF_EVENT_DATA_CHANNEL_CLOSED,
        Event::EndOfStream(_) => MF_EVENT_END_OF_STREAM,
    }
}

/// Kurento's name of the event (`"IceCandidateFound"`...); valid during the callback.
/// `event` is the pointer the callback received, used only while that callback runs.
/// Returns a static string (never NULL, not to be freed); "" for a NULL event.
#[no_mangle]
pub extern "C" fn mf_event_type_name(event: *const mf_event) -> *const c_char {
    // SAFETY: NULL or an event passed to a running callback.
    unsafe { event.as_ref() }.map_or(c"".as_ptr(), |e| e.type_name.as_ptr())
}

/// Id of the object that raised it; valid during the callback.
/// `event` is the pointer the callback received, used only while that callback runs.
/// The string is owned by the event (not to be freed); "" for a NULL event.
#[no_mangle]
pub extern "C" fn mf_event_source(event: *const mf_event) -> *const c_char {
    // SAFETY: NULL or an event passed to a running callback.
    unsafe { event.as_ref() }.map_or(c"".as_ptr(), |e| e.source.as_ptr())
}

/// When it was raised, in milliseconds since the Unix epoch (0 for NULL).
/// `event` is the pointer the callback received, used only while that callback runs.
/// Never fails.
#[no_mangle]
pub extern "C" fn mf_event_timestamp_millis(event: *const mf_event) -> u64 {
    // SAFETY: NULL or an event passed to a running callback.
    unsafe { event.as_ref() }.map_or(0, |e| e.event.timestamp_millis())
}

fn no_field(e: &mf_event) -> mf_result {
    fail(
        MF_RESULT_NO_SUCH_FIELD,
        &format!("{} has no such field", e.event.type_name()),
    )
}

/// The media type of MediaFlowIn/Out, MediaTranscoding and ElementConnected/
/// Disconnected events.
/// `event` is the pointer the callback received, used only while that callback runs.
/// `out` is a writable location of the caller. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL
/// `event`), `MF_RESULT_NO_SUCH_FIELD` (an event of another kind than those).
#[no_mangle]
pub extern "C" fn mf_event_media_type(
    event: *const mf_event,
    out: *mut mf_media_type,
) -> mf_result {
    guard(|| {
        let e = self::event(event)?;
        let m = match &e.event {
            Event::MediaFlowInStateChanged(f) => f.media_type,
            Event::MediaFlowOutStateChanged(f) => f.media_type,
            Event::MediaTranscodingStateChanged(t) => t.media_type,
            Event::ElementConnected(c) => c.media_type,
            Event::ElementDisconnected(c) => c.media_type,
            _ => return Err(no_field(e)),
        };
        *out_ptr(out, "out")? = c_media_type(m);
        Ok(())
    })
}

/// The state of a MediaFlowIn/OutStateChanged event.
/// `event` is the pointer the callback received, used only while that callback runs.
/// `out` is a writable location of the caller. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL
/// `event`), `MF_RESULT_NO_SUCH_FIELD` (an event of another kind than those).
#[no_mangle]
pub extern "C" fn mf_event_flow_state(
    event: *const mf_event,
    out: *mut mf_media_flow_state,
) -> mf_result {
    guard(|| {
        let e = self::event(event)?;
        let state = match &e.event {
            Event::MediaFlowInStateChanged(f) => f.state,
            Event::MediaFlowOutStateChanged(f) => f.state,
            _ => return Err(no_field(e)),
        };
        *out_ptr(out, "out")? = match state {
            MediaFlowState::Flowing => mf_media_flow_state::MF_FLOWING,
            MediaFlowState::NotFlowing => mf_media_flow_state::MF_NOT_FLOWING,
        };
        Ok(())
    })
}

/// The state of an IceComponentStateChanged event.
/// `event` is the pointer the callback received, used only while that callback runs.
/// `out` is a writable location of the caller. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL
/// `event`), `MF_RESULT_NO_SUCH_FIELD` (an event of another kind than
/// IceComponentStateChanged).
#[no_mangle]
pub extern "C" fn mf_event_ice_component_state(
    event: *const mf_event,
    out: *mut mf_ice_component_state,
) -> mf_result {
    guard(|| {
        let e = self::event(event)?;
        let Event::IceComponentStateChanged(c) = &e.event else {
            return Err(no_field(e));
        };
        use mf_ice_component_state::*;
        *out_ptr(out, "out")? = match c.state {
            IceComponentState::Disconnected => MF_ICE_DISCONNECTED,
            IceComponentState::Gathering => MF_ICE_GATHERING,
            IceComponentState::Connecting => MF_ICE_CONNECTING,
            IceComponentState::Connected => MF_ICE_CONNECTED,
            IceComponentState::Ready => MF_ICE_READY,
            IceComponentState::Failed => MF_ICE_FAILED,
        };
        Ok(())
    })
}

/// The candidate of an IceCandidateFound event: its `candidate:` line and sdpMid
/// (valid during the callback) and m-line index. Any output may be NULL.
/// `event` is the pointer the callback received, used only while that callback runs.
/// Strings written are owned by the event: valid until the callback returns, not to be
/// freed. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL `event`), `MF_RESULT_NO_SUCH_FIELD`
/// (an event of another kind than IceCandidateFound).
#[no_mangle]
pub extern "C" fn mf_event_candidate(
    event: *const mf_event,
    candidate: *mut *const c_char,
    sdp_mid: *mut *const c_char,
    sdp_m_line_index: *mut u32,
) -> mf_result {
    guard(|| {
        let e = self::event(event)?;
        let Event::IceCandidateFound(c) = &e.event else {
            return Err(no_field(e));
        };
        put(candidate, e.field(0));
        put(sdp_mid, e.field(1));
        put(sdp_m_line_index, c.candidate.sdp_m_line_index);
        Ok(())
    })
}

/// The local and remote candidates of a NewCandidatePairSelected event, as SDP
/// `candidate:` lines (valid during the callback): the local one as IceCandidateFound
/// announced it, the remote one as the peer trickled it (or a peer-reflexive one learned
/// from its checks). Either output may be NULL.
/// `event` is the pointer the callback received, used only while that callback runs.
/// Strings written are owned by the event: valid until the callback returns, not to be
/// freed. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL `event`), `MF_RESULT_NO_SUCH_FIELD`
/// (an event of another kind than NewCandidatePairSelected).
#[no_mangle]
pub extern "C" fn mf_event_candidate_pair(
    event: *const mf_event,
    local: *mut *const c_char,
    remote: *mut *const c_char,
) -> mf_result {
    guard(|| {
        let e = self::event(event)?;
        if !matches!(e.event, Event::NewCandidatePairSelected(_)) {
            return Err(no_field(e));
        }
        put(local, e.field(0));
        put(remote, e.field(1));
        Ok(())
    })
}

/// The pair's ICE stream (Kurento's string `streamID`, valid during the callback) and
/// component (`componentID`) of a NewCandidatePairSelected event. Either output may be
/// NULL.
/// `event` is the pointer the callback received, used only while that callback runs.
/// Strings written are owned by the event: valid until the callback returns, not to be
/// freed. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL `event`), `MF_RESULT_NO_SUCH_FIELD`
/// (an event of another kind than NewCandidatePairSelected).
#[no_mangle]
pub extern "C" fn mf_event_candidate_pair_ids(
    event: *const mf_event,
    stream_id: *mut *const c_char,
    component_id: *mut u32,
) -> mf_result {
    guard(|| {
        let e = self::event(event)?;
        let Event::NewCandidatePairSelected(p) = &e.event else {
            return Err(no_field(e));
        };
        put(stream_id, e.field(2));
        put(component_id, p.candidate_pair.component_id);
        Ok(())
    })
}

/// The ICE stream and component (Kurento's integers `streamId`, `componentId`) of an
/// IceComponentStateChanged event. Either output may be NULL.
/// `event` is the pointer the callback received, used only while that callback runs.
/// Errors: `MF_RESULT_NULL_ARGUMENT` (NULL `event`), `MF_RESULT_NO_SUCH_FIELD` (an
/// event of another kind than IceComponentStateChanged).
#[no_mangle]
pub extern "C" fn mf_event_ice_component_ids(
    event: *const mf_event,
    stream_id: *mut u32,
    component_id: *mut u32,
) -> mf_result {
    guard(|| {
        let e = self::event(event)?;
        let Event::IceComponentStateChanged(c) = &e.event else {
            return Err(no_field(e));
        };
        put(stream_id, c.stream_id);
        put(component_id, c.component_id);
        Ok(())
    })
}

/// The channel (Kurento's `channelId`, the SCTP stream id) of a DataChannelOpened or
/// DataChannelClosed event, written to `*channel_id` (caller's storage).
/// `event` is the pointer the callback received, used only while that callback runs.
/// Errors: `MF_RESULT_NULL_ARGUMENT` (NULL `event` or `channel_id`),
/// `MF_RESULT_NO_SUCH_FIELD` (an event of another kind).
#[no_mangle]
pub extern "C" fn mf_event_channel_id(event: *const mf_event, channel_id: *mut u16) -> mf_result {
    guard(|| {
        let e = self::event(event)?;
        let id = match &e.event {
            Event::DataChannelOpened(o) => o.channel_id,
            Event::DataChannelClosed(c) => c.channel_id,
            _ => return Err(no_field(e)),
        };
        put(channel_id, id);
        Ok(())
    })
}

fn connection(state: bool) -> mf_connection_state {
    if state {
        mf_connection_state::MF_CONNECTED
    } else {
        mf_connection_state::MF_DISCONNECTED
    }
}

/// Old and new state of a ConnectionStateChanged or MediaStateChanged event. Either
/// output may be NULL.
/// `event` is the pointer the callback received, used only while that callback runs.
/// Errors: `MF_RESULT_NULL_ARGUMENT` (NULL `event`), `MF_RESULT_NO_SUCH_FIELD` (an
/// event of another kind than those two).
#[no_mangle]
pub extern "C" fn mf_event_connection_state(
    event: *const mf_event,
    old_state: *mut mf_connection_state,
    new_state: *mut mf_connection_state,
) -> mf_result {
    guard(|| {
        let e = self::event(event)?;
        let (old, new) = match &e.event {
            Event::ConnectionStateChanged(c) => (
                c.old_state == ConnectionState::Connected,
                c.new_state == ConnectionState::Connected,
            ),
            Event::MediaStateChanged(m) => (
                m.old_state == MediaState::Connected,
                m.new_state == MediaState::Connected,
            ),
            _ => return Err(no_field(e)),
        };
        put(old_state, connection(old));
        put(new_state, connection(new));
        Ok(())
    })
}

/// The state of a DtlsConnectionStateChange event.
/// `event` is the pointer the callback received, used only while that callback runs.
/// `out` is a writable location of the caller. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL
/// `event`), `MF_RESULT_NO_SUCH_FIELD` (an event of another kind than
/// DtlsConnectionStateChange).
#[no_mangle]
pub extern "C" fn mf_event_dtls_state(
    event: *const mf_event,
    out: *mut mf_dtls_state,
) -> mf_result {
    guard(|| {
        let e = self::event(event)?;
        let Event::DtlsConnectionStateChange(d) = &e.event else {
            return Err(no_field(e));
        };
        use mf_dtls_state::*;
        *out_ptr(out, "out")? = match d.state {
            DtlsConnectionState::New => MF_DTLS_NEW,
            DtlsConnectionState::Connecting => MF_DTLS_CONNECTING,
            DtlsConnectionState::Connected => MF_DTLS_CONNECTED,
            DtlsConnectionState::Closed => MF_DTLS_CLOSED,
            DtlsConnectionState::Failed => MF_DTLS_FAILED,
        };
        Ok(())
    })
}

/// The ICE stream (Kurento's string `streamId`), component (`componentId`) and DTLS
/// connection (`connectionId`) of a DtlsConnectionStateChange event (strings valid
/// during the callback). Any output may be NULL.
/// `event` is the pointer the callback received, used only while that callback runs.
/// Strings written are owned by the event: valid until the callback returns, not to be
/// freed. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL `event`), `MF_RESULT_NO_SUCH_FIELD`
/// (an event of another kind than DtlsConnectionStateChange).
#[no_mangle]
pub extern "C" fn mf_event_dtls_ids(
    event: *const mf_event,
    stream_id: *mut *const c_char,
    component_id: *mut u32,
    connection_id: *mut *const c_char,
) -> mf_result {
    guard(|| {
        let e = self::event(event)?;
        let Event::DtlsConnectionStateChange(d) = &e.event else {
            return Err(no_field(e));
        };
        put(stream_id, e.field(0));
        put(component_id, d.component_id);
        put(connection_id, e.field(1));
        Ok(())
    })
}

/// Kurento's `type` string, the description and the code of an Error event (strings
/// valid during the callback). Any output may be NULL.
/// `event` is the pointer the callback received, used only while that callback runs.
/// Strings written are owned by the event: valid until the callback returns, not to be
/// freed. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL `event`), `MF_RESULT_NO_SUCH_FIELD`
/// (an event of another kind than Error).
#[no_mangle]
pub extern "C" fn mf_event_error(
    event: *const mf_event,
    error_type: *mut *const c_char,
    description: *mut *const c_char,
    code: *mut i32,
) -> mf_result {
    guard(|| {
        let e = self::event(event)?;
        let Event::Error(err) = &e.event else {
            return Err(no_field(e));
        };
        put(error_type, e.field(0));
        put(description, e.field(1));
        put(code, err.error_code);
        Ok(())
    })
}

/// The `type` of an Error event as an `mf_error_type` (its string is
/// `mf_event_error`'s).
/// `event` is the pointer the callback received, used only while that callback runs.
/// `out` is a writable location of the caller. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL
/// `event`), `MF_RESULT_NO_SUCH_FIELD` (an event of another kind than Error).
#[no_mangle]
pub extern "C" fn mf_event_error_type(
    event: *const mf_event,
    out: *mut mf_error_type,
) -> mf_result {
    guard(|| {
        let e = self::event(event)?;
        let Event::Error(err) = &e.event else {
            return Err(no_field(e));
        };
        use mf_error_type::*;
        *out_ptr(out, "out")? = match err.error_type {
            ErrorType::UnexpectedElementError => MF_ERROR_UNEXPECTED_ELEMENT_ERROR,
            ErrorType::UnexpectedPipelineError => MF_ERROR_UNEXPECTED_PIPELINE_ERROR,
            ErrorType::ResourceErrorOpen => MF_ERROR_RESOURCE_ERROR_OPEN,
            ErrorType::ResourceErrorWrite => MF_ERROR_RESOURCE_ERROR_WRITE,
            ErrorType::ResourceErrorNoSpaceLeft => MF_ERROR_RESOURCE_ERROR_NO_SPACE_LEFT,
            ErrorType::StreamErrorDecode => MF_ERROR_STREAM_ERROR_DECODE,
            ErrorType::StreamErrorFailed => MF_ERROR_STREAM_ERROR_FAILED,
            ErrorType::InvalidUri => MF_ERROR_INVALID_URI,
            ErrorType::InvalidMedia => MF_ERROR_INVALID_MEDIA,
        };
        Ok(())
    })
}

/// The sink's object id of an ElementConnected/Disconnected event (valid during the
/// callback).
/// `event` is the pointer the callback received, used only while that callback runs.
/// Strings written are owned by the event: valid until the callback returns, not to be
/// freed. `sink` must not be NULL. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL `event`),
/// `MF_RESULT_NO_SUCH_FIELD` (an event of another kind than those).
#[no_mangle]
pub extern "C" fn mf_event_sink(event: *const mf_event, sink: *mut *const c_char) -> mf_result {
    guard(|| {
        let e = self::event(event)?;
        if !matches!(
            e.event,
            Event::ElementConnected(_) | Event::ElementDisconnected(_)
        ) {
            return Err(no_field(e));
        }
        *out_ptr(sink, "sink")? = e.field(0);
        Ok(())
    })
}

/// The source and sink pad descriptions (Kurento's `sourceMediaDescription`,
/// `sinkMediaDescription`; valid during the callback) of an ElementConnected/
/// Disconnected event. Either output may be NULL.
/// `event` is the pointer the callback received, used only while that callback runs.
/// Strings written are owned by the event: valid until the callback returns, not to be
/// freed. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL `event`), `MF_RESULT_NO_SUCH_FIELD`
/// (an event of another kind than those).
#[no_mangle]
pub extern "C" fn mf_event_media_descriptions(
    event: *const mf_event,
    source_media_description: *mut *const c_char,
    sink_media_description: *mut *const c_char,
) -> mf_result {
    guard(|| {
        let e = self::event(event)?;
        if !matches!(
            e.event,
            Event::ElementConnected(_) | Event::ElementDisconnected(_)
        ) {
            return Err(no_field(e));
        }
        put(source_media_description, e.field(1));
        put(sink_media_description, e.field(2));
        Ok(())
    })
}

/// The pad name (Kurento's `padName`, valid during the callback) of a
/// MediaFlowIn/OutStateChanged event.
/// `event` is the pointer the callback received, used only while that callback runs.
/// Strings written are owned by the event: valid until the callback returns, not to be
/// freed. `pad_name` must not be NULL. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL
/// `event`), `MF_RESULT_NO_SUCH_FIELD` (an event of another kind than those).
#[no_mangle]
pub extern "C" fn mf_event_pad_name(
    event: *const mf_event,
    pad_name: *mut *const c_char,
) -> mf_result {
    guard(|| {
        let e = self::event(event)?;
        if !matches!(
            e.event,
            Event::MediaFlowInStateChanged(_) | Event::MediaFlowOutStateChanged(_)
        ) {
            return Err(no_field(e));
        }
        *out_ptr(pad_name, "pad_name")? = e.field(0);
        Ok(())
    })
}

/// The state and branch name (valid during the callback; may be NULL) of a
/// MediaTranscodingStateChanged event.
/// `event` is the pointer the callback received, used only while that callback runs.
/// Strings written are owned by the event: valid until the callback returns, not to be
/// freed. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL `event`), `MF_RESULT_NO_SUCH_FIELD`
/// (an event of another kind than MediaTranscodingStateChanged).
#[no_mangle]
pub extern "C" fn mf_event_transcoding_state(
    event: *const mf_event,
    state: *mut mf_transcoding_state,
    bin_name: *mut *const c_char,
) -> mf_result {
    guard(|| {
        let e = self::event(event)?;
        let Event::MediaTranscodingStateChanged(t) = &e.event else {
            return Err(no_field(e));
        };
        *out_ptr(state, "state")? = match t.state {
            mediaflow::MediaTranscodingState::Transcoding => mf_transcoding_state::MF_TRANSCODING,
            mediaflow::MediaTranscodingState::NotTranscoding => {
                mf_transcoding_state::MF_NOT_TRANSCODING
            }
        };
        put(bin_name, e.field(0));
        Ok(())
    })
}

/// How many tags the event carries (its source's, when it sends tags in events).
/// `event` is the pointer the callback received, used only while that callback runs. 0
/// for a NULL event; never fails.
#[no_mangle]
pub extern "C" fn mf_event_tag_count(event: *const mf_event) -> usize {
    // SAFETY: NULL or an event passed to a running callback.
    unsafe { event.as_ref() }.map_or(0, |e| e.tags.len())
}

/// Tag `index` (< `mf_event_tag_count`): key and value, valid during the callback.
/// `event` is the pointer the callback received, used only while that callback runs.
/// Strings written are owned by the event: valid until the callback returns, not to be
/// freed. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL `event`, `key` or `value`),
/// `MF_RESULT_INVALID_ARGUMENT` (`index` out of range).
#[no_mangle]
pub extern "C" fn mf_event_tag(
    event: *const mf_event,
    index: usize,
    key: *mut *const c_char,
    value: *mut *const c_char,
) -> mf_result {
    guard(|| {
        let e = self::event(event)?;
        let (k, v) = e
            .tags
            .get(index)
            .ok_or_else(|| fail(MF_RESULT_INVALID_ARGUMENT, "no tag at that index"))?;
        *out_ptr(key, "key")? = k.as_ptr();
        *out_ptr(value, "value")? = v.as_ptr();
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The data-channel kinds and their one field, through the C accessors (a Hello
    /// World in tests/c raises none: `mf_webrtc_endpoint_new` has no data-channel option).
    #[test]
    fn data_channel_events_have_their_kind_and_channel_id() {
        use mediaflow::{DataChannelClosedEvent, DataChannelOpenedEvent};
        let opened = mf_event::new(&Event::DataChannelOpened(DataChannelOpenedEvent {
            source: "e".into(),
            timestamp_millis: 1,
            tags: Vec::new(),
            channel_id: 3,
        }));
        let closed = mf_event::new(&Event::DataChannelClosed(DataChannelClosedEvent {
            source: "e".into(),
            timestamp_millis: 2,
            tags: Vec::new(),
            channel_id: 65535,
        }));
        for (e, kind, id) in [
            (&opened, mf_event_type::MF_EVENT_DATA_CHANNEL_OPENED, 3),
            (&closed, mf_event_type::MF_EVENT_DATA_CHANNEL_CLOSED, 65535),
        ] {
            assert_eq!(mf_event_get_type(e), kind);
            let mut got = 0u16;
            assert_eq!(mf_event_channel_id(e, &mut got), mf_result::MF_RESULT_OK);
            assert_eq!(got, id);
            // NULL output is allowed; another kind's field is not there.
            assert_eq!(
                mf_event_channel_id(e, std::ptr::null_mut()),
                mf_result::MF_RESULT_OK
            );
            let mut sink = std::ptr::null();
            assert_eq!(
                mf_event_sink(e, &mut sink),
                mf_result::MF_RESULT_NO_SUCH_FIELD
            );
        }
        let mut got = 0u16;
        assert_ne!(
            mf_event_channel_id(std::ptr::null(), &mut got),
            mf_result::MF_RESULT_OK
        );
    }
}
