//! mediaflow's C ABI. `include/mediaflow.h` is generated from this file by
//! `cargo run -p mediaflow-gen-header`; the comments here become the header's.
//!
//! Conventions (rustls-ffi is the model):
//! - Opaque handles (`mf_pipeline`, `mf_element`) created by `*_new` functions and
//!   destroyed by `*_free`. A freed handle must not be used again; a *released*
//!   pipeline or element (`*_release`) stays a valid handle whose calls return
//!   `MF_RESULT_PIPELINE_RELEASED` / `MF_RESULT_ELEMENT_RELEASED`.
//! - Every fallible function returns `mf_result`; outputs go through pointers.
//!   `mf_result_message` names a code; `mf_last_error` gives this thread's last detail.
//! - Strings in are NUL-terminated UTF-8 (invalid UTF-8 gives `MF_RESULT_INVALID_UTF8`).
//!   Strings out are owned by the caller and freed with `mf_string_free`, except those
//!   read from an `mf_event`, which live as long as the callback runs.
//! - No panic crosses the boundary: each entry point catches it (`MF_RESULT_PANIC`).
//! - Thread safety: every function may be called from any thread, on the same handle
//!   concurrently, except `*_free`, which must not race with other calls on that handle.
//!   Callbacks run on the pipeline's event thread (a dispatcher thread of its runtime)
//!   and may call back into the API.
// C callers cannot mark calls unsafe; each function documents what its pointers must be,
// and checks what can be checked (NULL, UTF-8).
#![allow(clippy::not_unsafe_ptr_arg_deref)]
#![allow(non_camel_case_types)]
#![deny(missing_docs)]

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use mediaflow::{
    AppSink, AppSource, Buffer, ConnectionState, DtlsConnectionState, Error, Event, IceCandidate,
    IceComponentState, MediaElement, MediaFlowState, MediaPipeline, MediaState, MediaType,
    PassThrough, RecorderEndpoint, RtpEndpoint, WebRtcEndpoint,
};

/// Result of every fallible function.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum mf_result {
    /// Success.
    MF_RESULT_OK = 0,
    /// A required pointer argument was NULL.
    MF_RESULT_NULL_ARGUMENT = 1,
    /// A string argument was not valid UTF-8.
    MF_RESULT_INVALID_UTF8 = 2,
    /// An argument was out of its domain.
    MF_RESULT_INVALID_ARGUMENT = 3,
    /// The pipeline was released.
    MF_RESULT_PIPELINE_RELEASED = 4,
    /// The element was released.
    MF_RESULT_ELEMENT_RELEASED = 5,
    /// The elements belong to different pipelines.
    MF_RESULT_DIFFERENT_PIPELINES = 6,
    /// No such link to disconnect.
    MF_RESULT_NOT_CONNECTED = 7,
    /// An SDP could not be parsed or applied.
    MF_RESULT_INVALID_SDP = 8,
    /// The offer has no codec in common with the endpoint.
    MF_RESULT_NO_COMMON_CODEC = 9,
    /// The call does not fit the negotiation state (e.g. process_answer before
    /// generate_offer).
    MF_RESULT_WRONG_STATE = 10,
    /// An ICE candidate string does not parse.
    MF_RESULT_INVALID_CANDIDATE = 11,
    /// The element is not of the type the function needs (e.g. not a WebRtcEndpoint).
    MF_RESULT_WRONG_ELEMENT_TYPE = 12,
    /// The event has no such field.
    MF_RESULT_NO_SUCH_FIELD = 13,
    /// The pipeline did not answer in time.
    MF_RESULT_TIMEOUT = 14,
    /// The system refused a resource (thread, socket, port).
    MF_RESULT_RESOURCE = 15,
    /// An internal error; the message says more.
    MF_RESULT_INTERNAL = 16,
    /// A panic was caught at the boundary (a bug in mediaflow).
    MF_RESULT_PANIC = 17,
}

use mf_result::*;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    let message = CString::new(message.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = message);
}

/// Records the error's text and returns its code.
fn fail(code: mf_result, message: &str) -> mf_result {
    set_last_error(message);
    code
}

fn from_error(e: &Error) -> mf_result {
    let code = match e {
        Error::PipelineReleased => MF_RESULT_PIPELINE_RELEASED,
        Error::ElementReleased(_) => MF_RESULT_ELEMENT_RELEASED,
        Error::DifferentPipelines { .. } => MF_RESULT_DIFFERENT_PIPELINES,
        Error::NotConnected { .. } => MF_RESULT_NOT_CONNECTED,
        Error::InvalidArgument(_) => MF_RESULT_INVALID_ARGUMENT,
        Error::InvalidSdp(_) => MF_RESULT_INVALID_SDP,
        Error::NoCommonCodec => MF_RESULT_NO_COMMON_CODEC,
        Error::WrongState(_) => MF_RESULT_WRONG_STATE,
        Error::InvalidCandidate(_) => MF_RESULT_INVALID_CANDIDATE,
        Error::Timeout(_) => MF_RESULT_TIMEOUT,
        Error::Resource(_) => MF_RESULT_RESOURCE,
        Error::Internal(_) => MF_RESULT_INTERNAL,
    };
    fail(code, &e.to_string())
}

/// Runs an entry point's body: a panic becomes `MF_RESULT_PANIC`, errors their codes.
fn guard(body: impl FnOnce() -> Result<(), mf_result>) -> mf_result {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => MF_RESULT_OK,
        Ok(Err(code)) => code,
        Err(_) => fail(MF_RESULT_PANIC, "a panic was caught at the C boundary"),
    }
}

trait OrCode<T> {
    fn code(self) -> Result<T, mf_result>;
}

impl<T> OrCode<T> for Result<T, Error> {
    fn code(self) -> Result<T, mf_result> {
        self.map_err(|e| from_error(&e))
    }
}

fn non_null<'a, T>(p: *const T, what: &str) -> Result<&'a T, mf_result> {
    // SAFETY: the caller passes a pointer it got from us and has not freed (documented
    // on every function); NULL is checked here.
    unsafe { p.as_ref() }.ok_or_else(|| fail(MF_RESULT_NULL_ARGUMENT, &format!("{what} is NULL")))
}

/// `element` as the kind `pick` takes out of it: NULL is `MF_RESULT_NULL_ARGUMENT` (named
/// `arg`), another kind of element `MF_RESULT_WRONG_ELEMENT_TYPE` ("the element is not
/// {kind}").
pub(crate) fn typed<T>(
    element: *const mf_element,
    arg: &str,
    kind: &str,
    pick: fn(&mf_element) -> Option<&T>,
) -> Result<&'static T, mf_result> {
    let element: &'static mf_element = non_null(element, arg)?;
    pick(element).ok_or_else(|| {
        fail(
            MF_RESULT_WRONG_ELEMENT_TYPE,
            &format!("the element is not {kind}"),
        )
    })
}

fn out_ptr<'a, T>(p: *mut T, what: &str) -> Result<&'a mut T, mf_result> {
    // SAFETY: as `non_null`, for an output location the caller owns.
    unsafe { p.as_mut() }.ok_or_else(|| fail(MF_RESULT_NULL_ARGUMENT, &format!("{what} is NULL")))
}

fn str_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str, mf_result> {
    if p.is_null() {
        return Err(fail(MF_RESULT_NULL_ARGUMENT, &format!("{what} is NULL")));
    }
    // SAFETY: non-NULL; the caller promises a NUL-terminated string (documented).
    unsafe { CStr::from_ptr(p) }.to_str().map_err(|_| {
        fail(
            MF_RESULT_INVALID_UTF8,
            &format!("{what} is not valid UTF-8"),
        )
    })
}

fn owned_string(s: &str) -> *mut c_char {
    CString::new(s.replace('\0', " ")).map_or(std::ptr::null_mut(), CString::into_raw)
}

/// A short static text naming `result` (an `mf_result` value; any other integer gets
/// "unknown result code"). Never NULL; not to be freed.
/// Thread: any; no error of its own (does not touch `mf_last_error`).
#[no_mangle]
pub extern "C" fn mf_result_message(result: i32) -> *const c_char {
    let known = usize::try_from(result).ok().and_then(|i| RESULTS.get(i));
    let Some(&result) = known.filter(|r| **r as i32 == result) else {
        return c"unknown result code".as_ptr();
    };
    let text: &'static CStr = match result {
        MF_RESULT_OK => c"ok",
        MF_RESULT_NULL_ARGUMENT => c"a required argument was NULL",
        MF_RESULT_INVALID_UTF8 => c"a string argument was not valid UTF-8",
        MF_RESULT_INVALID_ARGUMENT => c"invalid argument",
        MF_RESULT_PIPELINE_RELEASED => c"the media pipeline was released",
        MF_RESULT_ELEMENT_RELEASED => c"the element was released",
        MF_RESULT_DIFFERENT_PIPELINES => c"the elements belong to different pipelines",
        MF_RESULT_NOT_CONNECTED => c"the elements are not connected",
        MF_RESULT_INVALID_SDP => c"invalid SDP",
        MF_RESULT_NO_COMMON_CODEC => c"no codec in common with the offer",
        MF_RESULT_WRONG_STATE => c"wrong negotiation state",
        MF_RESULT_INVALID_CANDIDATE => c"invalid ICE candidate",
        MF_RESULT_WRONG_ELEMENT_TYPE => c"the element is not of the needed type",
        MF_RESULT_NO_SUCH_FIELD => c"the event has no such field",
        MF_RESULT_TIMEOUT => c"the pipeline did not answer in time",
        MF_RESULT_RESOURCE => c"system resource unavailable",
        MF_RESULT_INTERNAL => c"internal error",
        MF_RESULT_PANIC => c"a panic was caught at the C boundary",
    };
    text.as_ptr()
}

/// The detail of the last error on the calling thread, copied into `buf` (NUL-terminated,
/// truncated to `len`). Returns the full length without the NUL.
/// `buf` may be NULL (or `len` 0) to ask for the length only; otherwise `len` writable
/// bytes at `buf`, owned by the caller. Each failing call on a thread replaces that
/// thread's detail; successful calls leave it. Never fails.
#[no_mangle]
pub extern "C" fn mf_last_error(buf: *mut c_char, len: usize) -> usize {
    catch_unwind(|| {
        LAST_ERROR.with(|e| {
            let bytes = e.borrow().as_bytes().to_vec();
            if !buf.is_null() && len > 0 {
                let n = bytes.len().min(len - 1);
                // SAFETY: the caller gives `len` writable bytes at `buf`.
                unsafe {
                    std::ptr::copy_nonoverlapping(bytes.as_ptr().cast::<c_char>(), buf, n);
                    *buf.add(n) = 0;
                }
            }
            bytes.len()
        })
    })
    .unwrap_or(0)
}

/// Frees a string returned by mediaflow. NULL is ignored.
/// Only for strings mediaflow returned through a `char **` output (not for strings read
/// from an `mf_event`, nor `mf_result_message`'s); each exactly once.
#[no_mangle]
pub extern "C" fn mf_string_free(s: *mut c_char) {
    if !s.is_null() {
        let _ = catch_unwind(|| {
            // SAFETY: `s` came from `CString::into_raw` in this library (documented).
            drop(unsafe { CString::from_raw(s) });
        });
    }
}

/// Media types of pads (Kurento's MediaType).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum mf_media_type {
    /// Audio.
    MF_MEDIA_AUDIO = 0,
    /// Video.
    MF_MEDIA_VIDEO = 1,
    /// Data channels.
    MF_MEDIA_DATA = 2,
    /// All three (connect/disconnect only).
    MF_MEDIA_ALL = 3,
}

/// A media type argument from C. Functions take it as an integer, not as
/// `mf_media_type`: C may pass any value, and a Rust enum holding one it does not name
/// is undefined behaviour (rustls-ffi's rule). `Ok(None)` is `MF_MEDIA_ALL`.
fn media_arg(media: u32) -> Result<Option<MediaType>, mf_result> {
    match media {
        0 => Ok(Some(MediaType::Audio)),
        1 => Ok(Some(MediaType::Video)),
        2 => Ok(Some(MediaType::Data)),
        3 => Ok(None),
        other => Err(fail(
            MF_RESULT_INVALID_ARGUMENT,
            &format!("media type {other} is not an mf_media_type (0-3)"),
        )),
    }
}

/// Every result code by its value (see `media_arg` for why C's integers are checked).
const RESULTS: [mf_result; 18] = [
    MF_RESULT_OK,
    MF_RESULT_NULL_ARGUMENT,
    MF_RESULT_INVALID_UTF8,
    MF_RESULT_INVALID_ARGUMENT,
    MF_RESULT_PIPELINE_RELEASED,
    MF_RESULT_ELEMENT_RELEASED,
    MF_RESULT_DIFFERENT_PIPELINES,
    MF_RESULT_NOT_CONNECTED,
    MF_RESULT_INVALID_SDP,
    MF_RESULT_NO_COMMON_CODEC,
    MF_RESULT_WRONG_STATE,
    MF_RESULT_INVALID_CANDIDATE,
    MF_RESULT_WRONG_ELEMENT_TYPE,
    MF_RESULT_NO_SUCH_FIELD,
    MF_RESULT_TIMEOUT,
    MF_RESULT_RESOURCE,
    MF_RESULT_INTERNAL,
    MF_RESULT_PANIC,
];

fn c_media_type(t: MediaType) -> mf_media_type {
    match t {
        MediaType::Audio => mf_media_type::MF_MEDIA_AUDIO,
        MediaType::Video => mf_media_type::MF_MEDIA_VIDEO,
        MediaType::Data => mf_media_type::MF_MEDIA_DATA,
    }
}

/// A media pipeline (opaque).
pub struct mf_pipeline {
    inner: MediaPipeline,
}

/// An element of a pipeline (opaque): a PassThrough, a WebRtcEndpoint, ...
pub struct mf_element {
    inner: MediaElement,
    webrtc: Option<WebRtcEndpoint>,
    app_source: Option<AppSource>,
    app_sink: Option<AppSink>,
    rtp: Option<RtpEndpoint>,
    recorder: Option<RecorderEndpoint>,
    player: Option<mediaflow::PlayerEndpoint>,
}

/// A runtime (opaque): the worker and dispatcher threads pipelines run on.
pub struct mf_runtime {
    inner: mediaflow::Runtime,
}

/// Creates a runtime of `workers` worker threads (0: one per core) and `dispatchers`
/// event-callback threads (0: two). When `shared_udp_port` is not 0, every endpoint of
/// the runtime uses one UDP socket per host address on that port (with 0, each endpoint
/// binds its own). Put pipelines on it with `mf_pipeline_new_on`. Free it with
/// `mf_runtime_free`; its threads end once it and its last pipeline are gone.
/// On success `*out` receives a new handle owned by the caller (free it with
/// `mf_runtime_free`); on error it is left untouched. Errors: `MF_RESULT_NULL_ARGUMENT`
/// (NULL `out`), `MF_RESULT_RESOURCE` (threads cannot start, or the shared UDP port
/// cannot be bound), `MF_RESULT_PANIC`.
#[no_mangle]
pub extern "C" fn mf_runtime_new(
    workers: u32,
    dispatchers: u32,
    shared_udp_port: u16,
    out: *mut *mut mf_runtime,
) -> mf_result {
    guard(|| {
        let out = out_ptr(out, "out")?;
        let mut builder = mediaflow::Runtime::builder();
        if workers > 0 {
            builder = builder.workers(workers as usize);
        }
        if dispatchers > 0 {
            builder = builder.dispatchers(dispatchers as usize);
        }
        if shared_udp_port != 0 {
            builder = builder.shared_udp_port(shared_udp_port).code()?;
        }
        let inner = builder.build().code()?;
        *out = Box::into_raw(Box::new(mf_runtime { inner }));
        Ok(())
    })
}

/// Threads the runtime runs (workers and dispatchers): fixed, whatever the number of
/// pipelines. Writes it to `*out`.
/// `runtime` is a live handle from `mf_runtime_new`; `out` a writable location of the
/// caller. Errors: `MF_RESULT_NULL_ARGUMENT`, `MF_RESULT_PANIC`.
#[no_mangle]
pub extern "C" fn mf_runtime_thread_count(runtime: *const mf_runtime, out: *mut u32) -> mf_result {
    guard(|| {
        let runtime = non_null(runtime, "runtime")?;
        let out = out_ptr(out, "out")?;
        *out = u32::try_from(runtime.inner.thread_count()).unwrap_or(u32::MAX);
        Ok(())
    })
}

/// Frees the handle. Pipelines on the runtime keep it running until they are released.
/// NULL is ignored.
/// `runtime` comes from `mf_runtime_new` and is freed once; it must not race with other
/// calls on it. Pipelines created on it stay valid.
#[no_mangle]
pub extern "C" fn mf_runtime_free(runtime: *mut mf_runtime) {
    if !runtime.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: from `Box::into_raw` in `mf_runtime_new`, not freed before.
            drop(unsafe { Box::from_raw(runtime) });
        }));
    }
}

/// Creates a pipeline on `runtime` (see `mf_runtime_new`). Free it with
/// `mf_pipeline_free`.
/// `runtime` is a live handle from `mf_runtime_new`, borrowed (the pipeline keeps the
/// threads alive on its own). On success `*out` receives a new handle owned by the
/// caller (free it with `mf_pipeline_free`); on error it is left untouched. Errors:
/// `MF_RESULT_NULL_ARGUMENT`, `MF_RESULT_RESOURCE`, `MF_RESULT_TIMEOUT`,
/// `MF_RESULT_PANIC`.
#[no_mangle]
pub extern "C" fn mf_pipeline_new_on(
    runtime: *const mf_runtime,
    out: *mut *mut mf_pipeline,
) -> mf_result {
    guard(|| {
        let runtime = non_null(runtime, "runtime")?;
        let out = out_ptr(out, "out")?;
        let inner = MediaPipeline::builder()
            .runtime(&runtime.inner)
            .build()
            .code()?;
        *out = Box::into_raw(Box::new(mf_pipeline { inner }));
        Ok(())
    })
}

/// Creates a pipeline on the process's default runtime (started on first use: one
/// worker per core, two event threads). Free it with `mf_pipeline_free`.
/// On success `*out` receives a new handle owned by the caller (free it with
/// `mf_pipeline_free`); on error it is left untouched. Errors:
/// `MF_RESULT_NULL_ARGUMENT` (NULL `out`), `MF_RESULT_RESOURCE` (the default runtime's
/// threads cannot start), `MF_RESULT_TIMEOUT`, `MF_RESULT_PANIC`.
#[no_mangle]
pub extern "C" fn mf_pipeline_new(out: *mut *mut mf_pipeline) -> mf_result {
    guard(|| {
        let out = out_ptr(out, "out")?;
        let inner = MediaPipeline::new().code()?;
        *out = Box::into_raw(Box::new(mf_pipeline { inner }));
        Ok(())
    })
}

/// Releases the pipeline: its elements go and its sockets close (this call waits for its
/// worker).
/// The handle stays valid until `mf_pipeline_free`.
/// `pipeline` is a live handle (from `mf_pipeline_new`/`mf_pipeline_new_on`, not
/// freed), borrowed for the call. It may be called from an event callback (it then does
/// not wait for that callback's lane). Element handles of the pipeline stay valid
/// (their calls give `MF_RESULT_PIPELINE_RELEASED`) until freed. Errors:
/// `MF_RESULT_NULL_ARGUMENT`, `MF_RESULT_PIPELINE_RELEASED` (already released),
/// `MF_RESULT_TIMEOUT`, `MF_RESULT_PANIC`.
#[no_mangle]
pub extern "C" fn mf_pipeline_release(pipeline: *const mf_pipeline) -> mf_result {
    guard(|| non_null(pipeline, "pipeline")?.inner.release().code())
}

/// Frees the handle (releasing the pipeline if that was its last handle). NULL is
/// ignored. Must not race with other calls on this handle.
/// `pipeline` comes from `mf_pipeline_new`/`mf_pipeline_new_on` and is freed once.
/// Element handles keep the pipeline alive until they are freed or it is released.
#[no_mangle]
pub extern "C" fn mf_pipeline_free(pipeline: *mut mf_pipeline) {
    if !pipeline.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: from `Box::into_raw` in `mf_pipeline_new`, not freed before.
            drop(unsafe { Box::from_raw(pipeline) });
        }));
    }
}

fn new_element(out: *mut *mut mf_element, element: mf_element) -> Result<(), mf_result> {
    let out = out_ptr(out, "out")?;
    *out = Box::into_raw(Box::new(element));
    Ok(())
}

fn plain(inner: MediaElement) -> mf_element {
    mf_element {
        inner,
        webrtc: None,
        app_source: None,
        app_sink: None,
        rtp: None,
        recorder: None,
        player: None,
    }
}

/// Creates a PassThrough in `pipeline`. Free the handle with `mf_element_free`.
/// `pipeline` is a live handle (from `mf_pipeline_new`/`mf_pipeline_new_on`, not
/// freed), borrowed for the call. On success `*out` receives a new handle owned by the
/// caller (free it with `mf_element_free`); on error it is left untouched. Errors:
/// `MF_RESULT_NULL_ARGUMENT`, `MF_RESULT_PIPELINE_RELEASED` /
/// `MF_RESULT_ELEMENT_RELEASED` after a release, `MF_RESULT_TIMEOUT` if the pipeline's
/// worker does not answer (5 s), `MF_RESULT_PANIC` (a bug).
#[no_mangle]
pub extern "C" fn mf_passthrough_new(
    pipeline: *const mf_pipeline,
    out: *mut *mut mf_element,
) -> mf_result {
    guard(|| {
        let pipeline = non_null(pipeline, "pipeline")?;
        let pass = PassThrough::new(&pipeline.inner).code()?;
        new_element(out, plain(pass.into()))
    })
}

/// Creates an AppSource: buffers the host pushes with `mf_app_source_push` leave its
/// source pads. Free the handle with `mf_element_free`.
/// `pipeline` is a live handle (from `mf_pipeline_new`/`mf_pipeline_new_on`, not
/// freed), borrowed for the call. On success `*out` receives a new handle owned by the
/// caller (free it with `mf_element_free`); on error it is left untouched. Errors:
/// `MF_RESULT_NULL_ARGUMENT`, `MF_RESULT_PIPELINE_RELEASED` /
/// `MF_RESULT_ELEMENT_RELEASED` after a release, `MF_RESULT_TIMEOUT` if the pipeline's
/// worker does not answer (5 s), `MF_RESULT_PANIC` (a bug).
#[no_mangle]
pub extern "C" fn mf_app_source_new(
    pipeline: *const mf_pipeline,
    out: *mut *mut mf_element,
) -> mf_result {
    guard(|| {
        let pipeline = non_null(pipeline, "pipeline")?;
        let source = AppSource::new(&pipeline.inner).code()?;
        new_element(
            out,
            mf_element {
                app_source: Some(source.clone()),
                ..plain(source.into())
            },
        )
    })
}

/// Pushes one buffer (`len` bytes at `data`, copied) into an AppSource. `codec` names
/// the payload's codec by SDP mime type (`"video/VP8"`, ...) or is NULL for raw data;
/// a WebRtcEndpoint sends RTP packets of a codec it negotiated.
/// `source` is a live handle (from an `mf_*_new` function, not freed), borrowed for the
/// call. `data` points to `len` readable bytes (may be NULL when `len` is 0), copied
/// before the call returns. Strings in (`codec`) are NUL-terminated UTF-8, read during
/// the call only (the caller keeps ownership). May block while the pipeline's input
/// queue is full (at most the call timeout). Errors: `MF_RESULT_NULL_ARGUMENT`,
/// `MF_RESULT_INVALID_UTF8`, `MF_RESULT_WRONG_ELEMENT_TYPE` (not an AppSource),
/// `MF_RESULT_INVALID_ARGUMENT` (`media` not AUDIO/VIDEO/DATA, unknown `codec`),
/// `MF_RESULT_PIPELINE_RELEASED` / `MF_RESULT_ELEMENT_RELEASED` after a release,
/// `MF_RESULT_TIMEOUT` if the pipeline's worker does not answer (5 s),
/// `MF_RESULT_PANIC` (a bug).
#[no_mangle]
pub extern "C" fn mf_app_source_push(
    source: *const mf_element,
    media: u32,
    codec: *const c_char,
    data: *const u8,
    len: usize,
    keyframe: bool,
) -> mf_result {
    guard(|| {
        let source = typed(source, "source", "an AppSource", |e| e.app_source.as_ref())?;
        let media = media_arg(media)?.ok_or_else(|| {
            fail(
                MF_RESULT_INVALID_ARGUMENT,
                "a buffer has one media type, not MF_MEDIA_ALL",
            )
        })?;
        if data.is_null() && len > 0 {
            return Err(fail(MF_RESULT_NULL_ARGUMENT, "data is NULL"));
        }
        let codec = match opt_str(codec, "codec")? {
            None => None,
            Some(c) => Some(mediaflow::codec::canonical(c).ok_or_else(|| {
                fail(MF_RESULT_INVALID_ARGUMENT, &format!("unknown codec {c:?}"))
            })?),
        };
        let bytes = if len == 0 {
            Vec::new()
        } else {
            // SAFETY: `len` readable bytes at `data` (documented), non-NULL checked.
            unsafe { std::slice::from_raw_parts(data, len) }.to_vec()
        };
        let mut buffer = Buffer::new(media, bytes);
        buffer.codec = codec;
        buffer.keyframe = keyframe;
        source.push(buffer).code()
    })
}

/// Creates an AppSink holding up to `capacity` buffers (0: 1024) for the host to take
/// with `mf_app_sink_pull`. Free the handle with `mf_element_free`.
/// `pipeline` is a live handle (from `mf_pipeline_new`/`mf_pipeline_new_on`, not
/// freed), borrowed for the call. On success `*out` receives a new handle owned by the
/// caller (free it with `mf_element_free`); on error it is left untouched. Errors:
/// `MF_RESULT_NULL_ARGUMENT`, `MF_RESULT_PIPELINE_RELEASED` /
/// `MF_RESULT_ELEMENT_RELEASED` after a release, `MF_RESULT_TIMEOUT` if the pipeline's
/// worker does not answer (5 s), `MF_RESULT_PANIC` (a bug).
#[no_mangle]
pub extern "C" fn mf_app_sink_new(
    pipeline: *const mf_pipeline,
    capacity: usize,
    out: *mut *mut mf_element,
) -> mf_result {
    guard(|| {
        let pipeline = non_null(pipeline, "pipeline")?;
        let capacity = if capacity == 0 { 1024 } else { capacity };
        let sink = AppSink::with_capacity(&pipeline.inner, capacity).code()?;
        new_element(
            out,
            mf_element {
                app_sink: Some(sink.clone()),
                ..plain(sink.into())
            },
        )
    })
}

/// Takes the next buffer that reached an AppSink, waiting at most `timeout_ms`
/// (`MF_RESULT_TIMEOUT` when none came). Its bytes are copied into `buf` (up to
/// `capacity`; `*len` receives the full size, which may be larger). `media` and
/// `keyframe` may be NULL.
/// `sink` is a live handle (from an `mf_*_new` function, not freed), borrowed for the
/// call. `buf` points to `capacity` writable bytes (may be NULL when `capacity` is 0);
/// `len`, `media`, `keyframe` are writable locations of the caller. Blocks the calling
/// thread up to `timeout_ms`. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL `sink` or `len`,
/// NULL `buf` with a capacity), `MF_RESULT_WRONG_ELEMENT_TYPE` (not an AppSink),
/// `MF_RESULT_TIMEOUT` (no buffer in time; also once the pipeline is released),
/// `MF_RESULT_PANIC`. A buffer larger than `capacity` is taken and truncated (`*len`
/// tells its size).
#[no_mangle]
pub extern "C" fn mf_app_sink_pull(
    sink: *const mf_element,
    timeout_ms: u32,
    buf: *mut u8,
    capacity: usize,
    len: *mut usize,
    media: *mut mf_media_type,
    keyframe: *mut bool,
) -> mf_result {
    guard(|| {
        let sink = typed(sink, "sink", "an AppSink", |e| e.app_sink.as_ref())?;
        let len = out_ptr(len, "len")?;
        if buf.is_null() && capacity > 0 {
            return Err(fail(MF_RESULT_NULL_ARGUMENT, "buf is NULL"));
        }
        let buffer = sink
            .recv_timeout(std::time::Duration::from_millis(u64::from(timeout_ms)))
            .ok_or_else(|| fail(MF_RESULT_TIMEOUT, "no buffer within the timeout"))?;
        *len = buffer.data.len();
        let n = buffer.data.len().min(capacity);
        if n > 0 {
            // SAFETY: `capacity` writable bytes at `buf` (documented), non-NULL checked.
            unsafe { std::ptr::copy_nonoverlapping(buffer.data.as_ptr(), buf, n) };
        }
        // SAFETY: NULL or writable locations of the caller.
        unsafe {
            if let Some(m) = media.as_mut() {
                *m = c_media_type(buffer.media_type);
            }
            if let Some(k) = keyframe.as_mut() {
                *k = buffer.keyframe;
            }
        }
        Ok(())
    })
}

/// Options of a new WebRtcEndpoint; zero-initialize it (`{0}`) for the defaults.
/// String fields may be NULL.
#[repr(C)]
pub struct mf_webrtc_options {
    /// Only receive media.
    pub recvonly: bool,
    /// Only send media.
    pub sendonly: bool,
    /// Comma-separated interface names to gather on (NULL: all).
    pub network_interfaces: *const c_char,
    /// UDP port range (both 0: any port).
    pub min_port: u16,
    /// Upper end of the port range.
    pub max_port: u16,
    /// STUN server host or IP (NULL: none).
    pub stun_server_address: *const c_char,
    /// STUN server port (0: 3478).
    pub stun_server_port: u16,
    /// TURN server as `user:password@host:port` (NULL: none).
    pub turn_url: *const c_char,
    /// Offer passive ICE-TCP candidates too.
    pub ice_tcp: bool,
    /// Most video the peer may send, in kbps (0: 2 Mbps), announced as `b=AS` and
    /// with REMB.
    pub max_video_recv_bandwidth: u32,
    /// Connect through the TURN relay only (needs `turn_url`).
    pub relay_only: bool,
    /// Public IPv4 or IPv6 address of this host behind a 1:1 NAT (NULL: none).
    pub external_address: *const c_char,
    /// Also gather IPv6 host candidates.
    pub ipv6: bool,
    /// Negotiate an SCTP data-channel section (Kurento's `useDataChannels`), for
    /// `mf_webrtc_create_data_channel` and the peer's channels.
    pub use_data_channels: bool,
    /// Most audio the peer may send, in kbps (0: no limit), announced as `b=AS`
    /// (Kurento's `maxAudioRecvBandwidth`).
    pub max_audio_recv_bandwidth: u32,
    /// Largest playout delay, in ms, the endpoint may ask the peer's receiver for while
    /// the video it forwards comes late, so that repairs of lost packets do not freeze
    /// the picture (0: the default, 600 ms). See `no_playout_delay`.
    pub max_playout_delay: u32,
    /// Never ask the peer's receiver for a playout delay (latency first; the
    /// `playout-delay` RTP header extension is not negotiated).
    pub no_playout_delay: bool,
}

fn opt_str<'a>(p: *const c_char, what: &str) -> Result<Option<&'a str>, mf_result> {
    if p.is_null() {
        Ok(None)
    } else {
        str_arg(p, what).map(Some)
    }
}

/// Creates a WebRtcEndpoint in `pipeline` (`options` may be NULL for the defaults).
/// Free the handle with `mf_element_free`.
/// `pipeline` is a live handle (from `mf_pipeline_new`/`mf_pipeline_new_on`, not
/// freed), borrowed for the call. `options` and its strings are read during the call
/// only. On success `*out` receives a new handle owned by the caller (free it with
/// `mf_element_free`); on error it is left untouched. Errors:
/// `MF_RESULT_NULL_ARGUMENT`, `MF_RESULT_INVALID_UTF8`, `MF_RESULT_INVALID_ARGUMENT` (a
/// bad `external_address`, `turn_url` or STUN host, `relay_only` without TURN),
/// `MF_RESULT_RESOURCE` (no port to bind), `MF_RESULT_PIPELINE_RELEASED` /
/// `MF_RESULT_ELEMENT_RELEASED` after a release, `MF_RESULT_TIMEOUT` if the pipeline's
/// worker does not answer (5 s), `MF_RESULT_PANIC` (a bug).
#[no_mangle]
pub extern "C" fn mf_webrtc_endpoint_new(
    pipeline: *const mf_pipeline,
    options: *const mf_webrtc_options,
    out: *mut *mut mf_element,
) -> mf_result {
    guard(|| {
        let pipeline = non_null(pipeline, "pipeline")?;
        let mut builder = WebRtcEndpoint::builder(&pipeline.inner);
        // SAFETY: NULL or a valid options struct (documented).
        if let Some(o) = unsafe { options.as_ref() } {
            if o.recvonly {
                builder = builder.recvonly();
            }
            if o.sendonly {
                builder = builder.sendonly();
            }
            if let Some(names) = opt_str(o.network_interfaces, "network_interfaces")? {
                builder = builder.network_interfaces(
                    names
                        .split(',')
                        .map(str::trim)
                        .filter(|n| !n.is_empty())
                        .map(String::from),
                );
            }
            if o.min_port != 0 || o.max_port != 0 {
                builder = builder.port_range(o.min_port, o.max_port);
            }
            if let Some(stun) = opt_str(o.stun_server_address, "stun_server_address")? {
                builder = builder.stun_server_address(stun);
                if o.stun_server_port != 0 {
                    builder = builder.stun_server_port(o.stun_server_port);
                }
            }
            if let Some(turn) = opt_str(o.turn_url, "turn_url")? {
                builder = builder.turn_url(turn);
            }
            if let Some(ip) = opt_str(o.external_address, "external_address")? {
                builder = match ip.parse::<std::net::IpAddr>() {
                    Ok(std::net::IpAddr::V4(v4)) => builder.external_ipv4(v4),
                    Ok(std::net::IpAddr::V6(v6)) => builder.external_ipv6(v6),
                    Err(_) => {
                        return Err(fail(
                            MF_RESULT_INVALID_ARGUMENT,
                            &format!("external_address {ip:?} is not an IP address"),
                        ))
                    }
                };
            }
            builder = builder
                .ice_tcp(o.ice_tcp)
                .ipv6(o.ipv6)
                .use_data_channels(o.use_data_channels)
                .relay_only(o.relay_only)
                .max_video_recv_bandwidth(o.max_video_recv_bandwidth)
                .max_audio_recv_bandwidth(o.max_audio_recv_bandwidth);
            if o.no_playout_delay {
                builder = builder.max_playout_delay(0);
            } else if o.max_playout_delay != 0 {
                builder = builder.max_playout_delay(o.max_playout_delay);
            }
        }
        let endpoint = builder.build().code()?;
        new_element(
            out,
            mf_element {
                webrtc: Some(endpoint.clone()),
                ..plain(endpoint.into())
            },
        )
    })
}

/// Removes the element from its pipeline (its links are disconnected). The handle
/// stays valid until `mf_element_free`.
/// `element` is a live handle (from an `mf_*_new` function, not freed), borrowed for
/// the call. Links are reported as ElementDisconnected on their sources. Errors:
/// `MF_RESULT_NULL_ARGUMENT`, `MF_RESULT_PIPELINE_RELEASED` /
/// `MF_RESULT_ELEMENT_RELEASED` after a release, `MF_RESULT_TIMEOUT` if the pipeline's
/// worker does not answer (5 s), `MF_RESULT_PANIC` (a bug).
#[no_mangle]
pub extern "C" fn mf_element_release(element: *const mf_element) -> mf_result {
    guard(|| non_null(element, "element")?.inner.release().code())
}

/// Frees the handle. NULL is ignored. Must not race with other calls on this handle.
/// `element` comes from an `mf_*_new` function and is freed once. Freeing a handle does
/// not release the element: `mf_element_release` or the pipeline's release does.
#[no_mangle]
pub extern "C" fn mf_element_free(element: *mut mf_element) {
    if !element.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: from `Box::into_raw` in this library, not freed before.
            drop(unsafe { Box::from_raw(element) });
        }));
    }
}

/// The element's object id, e.g. `7_mediaflow.WebRtcEndpoint`. Free with
/// `mf_string_free`.
/// `element` is a live handle (from an `mf_*_new` function, not freed), borrowed for
/// the call. On success `*out` receives a NUL-terminated UTF-8 string owned by the
/// caller (free it with `mf_string_free`). Errors: `MF_RESULT_NULL_ARGUMENT`,
/// `MF_RESULT_PANIC` (works on released elements too).
#[no_mangle]
pub extern "C" fn mf_element_id(element: *const mf_element, out: *mut *mut c_char) -> mf_result {
    guard(|| {
        let element = non_null(element, "element")?;
        *out_ptr(out, "out")? = owned_string(element.inner.id());
        Ok(())
    })
}

/// Sets a tag on the element (Kurento's addTag); an existing key is replaced.
/// `element` is a live handle (from an `mf_*_new` function, not freed), borrowed for
/// the call. Strings in (`key`, `value`) are NUL-terminated UTF-8, read during the call
/// only (the caller keeps ownership). Errors: `MF_RESULT_NULL_ARGUMENT`,
/// `MF_RESULT_INVALID_UTF8`, `MF_RESULT_PIPELINE_RELEASED` /
/// `MF_RESULT_ELEMENT_RELEASED` after a release, `MF_RESULT_TIMEOUT` if the pipeline's
/// worker does not answer (5 s), `MF_RESULT_PANIC` (a bug).
#[no_mangle]
pub extern "C" fn mf_element_add_tag(
    element: *const mf_element,
    key: *const c_char,
    value: *const c_char,
) -> mf_result {
    guard(|| {
        let element = non_null(element, "element")?;
        element
            .inner
            .add_tag(str_arg(key, "key")?, str_arg(value, "value")?)
            .code()
    })
}

/// Whether the element's events carry its tags (Kurento's sendTagsInEvents).
/// `element` is a live handle (from an `mf_*_new` function, not freed), borrowed for
/// the call. Errors: `MF_RESULT_NULL_ARGUMENT`, `MF_RESULT_PIPELINE_RELEASED` /
/// `MF_RESULT_ELEMENT_RELEASED` after a release, `MF_RESULT_TIMEOUT` if the pipeline's
/// worker does not answer (5 s), `MF_RESULT_PANIC` (a bug).
#[no_mangle]
pub extern "C" fn mf_element_set_send_tags_in_events(
    element: *const mf_element,
    send: bool,
) -> mf_result {
    guard(|| {
        non_null(element, "element")?
            .inner
            .set_send_tags_in_events(send)
            .code()
    })
}

/// Connects `source` to `sink` for one media type, or all with `MF_MEDIA_ALL`
/// (`media` is an `mf_media_type` value; others give `MF_RESULT_INVALID_ARGUMENT`). A
/// sink pad has one source: a previous one is disconnected.
/// `source` and `sink` are live element handles (may be the same: a loopback),
/// borrowed. Errors: `MF_RESULT_NULL_ARGUMENT`, `MF_RESULT_INVALID_ARGUMENT` (`media`),
/// `MF_RESULT_DIFFERENT_PIPELINES`, `MF_RESULT_PIPELINE_RELEASED` /
/// `MF_RESULT_ELEMENT_RELEASED` after a release, `MF_RESULT_TIMEOUT` if the pipeline's
/// worker does not answer (5 s), `MF_RESULT_PANIC` (a bug).
#[no_mangle]
pub extern "C" fn mf_element_connect(
    source: *const mf_element,
    sink: *const mf_element,
    media: u32,
) -> mf_result {
    guard(|| {
        let (source, sink) = (non_null(source, "source")?, non_null(sink, "sink")?);
        match media_arg(media)? {
            Some(m) => source.inner.connect_media(&sink.inner, m),
            None => source.inner.connect(&sink.inner),
        }
        .code()
    })
}

/// Removes the link(s) from `source` to `sink` for one media type or all (`media` as
/// in `mf_element_connect`).
/// `source` and `sink` are live element handles, borrowed. Errors:
/// `MF_RESULT_NULL_ARGUMENT`, `MF_RESULT_INVALID_ARGUMENT` (`media`),
/// `MF_RESULT_NOT_CONNECTED` (no such link), `MF_RESULT_DIFFERENT_PIPELINES`,
/// `MF_RESULT_PIPELINE_RELEASED` / `MF_RESULT_ELEMENT_RELEASED` after a release,
/// `MF_RESULT_TIMEOUT` if the pipeline's worker does not answer (5 s),
/// `MF_RESULT_PANIC` (a bug).
#[no_mangle]
pub extern "C" fn mf_element_disconnect(
    source: *const mf_element,
    sink: *const mf_element,
    media: u32,
) -> mf_result {
    guard(|| {
        let (source, sink) = (non_null(source, "source")?, non_null(sink, "sink")?);
        match media_arg(media)? {
            Some(m) => source.inner.disconnect_media(&sink.inner, m),
            None => source.inner.disconnect(&sink.inner),
        }
        .code()
    })
}

fn webrtc(element: *const mf_element) -> Result<&'static WebRtcEndpoint, mf_result> {
    typed(element, "element", "a WebRtcEndpoint", |e| {
        e.webrtc.as_ref()
    })
}

/// Applies the peer's SDP offer; `*answer` receives the SDP answer (free it with
/// `mf_string_free`).
/// `endpoint` is a live handle (from an `mf_*_new` function, not freed), borrowed for
/// the call. Strings in (`offer`) are NUL-terminated UTF-8, read during the call only
/// (the caller keeps ownership). Errors: `MF_RESULT_NULL_ARGUMENT`,
/// `MF_RESULT_INVALID_UTF8`, `MF_RESULT_WRONG_ELEMENT_TYPE` (neither a WebRtcEndpoint nor an
/// RtpEndpoint),
/// `MF_RESULT_INVALID_SDP`, `MF_RESULT_NO_COMMON_CODEC`, `MF_RESULT_WRONG_STATE`,
/// `MF_RESULT_PIPELINE_RELEASED` / `MF_RESULT_ELEMENT_RELEASED` after a release,
/// `MF_RESULT_TIMEOUT` if the pipeline's worker does not answer (5 s),
/// `MF_RESULT_PANIC` (a bug); `*answer` is untouched on error.
/// Takes a WebRtcEndpoint or an RtpEndpoint: the same as the `mf_sdp_endpoint_` call
/// of this name, kept for existing callers.
#[no_mangle]
pub extern "C" fn mf_webrtc_process_offer(
    endpoint: *const mf_element,
    offer: *const c_char,
    answer: *mut *mut c_char,
) -> mf_result {
    mf_sdp_endpoint_process_offer(endpoint, offer, answer)
}

/// Creates an SDP offer; `*offer` receives it (free it with `mf_string_free`).
/// `endpoint` is a live handle (from an `mf_*_new` function, not freed), borrowed for
/// the call. Errors: `MF_RESULT_NULL_ARGUMENT`, `MF_RESULT_INVALID_UTF8`,
/// `MF_RESULT_WRONG_ELEMENT_TYPE` (neither a WebRtcEndpoint nor an
/// RtpEndpoint), `MF_RESULT_WRONG_STATE`,
/// `MF_RESULT_PIPELINE_RELEASED` / `MF_RESULT_ELEMENT_RELEASED` after a release,
/// `MF_RESULT_TIMEOUT` if the pipeline's worker does not answer (5 s),
/// `MF_RESULT_PANIC` (a bug); `*offer` is untouched on error.
/// Takes a WebRtcEndpoint or an RtpEndpoint: the same as the `mf_sdp_endpoint_` call
/// of this name, kept for existing callers.
#[no_mangle]
pub extern "C" fn mf_webrtc_generate_offer(
    endpoint: *const mf_element,
    offer: *mut *mut c_char,
) -> mf_result {
    mf_sdp_endpoint_generate_offer(endpoint, offer)
}

/// Applies the peer's SDP answer to our offer.
/// `endpoint` is a live handle (from an `mf_*_new` function, not freed), borrowed for
/// the call. Strings in (`answer`) are NUL-terminated UTF-8, read during the call only
/// (the caller keeps ownership). Errors: `MF_RESULT_NULL_ARGUMENT`,
/// `MF_RESULT_INVALID_UTF8`, `MF_RESULT_WRONG_ELEMENT_TYPE` (neither a WebRtcEndpoint nor an
/// RtpEndpoint),
/// `MF_RESULT_INVALID_SDP`, `MF_RESULT_NO_COMMON_CODEC`, `MF_RESULT_WRONG_STATE` (no
/// offer of ours pending), `MF_RESULT_PIPELINE_RELEASED` / `MF_RESULT_ELEMENT_RELEASED`
/// after a release, `MF_RESULT_TIMEOUT` if the pipeline's worker does not answer (5 s),
/// `MF_RESULT_PANIC` (a bug).
/// Takes a WebRtcEndpoint or an RtpEndpoint: the same as the `mf_sdp_endpoint_` call
/// of this name, kept for existing callers.
#[no_mangle]
pub extern "C" fn mf_webrtc_process_answer(
    endpoint: *const mf_element,
    answer: *const c_char,
) -> mf_result {
    mf_sdp_endpoint_process_answer(endpoint, answer)
}

/// Starts ICE gathering: IceCandidateFound events, then IceGatheringDone.
/// `endpoint` is a live handle (from an `mf_*_new` function, not freed), borrowed for
/// the call. The events reach subscribed callbacks on the pipeline's event thread.
/// Errors: `MF_RESULT_NULL_ARGUMENT`, `MF_RESULT_WRONG_ELEMENT_TYPE`,
/// `MF_RESULT_PIPELINE_RELEASED` / `MF_RESULT_ELEMENT_RELEASED` after a release,
/// `MF_RESULT_TIMEOUT` if the pipeline's worker does not answer (5 s),
/// `MF_RESULT_PANIC` (a bug).
#[no_mangle]
pub extern "C" fn mf_webrtc_gather_candidates(endpoint: *const mf_element) -> mf_result {
    guard(|| webrtc(endpoint)?.gather_candidates().code())
}

/// Adds a candidate of the peer (at any time: before the remote description it is kept).
/// `sdp_mid` may be NULL ("0").
/// `endpoint` is a live handle (from an `mf_*_new` function, not freed), borrowed for
/// the call. Strings in (`candidate`, `sdp_mid`) are NUL-terminated UTF-8, read during
/// the call only (the caller keeps ownership). Errors: `MF_RESULT_NULL_ARGUMENT`,
/// `MF_RESULT_INVALID_UTF8`, `MF_RESULT_WRONG_ELEMENT_TYPE` (not a WebRtcEndpoint),
/// `MF_RESULT_INVALID_CANDIDATE`, `MF_RESULT_PIPELINE_RELEASED` /
/// `MF_RESULT_ELEMENT_RELEASED` after a release, `MF_RESULT_TIMEOUT` if the pipeline's
/// worker does not answer (5 s), `MF_RESULT_PANIC` (a bug).
#[no_mangle]
pub extern "C" fn mf_webrtc_add_ice_candidate(
    endpoint: *const mf_element,
    candidate: *const c_char,
    sdp_mid: *const c_char,
    sdp_m_line_index: u32,
) -> mf_result {
    guard(|| {
        let endpoint = webrtc(endpoint)?;
        let candidate = IceCandidate {
            candidate: str_arg(candidate, "candidate")?.to_owned(),
            sdp_mid: opt_str(sdp_mid, "sdp_mid")?.unwrap_or("0").to_owned(),
            sdp_m_line_index,
        };
        endpoint.add_ice_candidate(candidate).code()
    })
}

/// RTP statistics as JSON text (W3C webrtc-stats names); free with `mf_string_free`.
/// `endpoint` is a live handle (from an `mf_*_new` function, not freed), borrowed for
/// the call. On success `*json` receives a NUL-terminated UTF-8 string owned by the
/// caller (free it with `mf_string_free`). Errors: `MF_RESULT_NULL_ARGUMENT`,
/// `MF_RESULT_WRONG_ELEMENT_TYPE`, `MF_RESULT_PIPELINE_RELEASED` /
/// `MF_RESULT_ELEMENT_RELEASED` after a release, `MF_RESULT_TIMEOUT` if the pipeline's
/// worker does not answer (5 s), `MF_RESULT_PANIC` (a bug).
#[no_mangle]
pub extern "C" fn mf_webrtc_get_stats(
    endpoint: *const mf_element,
    json: *mut *mut c_char,
) -> mf_result {
    guard(|| {
        let endpoint = webrtc(endpoint)?;
        let out = out_ptr(json, "json")?;
        let s = endpoint.get_stats().code()?;
        let kind = |k: Option<mediaflow::MediaKind>| match k {
            Some(mediaflow::MediaKind::Audio) => "audio",
            Some(mediaflow::MediaKind::Video) => "video",
            None => "other",
        };
        let value = serde_json::json!({
            "inbound": s.inbound.iter().map(|i| serde_json::json!({
                "ssrc": i.ssrc, "kind": kind(i.kind), "packetsReceived": i.packets_received,
                "bytesReceived": i.bytes_received, "packetsLost": i.packets_lost,
                "jitter": i.jitter, "nackCount": i.nack_count, "pliCount": i.pli_count,
                "firCount": i.fir_count,
            })).collect::<Vec<_>>(),
            "outbound": s.outbound.iter().map(|o| serde_json::json!({
                "ssrc": o.ssrc, "kind": kind(o.kind), "packetsSent": o.packets_sent,
                "bytesSent": o.bytes_sent, "retransmittedPacketsSent": o.retransmitted_packets_sent,
                "nackCount": o.nack_count, "pliCount": o.pli_count, "firCount": o.fir_count,
                "roundTripTime": o.round_trip_time, "fractionLost": o.fraction_lost,
            })).collect::<Vec<_>>(),
            "datagramsDiscarded": s.datagrams_discarded,
            "srtpPacketsDiscarded": s.srtp_packets_discarded,
            "discarded": {
                "garbage": s.discarded.datagrams, "stun": s.discarded.stun,
                "dtls": s.discarded.dtls, "unknownSource": s.discarded.unknown_source,
                "srtpAuth": s.discarded.srtp_auth,
                "srtpUnknownSsrc": s.discarded.srtp_unknown_ssrc,
                "rtpUnknownPayloadType": s.discarded.rtp_unknown_payload_type,
                "rtpDuplicate": s.discarded.rtp_duplicate,
                "rtpPadding": s.discarded.rtp_padding,
                "rtpMalformed": s.discarded.rtp_malformed, "rtcp": s.discarded.rtcp,
            },
            "mediaNotSent": s.media_not_sent,
            "srtpCipher": s.srtp_cipher,
            "remoteEstimatedBitrate": s.remote_estimated_bitrate,
        });
        *out = owned_string(&value.to_string());
        Ok(())
    })
}

mod endpoints;
mod events;
pub use endpoints::*;
pub use events::*;
