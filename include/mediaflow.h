#ifndef MEDIAFLOW_H
#define MEDIAFLOW_H

/* Generated from crates/capi by `cargo run -p mediaflow-gen-header`. Do not edit: the test command fails when this file is stale. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
/*
 * Conventions of every function below (each function's comment says what differs):
 * - Handles (mf_runtime, mf_pipeline, mf_element) are owned by whoever received them
 *   from a *_new function and freed with their *_free; an argument handle is only
 *   borrowed for the call. Releasing (mf_pipeline_release, mf_element_release) ends
 *   the media object; the handle stays valid until freed, and calls on it then fail
 *   with MF_RESULT_PIPELINE_RELEASED / MF_RESULT_ELEMENT_RELEASED.
 * - Strings passed in are NUL-terminated UTF-8 read during the call only. Strings
 *   returned through a char ** are owned by the caller: free them with mf_string_free.
 *   Pointers inside an mf_event are valid only while the callback that received it runs.
 * - Every function may be called from any thread, including from an event callback.
 *   Callbacks run on a dispatcher thread of the pipeline's runtime, never the caller's.
 * - Functions returning mf_result: MF_RESULT_NULL_ARGUMENT for a required NULL
 *   pointer, MF_RESULT_INVALID_UTF8 for a bad string, MF_RESULT_PANIC if a bug in
 *   mediaflow panicked (caught at the boundary); mf_last_error copies the detail of the
 *   last failure on the calling thread. Integer arguments standing for enums are
 *   validated: an unknown value is MF_RESULT_INVALID_ARGUMENT, never undefined.
 */

#define MEDIAFLOW_VERSION "0.1.0"
#define MEDIAFLOW_VERSION_MAJOR 0
#define MEDIAFLOW_VERSION_MINOR 1
#define MEDIAFLOW_VERSION_PATCH 0

// Result of every fallible function.
typedef enum mf_result {
  // Success.
  MF_RESULT_OK = 0,
  // A required pointer argument was NULL.
  MF_RESULT_NULL_ARGUMENT = 1,
  // A string argument was not valid UTF-8.
  MF_RESULT_INVALID_UTF8 = 2,
  // An argument was out of its domain.
  MF_RESULT_INVALID_ARGUMENT = 3,
  // The pipeline was released.
  MF_RESULT_PIPELINE_RELEASED = 4,
  // The element was released.
  MF_RESULT_ELEMENT_RELEASED = 5,
  // The elements belong to different pipelines.
  MF_RESULT_DIFFERENT_PIPELINES = 6,
  // No such link to disconnect.
  MF_RESULT_NOT_CONNECTED = 7,
  // An SDP could not be parsed or applied.
  MF_RESULT_INVALID_SDP = 8,
  // The offer has no codec in common with the endpoint.
  MF_RESULT_NO_COMMON_CODEC = 9,
  // The call does not fit the negotiation state (e.g. process_answer before
  // generate_offer).
  MF_RESULT_WRONG_STATE = 10,
  // An ICE candidate string does not parse.
  MF_RESULT_INVALID_CANDIDATE = 11,
  // The element is not of the type the function needs (e.g. not a WebRtcEndpoint).
  MF_RESULT_WRONG_ELEMENT_TYPE = 12,
  // The event has no such field.
  MF_RESULT_NO_SUCH_FIELD = 13,
  // The pipeline did not answer in time.
  MF_RESULT_TIMEOUT = 14,
  // The system refused a resource (thread, socket, port).
  MF_RESULT_RESOURCE = 15,
  // An internal error; the message says more.
  MF_RESULT_INTERNAL = 16,
  // A panic was caught at the boundary (a bug in mediaflow).
  MF_RESULT_PANIC = 17,
} mf_result;

// Media types of pads (Kurento's MediaType).
typedef enum mf_media_type {
  // Audio.
  MF_MEDIA_AUDIO = 0,
  // Video.
  MF_MEDIA_VIDEO = 1,
  // Data channels.
  MF_MEDIA_DATA = 2,
  // All three (connect/disconnect only).
  MF_MEDIA_ALL = 3,
} mf_media_type;

// Kinds of events (Kurento's names).
typedef enum mf_event_type {
  // `Error`.
  MF_EVENT_ERROR = 0,
  // `ElementConnected`.
  MF_EVENT_ELEMENT_CONNECTED = 1,
  // `ElementDisconnected`.
  MF_EVENT_ELEMENT_DISCONNECTED = 2,
  // `MediaFlowInStateChanged`.
  MF_EVENT_MEDIA_FLOW_IN_STATE_CHANGED = 3,
  // `MediaFlowOutStateChanged`.
  MF_EVENT_MEDIA_FLOW_OUT_STATE_CHANGED = 4,
  // `MediaTranscodingStateChanged`.
  MF_EVENT_MEDIA_TRANSCODING_STATE_CHANGED = 5,
  // `MediaStateChanged`.
  MF_EVENT_MEDIA_STATE_CHANGED = 6,
  // `ConnectionStateChanged`.
  MF_EVENT_CONNECTION_STATE_CHANGED = 7,
  // `IceCandidateFound`.
  MF_EVENT_ICE_CANDIDATE_FOUND = 8,
  // `IceGatheringDone`.
  MF_EVENT_ICE_GATHERING_DONE = 9,
  // `IceComponentStateChanged`.
  MF_EVENT_ICE_COMPONENT_STATE_CHANGED = 10,
  // `NewCandidatePairSelected`.
  MF_EVENT_NEW_CANDIDATE_PAIR_SELECTED = 11,
  // `DtlsConnectionStateChange`.
  MF_EVENT_DTLS_CONNECTION_STATE_CHANGE = 12,
  // `Recording` (RecorderEndpoint).
  MF_EVENT_RECORDING = 13,
  // `Paused` (RecorderEndpoint).
  MF_EVENT_PAUSED = 14,
  // `Stopped` (RecorderEndpoint).
  MF_EVENT_STOPPED = 15,
  // `DataChannelOpened` (WebRtcEndpoint).
  MF_EVENT_DATA_CHANNEL_OPENED = 16,
  // `DataChannelClosed` (WebRtcEndpoint).
  MF_EVENT_DATA_CHANNEL_CLOSED = 17,
  // `EndOfStream` (PlayerEndpoint).
  MF_EVENT_END_OF_STREAM = 18,
} mf_event_type;

// Flowing or not (MediaFlowIn/OutStateChanged).
typedef enum mf_media_flow_state {
  // Buffers pass.
  MF_FLOWING = 0,
  // No buffer for the idle time.
  MF_NOT_FLOWING = 1,
} mf_media_flow_state;

// libnice's component states (IceComponentStateChanged).
typedef enum mf_ice_component_state {
  // No activity.
  MF_ICE_DISCONNECTED = 0,
  // Gathering local candidates.
  MF_ICE_GATHERING = 1,
  // Connectivity checks running.
  MF_ICE_CONNECTING = 2,
  // A working pair.
  MF_ICE_CONNECTED = 3,
  // Selection final.
  MF_ICE_READY = 4,
  // No connectivity.
  MF_ICE_FAILED = 5,
} mf_ice_component_state;

// Connected or not (ConnectionStateChanged, MediaStateChanged).
typedef enum mf_connection_state {
  // Down.
  MF_DISCONNECTED = 0,
  // Up.
  MF_CONNECTED = 1,
} mf_connection_state;

// DTLS transport states (DtlsConnectionStateChange).
typedef enum mf_dtls_state {
  // Not started.
  MF_DTLS_NEW = 0,
  // Handshaking.
  MF_DTLS_CONNECTING = 1,
  // Keys exchanged.
  MF_DTLS_CONNECTED = 2,
  // Closed.
  MF_DTLS_CLOSED = 3,
  // Failed.
  MF_DTLS_FAILED = 4,
} mf_dtls_state;

// Kurento's error types (the `type` string of an Error event, as a number).
typedef enum mf_error_type {
  // `UNEXPECTED_ELEMENT_ERROR`: unclassified (Kurento's default).
  MF_ERROR_UNEXPECTED_ELEMENT_ERROR = 0,
  // `UNEXPECTED_PIPELINE_ERROR`: an error no element handled, raised on the pipeline.
  MF_ERROR_UNEXPECTED_PIPELINE_ERROR = 1,
  // `RESOURCE_ERROR_OPEN`: a local file or resource could not be opened.
  MF_ERROR_RESOURCE_ERROR_OPEN = 2,
  // `RESOURCE_ERROR_WRITE`: a write to storage failed.
  MF_ERROR_RESOURCE_ERROR_WRITE = 3,
  // `RESOURCE_ERROR_NO_SPACE_LEFT`: storage is full.
  MF_ERROR_RESOURCE_ERROR_NO_SPACE_LEFT = 4,
  // `STREAM_ERROR_DECODE`: a received stream could not be decoded.
  MF_ERROR_STREAM_ERROR_DECODE = 5,
  // `STREAM_ERROR_FAILED`: a generic media flow failure.
  MF_ERROR_STREAM_ERROR_FAILED = 6,
  // `INVALID_URI`: a URI could not be used.
  MF_ERROR_INVALID_URI = 7,
  // `INVALID_MEDIA`: media of an unusable kind or format.
  MF_ERROR_INVALID_MEDIA = 8,
} mf_error_type;

// Transcoding or not (MediaTranscodingStateChanged).
typedef enum mf_transcoding_state {
  // Decoding and re-encoding for a consumer.
  MF_TRANSCODING = 0,
  // Forwarding as it came.
  MF_NOT_TRANSCODING = 1,
} mf_transcoding_state;

// Kurento's `MediaProfileSpecType`: a recording's container and the media it keeps.
typedef enum mf_media_profile {
  // WebM, VP8 video and Opus audio.
  MF_MEDIA_PROFILE_WEBM = 0,
  // WebM, Opus audio only.
  MF_MEDIA_PROFILE_WEBM_AUDIO_ONLY = 1,
  // WebM, VP8 video only.
  MF_MEDIA_PROFILE_WEBM_VIDEO_ONLY = 2,
  // Matroska, VP8 video and Opus audio.
  MF_MEDIA_PROFILE_MKV = 3,
  // Matroska, Opus audio only.
  MF_MEDIA_PROFILE_MKV_AUDIO_ONLY = 4,
  // Matroska, VP8 video only.
  MF_MEDIA_PROFILE_MKV_VIDEO_ONLY = 5,
  // Fragmented MP4, H.264 video (VP8 is transcoded to it) and Opus audio.
  MF_MEDIA_PROFILE_MP4 = 6,
  // Fragmented MP4, Opus audio only.
  MF_MEDIA_PROFILE_MP4_AUDIO_ONLY = 7,
  // Fragmented MP4, H.264 video only (VP8 is transcoded to it).
  MF_MEDIA_PROFILE_MP4_VIDEO_ONLY = 8,
} mf_media_profile;

// SDES-SRTP crypto suites of an RtpEndpoint (Kurento's `CryptoSuite`).
typedef enum mf_crypto_suite {
  // Plain RTP, no SRTP.
  MF_CRYPTO_SUITE_NONE = 0,
  // AES_128_CM_HMAC_SHA1_80 (RFC 4568), with a random key of the endpoint's.
  MF_CRYPTO_SUITE_AES_128_CM_HMAC_SHA1_80 = 1,
} mf_crypto_suite;

// An element of a pipeline (opaque): a PassThrough, a WebRtcEndpoint, ...
typedef struct mf_element mf_element;

// An event, valid only while the callback that received it runs (opaque).
typedef struct mf_event mf_event;

// A media pipeline (opaque).
typedef struct mf_pipeline mf_pipeline;

// A runtime (opaque): the worker and dispatcher threads pipelines run on.
typedef struct mf_runtime mf_runtime;

// Options of a new WebRtcEndpoint; zero-initialize it (`{0}`) for the defaults.
// String fields may be NULL.
typedef struct mf_webrtc_options {
  // Only receive media.
  bool recvonly;
  // Only send media.
  bool sendonly;
  // Comma-separated interface names to gather on (NULL: all).
  const char *network_interfaces;
  // UDP port range (both 0: any port).
  uint16_t min_port;
  // Upper end of the port range.
  uint16_t max_port;
  // STUN server host or IP (NULL: none).
  const char *stun_server_address;
  // STUN server port (0: 3478).
  uint16_t stun_server_port;
  // TURN server as `user:password@host:port` (NULL: none).
  const char *turn_url;
  // Offer passive ICE-TCP candidates too.
  bool ice_tcp;
  // Most video the peer may send, in kbps (0: 2 Mbps), announced as `b=AS` and
  // with REMB.
  uint32_t max_video_recv_bandwidth;
  // Connect through the TURN relay only (needs `turn_url`).
  bool relay_only;
  // Public IPv4 or IPv6 address of this host behind a 1:1 NAT (NULL: none).
  const char *external_address;
  // Also gather IPv6 host candidates.
  bool ipv6;
  // Negotiate an SCTP data-channel section (Kurento's `useDataChannels`), for
  // `mf_webrtc_create_data_channel` and the peer's channels.
  bool use_data_channels;
  // Most audio the peer may send, in kbps (0: no limit), announced as `b=AS`
  // (Kurento's `maxAudioRecvBandwidth`).
  uint32_t max_audio_recv_bandwidth;
  // Largest playout delay, in ms, the endpoint may ask the peer's receiver for while
  // the video it forwards comes late, so that repairs of lost packets do not freeze
  // the picture (0: the default, 600 ms). See `no_playout_delay`.
  uint32_t max_playout_delay;
  // Never ask the peer's receiver for a playout delay (latency first; the
  // `playout-delay` RTP header extension is not negotiated).
  bool no_playout_delay;
} mf_webrtc_options;

// Options of a new RtpEndpoint; zero-initialize it (`{0}`) for the defaults. The
// strings are read during `mf_rtp_endpoint_new` only and may be NULL.
typedef struct mf_rtp_options {
  // Only receive media.
  bool recvonly;
  // Only send media.
  bool sendonly;
  // Local IP address (IPv4 or IPv6 text) to bind and to write in the SDP's `c=` line
  // (NULL: the host's first address).
  const char *address;
  // UDP port range (both 0: any port). Each medium takes an even RTP port and the
  // next one for RTCP.
  uint16_t min_port;
  // Upper end of the port range.
  uint16_t max_port;
  // SDES-SRTP (Kurento's `crypto`): an `mf_crypto_suite` value (0: plain RTP).
  // With a suite, plain RTP/AVP(F) offers are refused.
  uint32_t crypto;
  // Offer RTP/AVP without RTCP feedback instead of RTP/AVPF (NACK, PLI, FIR, REMB).
  // Offers of either profile are answered in it.
  bool avp;
  // Most video the peer may send, in kbps (0: 2 Mbps), announced as `b=AS` and
  // with REMB.
  uint32_t max_video_recv_bandwidth;
  // Most audio the peer may send, in kbps (0: no limit), announced as `b=AS`.
  uint32_t max_audio_recv_bandwidth;
} mf_rtp_options;

// A callback for events. It runs on the pipeline's event thread (a dispatcher thread of
// its runtime, shared with other pipelines, so keep it short), may call back into
// the API, and must not keep `event` after it returns.
typedef void (*mf_event_callback)(const struct mf_event *event, void *user_data);

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

// A short static text naming `result` (an `mf_result` value; any other integer gets
// "unknown result code"). Never NULL; not to be freed.
// Thread: any; no error of its own (does not touch `mf_last_error`).
const char *mf_result_message(int32_t result);

// The detail of the last error on the calling thread, copied into `buf` (NUL-terminated,
// truncated to `len`). Returns the full length without the NUL.
// `buf` may be NULL (or `len` 0) to ask for the length only; otherwise `len` writable
// bytes at `buf`, owned by the caller. Each failing call on a thread replaces that
// thread's detail; successful calls leave it. Never fails.
size_t mf_last_error(char *buf, size_t len);

// Frees a string returned by mediaflow. NULL is ignored.
// Only for strings mediaflow returned through a `char **` output (not for strings read
// from an `mf_event`, nor `mf_result_message`'s); each exactly once.
void mf_string_free(char *s);

// Creates a runtime of `workers` worker threads (0: one per core) and `dispatchers`
// event-callback threads (0: two). When `shared_udp_port` is not 0, every endpoint of
// the runtime uses one UDP socket per host address on that port (with 0, each endpoint
// binds its own). Put pipelines on it with `mf_pipeline_new_on`. Free it with
// `mf_runtime_free`; its threads end once it and its last pipeline are gone.
// On success `*out` receives a new handle owned by the caller (free it with
// `mf_runtime_free`); on error it is left untouched. Errors: `MF_RESULT_NULL_ARGUMENT`
// (NULL `out`), `MF_RESULT_RESOURCE` (threads cannot start, or the shared UDP port
// cannot be bound), `MF_RESULT_PANIC`.
enum mf_result mf_runtime_new(uint32_t workers,
                              uint32_t dispatchers,
                              uint16_t shared_udp_port,
                              struct mf_runtime **out);

// Threads the runtime runs (workers and dispatchers): fixed, whatever the number of
// pipelines. Writes it to `*out`.
// `runtime` is a live handle from `mf_runtime_new`; `out` a writable location of the
// caller. Errors: `MF_RESULT_NULL_ARGUMENT`, `MF_RESULT_PANIC`.
enum mf_result mf_runtime_thread_count(const struct mf_runtime *runtime, uint32_t *out);

// Frees the handle. Pipelines on the runtime keep it running until they are released.
// NULL is ignored.
// `runtime` comes from `mf_runtime_new` and is freed once; it must not race with other
// calls on it. Pipelines created on it stay valid.
void mf_runtime_free(struct mf_runtime *runtime);

// Creates a pipeline on `runtime` (see `mf_runtime_new`). Free it with
// `mf_pipeline_free`.
// `runtime` is a live handle from `mf_runtime_new`, borrowed (the pipeline keeps the
// threads alive on its own). On success `*out` receives a new handle owned by the
// caller (free it with `mf_pipeline_free`); on error it is left untouched. Errors:
// `MF_RESULT_NULL_ARGUMENT`, `MF_RESULT_RESOURCE`, `MF_RESULT_TIMEOUT`,
// `MF_RESULT_PANIC`.
enum mf_result mf_pipeline_new_on(const struct mf_runtime *runtime, struct mf_pipeline **out);

// Creates a pipeline on the process's default runtime (started on first use: one
// worker per core, two event threads). Free it with `mf_pipeline_free`.
// On success `*out` receives a new handle owned by the caller (free it with
// `mf_pipeline_free`); on error it is left untouched. Errors:
// `MF_RESULT_NULL_ARGUMENT` (NULL `out`), `MF_RESULT_RESOURCE` (the default runtime's
// threads cannot start), `MF_RESULT_TIMEOUT`, `MF_RESULT_PANIC`.
enum mf_result mf_pipeline_new(struct mf_pipeline **out);

// Releases the pipeline: its elements go and its sockets close (this call waits for its
// worker).
// The handle stays valid until `mf_pipeline_free`.
// `pipeline` is a live handle (from `mf_pipeline_new`/`mf_pipeline_new_on`, not
// freed), borrowed for the call. It may be called from an event callback (it then does
// not wait for that callback's lane). Element handles of the pipeline stay valid
// (their calls give `MF_RESULT_PIPELINE_RELEASED`) until freed. Errors:
// `MF_RESULT_NULL_ARGUMENT`, `MF_RESULT_PIPELINE_RELEASED` (already released),
// `MF_RESULT_TIMEOUT`, `MF_RESULT_PANIC`.
enum mf_result mf_pipeline_release(const struct mf_pipeline *pipeline);

// Frees the handle (releasing the pipeline if that was its last handle). NULL is
// ignored. Must not race with other calls on this handle.
// `pipeline` comes from `mf_pipeline_new`/`mf_pipeline_new_on` and is freed once.
// Element handles keep the pipeline alive until they are freed or it is released.
void mf_pipeline_free(struct mf_pipeline *pipeline);

// Creates a PassThrough in `pipeline`. Free the handle with `mf_element_free`.
// `pipeline` is a live handle (from `mf_pipeline_new`/`mf_pipeline_new_on`, not
// freed), borrowed for the call. On success `*out` receives a new handle owned by the
// caller (free it with `mf_element_free`); on error it is left untouched. Errors:
// `MF_RESULT_NULL_ARGUMENT`, `MF_RESULT_PIPELINE_RELEASED` /
// `MF_RESULT_ELEMENT_RELEASED` after a release, `MF_RESULT_TIMEOUT` if the pipeline's
// worker does not answer (5 s), `MF_RESULT_PANIC` (a bug).
enum mf_result mf_passthrough_new(const struct mf_pipeline *pipeline, struct mf_element **out);

// Creates an AppSource: buffers the host pushes with `mf_app_source_push` leave its
// source pads. Free the handle with `mf_element_free`.
// `pipeline` is a live handle (from `mf_pipeline_new`/`mf_pipeline_new_on`, not
// freed), borrowed for the call. On success `*out` receives a new handle owned by the
// caller (free it with `mf_element_free`); on error it is left untouched. Errors:
// `MF_RESULT_NULL_ARGUMENT`, `MF_RESULT_PIPELINE_RELEASED` /
// `MF_RESULT_ELEMENT_RELEASED` after a release, `MF_RESULT_TIMEOUT` if the pipeline's
// worker does not answer (5 s), `MF_RESULT_PANIC` (a bug).
enum mf_result mf_app_source_new(const struct mf_pipeline *pipeline, struct mf_element **out);

// Pushes one buffer (`len` bytes at `data`, copied) into an AppSource. `codec` names
// the payload's codec by SDP mime type (`"video/VP8"`, ...) or is NULL for raw data;
// a WebRtcEndpoint sends RTP packets of a codec it negotiated.
// `source` is a live handle (from an `mf_*_new` function, not freed), borrowed for the
// call. `data` points to `len` readable bytes (may be NULL when `len` is 0), copied
// before the call returns. Strings in (`codec`) are NUL-terminated UTF-8, read during
// the call only (the caller keeps ownership). May block while the pipeline's input
// queue is full (at most the call timeout). Errors: `MF_RESULT_NULL_ARGUMENT`,
// `MF_RESULT_INVALID_UTF8`, `MF_RESULT_WRONG_ELEMENT_TYPE` (not an AppSource),
// `MF_RESULT_INVALID_ARGUMENT` (`media` not AUDIO/VIDEO/DATA, unknown `codec`),
// `MF_RESULT_PIPELINE_RELEASED` / `MF_RESULT_ELEMENT_RELEASED` after a release,
// `MF_RESULT_TIMEOUT` if the pipeline's worker does not answer (5 s),
// `MF_RESULT_PANIC` (a bug).
enum mf_result mf_app_source_push(const struct mf_element *source,
                                  uint32_t media,
                                  const char *codec,
                                  const uint8_t *data,
                                  size_t len,
                                  bool keyframe);

// Creates an AppSink holding up to `capacity` buffers (0: 1024) for the host to take
// with `mf_app_sink_pull`. Free the handle with `mf_element_free`.
// `pipeline` is a live handle (from `mf_pipeline_new`/`mf_pipeline_new_on`, not
// freed), borrowed for the call. On success `*out` receives a new handle owned by the
// caller (free it with `mf_element_free`); on error it is left untouched. Errors:
// `MF_RESULT_NULL_ARGUMENT`, `MF_RESULT_PIPELINE_RELEASED` /
// `MF_RESULT_ELEMENT_RELEASED` after a release, `MF_RESULT_TIMEOUT` if the pipeline's
// worker does not answer (5 s), `MF_RESULT_PANIC` (a bug).
enum mf_result mf_app_sink_new(const struct mf_pipeline *pipeline,
                               size_t capacity,
                               struct mf_element **out);

// Takes the next buffer that reached an AppSink, waiting at most `timeout_ms`
// (`MF_RESULT_TIMEOUT` when none came). Its bytes are copied into `buf` (up to
// `capacity`; `*len` receives the full size, which may be larger). `media` and
// `keyframe` may be NULL.
// `sink` is a live handle (from an `mf_*_new` function, not freed), borrowed for the
// call. `buf` points to `capacity` writable bytes (may be NULL when `capacity` is 0);
// `len`, `media`, `keyframe` are writable locations of the caller. Blocks the calling
// thread up to `timeout_ms`. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL `sink` or `len`,
// NULL `buf` with a capacity), `MF_RESULT_WRONG_ELEMENT_TYPE` (not an AppSink),
// `MF_RESULT_TIMEOUT` (no buffer in time; also once the pipeline is released),
// `MF_RESULT_PANIC`. A buffer larger than `capacity` is taken and truncated (`*len`
// tells its size).
enum mf_result mf_app_sink_pull(const struct mf_element *sink,
                                uint32_t timeout_ms,
                                uint8_t *buf,
                                size_t capacity,
                                size_t *len,
                                enum mf_media_type *media,
                                bool *keyframe);

// Creates a WebRtcEndpoint in `pipeline` (`options` may be NULL for the defaults).
// Free the handle with `mf_element_free`.
// `pipeline` is a live handle (from `mf_pipeline_new`/`mf_pipeline_new_on`, not
// freed), borrowed for the call. `options` and its strings are read during the call
// only. On success `*out` receives a new handle owned by the caller (free it with
// `mf_element_free`); on error it is left untouched. Errors:
// `MF_RESULT_NULL_ARGUMENT`, `MF_RESULT_INVALID_UTF8`, `MF_RESULT_INVALID_ARGUMENT` (a
// bad `external_address`, `turn_url` or STUN host, `relay_only` without TURN),
// `MF_RESULT_RESOURCE` (no port to bind), `MF_RESULT_PIPELINE_RELEASED` /
// `MF_RESULT_ELEMENT_RELEASED` after a release, `MF_RESULT_TIMEOUT` if the pipeline's
// worker does not answer (5 s), `MF_RESULT_PANIC` (a bug).
enum mf_result mf_webrtc_endpoint_new(const struct mf_pipeline *pipeline,
                                      const struct mf_webrtc_options *options,
                                      struct mf_element **out);

// Removes the element from its pipeline (its links are disconnected). The handle
// stays valid until `mf_element_free`.
// `element` is a live handle (from an `mf_*_new` function, not freed), borrowed for
// the call. Links are reported as ElementDisconnected on their sources. Errors:
// `MF_RESULT_NULL_ARGUMENT`, `MF_RESULT_PIPELINE_RELEASED` /
// `MF_RESULT_ELEMENT_RELEASED` after a release, `MF_RESULT_TIMEOUT` if the pipeline's
// worker does not answer (5 s), `MF_RESULT_PANIC` (a bug).
enum mf_result mf_element_release(const struct mf_element *element);

// Frees the handle. NULL is ignored. Must not race with other calls on this handle.
// `element` comes from an `mf_*_new` function and is freed once. Freeing a handle does
// not release the element: `mf_element_release` or the pipeline's release does.
void mf_element_free(struct mf_element *element);

// The element's object id, e.g. `7_mediaflow.WebRtcEndpoint`. Free with
// `mf_string_free`.
// `element` is a live handle (from an `mf_*_new` function, not freed), borrowed for
// the call. On success `*out` receives a NUL-terminated UTF-8 string owned by the
// caller (free it with `mf_string_free`). Errors: `MF_RESULT_NULL_ARGUMENT`,
// `MF_RESULT_PANIC` (works on released elements too).
enum mf_result mf_element_id(const struct mf_element *element, char **out);

// Sets a tag on the element (Kurento's addTag); an existing key is replaced.
// `element` is a live handle (from an `mf_*_new` function, not freed), borrowed for
// the call. Strings in (`key`, `value`) are NUL-terminated UTF-8, read during the call
// only (the caller keeps ownership). Errors: `MF_RESULT_NULL_ARGUMENT`,
// `MF_RESULT_INVALID_UTF8`, `MF_RESULT_PIPELINE_RELEASED` /
// `MF_RESULT_ELEMENT_RELEASED` after a release, `MF_RESULT_TIMEOUT` if the pipeline's
// worker does not answer (5 s), `MF_RESULT_PANIC` (a bug).
enum mf_result mf_element_add_tag(const struct mf_element *element,
                                  const char *key,
                                  const char *value);

// Whether the element's events carry its tags (Kurento's sendTagsInEvents).
// `element` is a live handle (from an `mf_*_new` function, not freed), borrowed for
// the call. Errors: `MF_RESULT_NULL_ARGUMENT`, `MF_RESULT_PIPELINE_RELEASED` /
// `MF_RESULT_ELEMENT_RELEASED` after a release, `MF_RESULT_TIMEOUT` if the pipeline's
// worker does not answer (5 s), `MF_RESULT_PANIC` (a bug).
enum mf_result mf_element_set_send_tags_in_events(const struct mf_element *element, bool send);

// Connects `source` to `sink` for one media type, or all with `MF_MEDIA_ALL`
// (`media` is an `mf_media_type` value; others give `MF_RESULT_INVALID_ARGUMENT`). A
// sink pad has one source: a previous one is disconnected.
// `source` and `sink` are live element handles (may be the same: a loopback),
// borrowed. Errors: `MF_RESULT_NULL_ARGUMENT`, `MF_RESULT_INVALID_ARGUMENT` (`media`),
// `MF_RESULT_DIFFERENT_PIPELINES`, `MF_RESULT_PIPELINE_RELEASED` /
// `MF_RESULT_ELEMENT_RELEASED` after a release, `MF_RESULT_TIMEOUT` if the pipeline's
// worker does not answer (5 s), `MF_RESULT_PANIC` (a bug).
enum mf_result mf_element_connect(const struct mf_element *source,
                                  const struct mf_element *sink,
                                  uint32_t media);

// Removes the link(s) from `source` to `sink` for one media type or all (`media` as
// in `mf_element_connect`).
// `source` and `sink` are live element handles, borrowed. Errors:
// `MF_RESULT_NULL_ARGUMENT`, `MF_RESULT_INVALID_ARGUMENT` (`media`),
// `MF_RESULT_NOT_CONNECTED` (no such link), `MF_RESULT_DIFFERENT_PIPELINES`,
// `MF_RESULT_PIPELINE_RELEASED` / `MF_RESULT_ELEMENT_RELEASED` after a release,
// `MF_RESULT_TIMEOUT` if the pipeline's worker does not answer (5 s),
// `MF_RESULT_PANIC` (a bug).
enum mf_result mf_element_disconnect(const struct mf_element *source,
                                     const struct mf_element *sink,
                                     uint32_t media);

// Applies the peer's SDP offer; `*answer` receives the SDP answer (free it with
// `mf_string_free`).
// `endpoint` is a live handle (from an `mf_*_new` function, not freed), borrowed for
// the call. Strings in (`offer`) are NUL-terminated UTF-8, read during the call only
// (the caller keeps ownership). Errors: `MF_RESULT_NULL_ARGUMENT`,
// `MF_RESULT_INVALID_UTF8`, `MF_RESULT_WRONG_ELEMENT_TYPE` (neither a WebRtcEndpoint nor an
// RtpEndpoint),
// `MF_RESULT_INVALID_SDP`, `MF_RESULT_NO_COMMON_CODEC`, `MF_RESULT_WRONG_STATE`,
// `MF_RESULT_PIPELINE_RELEASED` / `MF_RESULT_ELEMENT_RELEASED` after a release,
// `MF_RESULT_TIMEOUT` if the pipeline's worker does not answer (5 s),
// `MF_RESULT_PANIC` (a bug); `*answer` is untouched on error.
// Takes a WebRtcEndpoint or an RtpEndpoint: the same as the `mf_sdp_endpoint_` call
// of this name, kept for existing callers.
enum mf_result mf_webrtc_process_offer(const struct mf_element *endpoint,
                                       const char *offer,
                                       char **answer);

// Creates an SDP offer; `*offer` receives it (free it with `mf_string_free`).
// `endpoint` is a live handle (from an `mf_*_new` function, not freed), borrowed for
// the call. Errors: `MF_RESULT_NULL_ARGUMENT`, `MF_RESULT_INVALID_UTF8`,
// `MF_RESULT_WRONG_ELEMENT_TYPE` (neither a WebRtcEndpoint nor an
// RtpEndpoint), `MF_RESULT_WRONG_STATE`,
// `MF_RESULT_PIPELINE_RELEASED` / `MF_RESULT_ELEMENT_RELEASED` after a release,
// `MF_RESULT_TIMEOUT` if the pipeline's worker does not answer (5 s),
// `MF_RESULT_PANIC` (a bug); `*offer` is untouched on error.
// Takes a WebRtcEndpoint or an RtpEndpoint: the same as the `mf_sdp_endpoint_` call
// of this name, kept for existing callers.
enum mf_result mf_webrtc_generate_offer(const struct mf_element *endpoint, char **offer);

// Applies the peer's SDP answer to our offer.
// `endpoint` is a live handle (from an `mf_*_new` function, not freed), borrowed for
// the call. Strings in (`answer`) are NUL-terminated UTF-8, read during the call only
// (the caller keeps ownership). Errors: `MF_RESULT_NULL_ARGUMENT`,
// `MF_RESULT_INVALID_UTF8`, `MF_RESULT_WRONG_ELEMENT_TYPE` (neither a WebRtcEndpoint nor an
// RtpEndpoint),
// `MF_RESULT_INVALID_SDP`, `MF_RESULT_NO_COMMON_CODEC`, `MF_RESULT_WRONG_STATE` (no
// offer of ours pending), `MF_RESULT_PIPELINE_RELEASED` / `MF_RESULT_ELEMENT_RELEASED`
// after a release, `MF_RESULT_TIMEOUT` if the pipeline's worker does not answer (5 s),
// `MF_RESULT_PANIC` (a bug).
// Takes a WebRtcEndpoint or an RtpEndpoint: the same as the `mf_sdp_endpoint_` call
// of this name, kept for existing callers.
enum mf_result mf_webrtc_process_answer(const struct mf_element *endpoint, const char *answer);

// Starts ICE gathering: IceCandidateFound events, then IceGatheringDone.
// `endpoint` is a live handle (from an `mf_*_new` function, not freed), borrowed for
// the call. The events reach subscribed callbacks on the pipeline's event thread.
// Errors: `MF_RESULT_NULL_ARGUMENT`, `MF_RESULT_WRONG_ELEMENT_TYPE`,
// `MF_RESULT_PIPELINE_RELEASED` / `MF_RESULT_ELEMENT_RELEASED` after a release,
// `MF_RESULT_TIMEOUT` if the pipeline's worker does not answer (5 s),
// `MF_RESULT_PANIC` (a bug).
enum mf_result mf_webrtc_gather_candidates(const struct mf_element *endpoint);

// Adds a candidate of the peer (at any time: before the remote description it is kept).
// `sdp_mid` may be NULL ("0").
// `endpoint` is a live handle (from an `mf_*_new` function, not freed), borrowed for
// the call. Strings in (`candidate`, `sdp_mid`) are NUL-terminated UTF-8, read during
// the call only (the caller keeps ownership). Errors: `MF_RESULT_NULL_ARGUMENT`,
// `MF_RESULT_INVALID_UTF8`, `MF_RESULT_WRONG_ELEMENT_TYPE` (not a WebRtcEndpoint),
// `MF_RESULT_INVALID_CANDIDATE`, `MF_RESULT_PIPELINE_RELEASED` /
// `MF_RESULT_ELEMENT_RELEASED` after a release, `MF_RESULT_TIMEOUT` if the pipeline's
// worker does not answer (5 s), `MF_RESULT_PANIC` (a bug).
enum mf_result mf_webrtc_add_ice_candidate(const struct mf_element *endpoint,
                                           const char *candidate,
                                           const char *sdp_mid,
                                           uint32_t sdp_m_line_index);

// RTP statistics as JSON text (W3C webrtc-stats names); free with `mf_string_free`.
// `endpoint` is a live handle (from an `mf_*_new` function, not freed), borrowed for
// the call. On success `*json` receives a NUL-terminated UTF-8 string owned by the
// caller (free it with `mf_string_free`). Errors: `MF_RESULT_NULL_ARGUMENT`,
// `MF_RESULT_WRONG_ELEMENT_TYPE`, `MF_RESULT_PIPELINE_RELEASED` /
// `MF_RESULT_ELEMENT_RELEASED` after a release, `MF_RESULT_TIMEOUT` if the pipeline's
// worker does not answer (5 s), `MF_RESULT_PANIC` (a bug).
enum mf_result mf_webrtc_get_stats(const struct mf_element *endpoint, char **json);

// Creates a RecorderEndpoint in `pipeline` that stores what reaches it in the file of
// `uri` (`file:///absolute/path.webm`; NUL-terminated UTF-8, read during the call
// only). `media_profile` is an `mf_media_profile` value (another integer:
// `MF_RESULT_INVALID_ARGUMENT`). The file is not touched before `mf_recorder_record`.
// `*out` receives a new handle the caller owns and frees with `mf_element_free`.
// Errors: NULL `pipeline`/`uri`/`out` (`MF_RESULT_NULL_ARGUMENT`), a URI that is not
// `file:///...` (`MF_RESULT_INVALID_ARGUMENT`), a released pipeline.
enum mf_result mf_recorder_endpoint_new(const struct mf_pipeline *pipeline,
                                        const char *uri,
                                        uint32_t media_profile,
                                        struct mf_element **out);

// Starts recording, or resumes after `mf_recorder_pause` (Kurento's `record`). The
// file is created by the first call; when it cannot be, the call still succeeds and an
// Error event RESOURCE_ERROR_OPEN follows. A Recording event is raised once it
// records. `MF_RESULT_WRONG_STATE` after `mf_recorder_stop`;
// `MF_RESULT_WRONG_ELEMENT_TYPE` for another kind of element.
enum mf_result mf_recorder_record(const struct mf_element *recorder_endpoint);

// Pauses recording (Kurento's `pause`): media arriving meanwhile is not stored. A
// Paused event follows. `recorder_endpoint` is borrowed for the call. Errors: NULL
// (`MF_RESULT_NULL_ARGUMENT`), not a RecorderEndpoint (`MF_RESULT_WRONG_ELEMENT_TYPE`),
// a released element or pipeline, `MF_RESULT_TIMEOUT`, `MF_RESULT_PANIC`. Pausing what
// is not recording (before `mf_recorder_record`, after `mf_recorder_stop`) does nothing.
enum mf_result mf_recorder_pause(const struct mf_element *recorder_endpoint);

// Stops recording (Kurento's `stop`); the file is finalised in the background and a
// Stopped event follows when it is. A stopped recorder does not record again.
// `recorder_endpoint` is borrowed for the call. Errors as `mf_recorder_pause` (a second
// stop is not an error).
enum mf_result mf_recorder_stop(const struct mf_element *recorder_endpoint);

// `*out` receives how many frames the recorder dropped because its writer fell behind
// the media (a slow disk) or could not store them (an H.264 frame without a NAL unit).
// `recorder_endpoint` is borrowed for the call; `*out` is the caller's. Errors: NULL
// `recorder_endpoint` or `out` (`MF_RESULT_NULL_ARGUMENT`), not a RecorderEndpoint
// (`MF_RESULT_WRONG_ELEMENT_TYPE`), `MF_RESULT_PANIC`. Readable after release too.
enum mf_result mf_recorder_dropped_frames(const struct mf_element *recorder_endpoint,
                                          uint64_t *out);

// `*out` receives how many video frames the recorder did not store because no keyframe
// had come since recording started or resumed, a packet was lost or a frame dropped (a
// decoder could not use them; a keyframe is asked for meanwhile). Ownership and errors
// as `mf_recorder_dropped_frames`.
enum mf_result mf_recorder_skipped_frames(const struct mf_element *recorder_endpoint,
                                          uint64_t *out);

// Stops and waits until the file is finalised, at most `timeout_ms` milliseconds
// (Kurento's `stopAndWait`; `MF_RESULT_TIMEOUT` past it, the file then finishes in the
// background). After the element or its pipeline was released it only waits.
enum mf_result mf_recorder_stop_and_wait(const struct mf_element *recorder_endpoint,
                                         uint32_t timeout_ms);

// Creates an RtpEndpoint (Kurento's plain RTP endpoint: SDP offer/answer with
// RTP/AVP(F), no ICE, no DTLS) in `pipeline`; its sockets are bound now. `options` may
// be NULL for the defaults (it is read during the call only). Negotiate with
// `mf_sdp_endpoint_generate_offer` / `_process_offer` / `_process_answer`. `*out`
// receives a new handle the caller owns and frees with `mf_element_free`. Errors: NULL
// `pipeline`/`out`, a bad `address` or `crypto` value (`MF_RESULT_INVALID_ARGUMENT`),
// no free ports (`MF_RESULT_RESOURCE`), a released pipeline.
enum mf_result mf_rtp_endpoint_new(const struct mf_pipeline *pipeline,
                                   const struct mf_rtp_options *options,
                                   struct mf_element **out);

// Applies the peer's SDP offer to a WebRtcEndpoint or an RtpEndpoint (Kurento's
// `processOffer`). `offer` is NUL-terminated UTF-8, read during the call. `*answer`
// receives our SDP answer, owned by the caller (free it with `mf_string_free`); it is
// left untouched on error. Errors: `MF_RESULT_INVALID_SDP`, `MF_RESULT_NO_COMMON_CODEC`,
// `MF_RESULT_WRONG_STATE` (already negotiated), `MF_RESULT_WRONG_ELEMENT_TYPE`.
enum mf_result mf_sdp_endpoint_process_offer(const struct mf_element *endpoint,
                                             const char *offer,
                                             char **answer);

// Creates an SDP offer (Kurento's `generateOffer`: audio and video). `*offer` receives
// it, owned by the caller (free it with `mf_string_free`); it is left untouched on
// error. Errors: NULL `endpoint`/`offer` (`MF_RESULT_NULL_ARGUMENT`), not a
// WebRtcEndpoint or RtpEndpoint (`MF_RESULT_WRONG_ELEMENT_TYPE`), a released element
// or pipeline, `MF_RESULT_TIMEOUT`, `MF_RESULT_PANIC`.
enum mf_result mf_sdp_endpoint_generate_offer(const struct mf_element *endpoint, char **offer);

// Creates an SDP offer asking to receive only the kinds named (Kurento's
// `generateOffer(OfferOptions {offerToReceiveAudio, offerToReceiveVideo})`): a kind not
// asked for is offered `sendonly` (`inactive` for an endpoint that does not send it
// either). `*offer` receives it, owned by the caller (free it with `mf_string_free`).
// Errors as `mf_sdp_endpoint_generate_offer`.
enum mf_result mf_sdp_endpoint_generate_offer_with(const struct mf_element *endpoint,
                                                   bool offer_to_receive_audio,
                                                   bool offer_to_receive_video,
                                                   char **offer);

// Applies the peer's SDP answer to our offer (Kurento's `processAnswer`). `answer` is
// read during the call. `MF_RESULT_WRONG_STATE` without a generated offer.
enum mf_result mf_sdp_endpoint_process_answer(const struct mf_element *endpoint,
                                              const char *answer);

// Our SDP once offered or answered (Kurento's `getLocalSessionDescriptor`). `*sdp`
// receives it, owned by the caller (free it with `mf_string_free`), or NULL before
// any negotiation.
enum mf_result mf_sdp_endpoint_get_local_session_descriptor(const struct mf_element *endpoint,
                                                            char **sdp);

// The peer's SDP once given (Kurento's `getRemoteSessionDescriptor`). `*sdp` receives
// it, owned by the caller (free it with `mf_string_free`), or NULL before it came.
enum mf_result mf_sdp_endpoint_get_remote_session_descriptor(const struct mf_element *endpoint,
                                                             char **sdp);

// Creates a PlayerEndpoint in `pipeline` that plays the WebM or Matroska file of `uri`
// (`file:///absolute/path.webm`, or `http://` / `https://`, downloaded whole first;
// NUL-terminated UTF-8, read during the call only): its first VP8 (else H.264) track
// and first Opus track leave as RTP in real time once `mf_player_play` is called.
// The URI is looked at by `mf_player_play` (as in Kurento: a URI or file it cannot
// play is an Error event INVALID_URI, RESOURCE_ERROR_OPEN or INVALID_MEDIA then).
// `*out` receives a new handle the caller owns and frees with `mf_element_free`; on
// error it is left untouched. Errors: NULL `pipeline`/`uri`/`out`
// (`MF_RESULT_NULL_ARGUMENT`), `MF_RESULT_INVALID_UTF8`, a released pipeline,
// `MF_RESULT_TIMEOUT` if the pipeline's worker does not answer (5 s), `MF_RESULT_PANIC`.
enum mf_result mf_player_endpoint_new(const struct mf_pipeline *pipeline,
                                      const char *uri,
                                      struct mf_element **out);

// Starts playing (Kurento's `play`): from the start when stopped or at the end of the
// file, from where it was when paused. A local file is opened during the call; a URI
// or file it cannot play raises an Error event and the call still succeeds. An
// EndOfStream event follows the end of the file. Errors: NULL
// (`MF_RESULT_NULL_ARGUMENT`), not a PlayerEndpoint (`MF_RESULT_WRONG_ELEMENT_TYPE`),
// a released element or pipeline, `MF_RESULT_TIMEOUT`, `MF_RESULT_PANIC`.
enum mf_result mf_player_play(const struct mf_element *player_endpoint);

// Pauses (Kurento's `pause`): media stops, the position holds; `mf_player_play`
// resumes. Errors as `mf_player_play`.
enum mf_result mf_player_pause(const struct mf_element *player_endpoint);

// Stops (Kurento's `stop`): media stops and the position goes back to the start.
// Errors as `mf_player_play`.
enum mf_result mf_player_stop(const struct mf_element *player_endpoint);

// `*out` receives how many frames the player skipped because they were larger than a
// frame can be (4 MiB: a corrupt or hostile file). Ownership and errors as
// `mf_recorder_dropped_frames` (for a PlayerEndpoint).
enum mf_result mf_player_dropped_frames(const struct mf_element *player_endpoint, uint64_t *out);

// `*out` receives how many keyframe requests consumers sent the player (a file cannot
// make a keyframe: they are counted, and the consumer decodes from the file's next
// one). Ownership and errors as `mf_player_dropped_frames`.
enum mf_result mf_player_keyframe_requests(const struct mf_element *player_endpoint, uint64_t *out);

// `*position_ms` receives the position in the file, in milliseconds (Kurento's
// `position`); on error it is left untouched. Errors: NULL `player_endpoint` or
// `position_ms` (`MF_RESULT_NULL_ARGUMENT`), others as `mf_player_play`.
enum mf_result mf_player_get_position(const struct mf_element *player_endpoint,
                                      uint64_t *position_ms);

// Jumps to `position_ms` milliseconds into the file while playing or paused
// (Kurento's `setPosition`); playback resumes at the video keyframe at or before it.
// Errors: a position it cannot go to (`MF_RESULT_INVALID_ARGUMENT`), not playing or
// paused (`MF_RESULT_WRONG_STATE`), others as `mf_player_play`.
enum mf_result mf_player_set_position(const struct mf_element *player_endpoint,
                                      uint64_t position_ms);

// Creates a data channel to the peer (Kurento's `createDataChannel`); `*channel_id`
// receives its id (on error it is left untouched), and a DataChannelOpened event
// follows once the peer acknowledged it. The endpoint needs `use_data_channels` in its
// `mf_webrtc_options` and a negotiated data-channel section. `label` (NUL-terminated
// UTF-8) is required; `protocol` may be NULL (none). `ordered` false lets messages
// arrive as they come; `max_packet_life_time` (ms) or `max_retransmits` make it
// partially reliable, -1 for neither (Kurento's defaults). Errors: NULL
// `webrtc_endpoint`/`label`/`channel_id` (`MF_RESULT_NULL_ARGUMENT`),
// `MF_RESULT_INVALID_UTF8`, a bound outside -1..65535 (`MF_RESULT_INVALID_ARGUMENT`),
// not a WebRtcEndpoint (`MF_RESULT_WRONG_ELEMENT_TYPE`), no data-channel section
// negotiated (`MF_RESULT_WRONG_STATE`), a label too long (`MF_RESULT_INVALID_ARGUMENT`),
// too many channels (`MF_RESULT_RESOURCE`), a released element or pipeline,
// `MF_RESULT_TIMEOUT`, `MF_RESULT_PANIC`.
enum mf_result mf_webrtc_create_data_channel(const struct mf_element *webrtc_endpoint,
                                             const char *label,
                                             bool ordered,
                                             int32_t max_packet_life_time,
                                             int32_t max_retransmits,
                                             const char *protocol,
                                             uint16_t *channel_id);

// Closes data channel `channel_id` (Kurento's `closeDataChannel`); a
// DataChannelClosed event follows. Errors: NULL (`MF_RESULT_NULL_ARGUMENT`), not a
// WebRtcEndpoint (`MF_RESULT_WRONG_ELEMENT_TYPE`), no such channel
// (`MF_RESULT_INVALID_ARGUMENT`), no data-channel section negotiated
// (`MF_RESULT_WRONG_STATE`), a released element or pipeline, `MF_RESULT_TIMEOUT`,
// `MF_RESULT_PANIC`.
enum mf_result mf_webrtc_close_data_channel(const struct mf_element *webrtc_endpoint,
                                            uint16_t channel_id);

// Calls `callback(event, user_data)` for every event `element` raises, until
// `mf_element_unsubscribe` or the element's release. `*subscription` receives an id for
// unsubscribing (may be NULL).
// `element` is a live handle (from an `mf_*_new` function, not freed), borrowed for
// the call. `callback` must not be NULL; it runs on the pipeline's event thread (a
// dispatcher thread of its runtime, never the caller's), one event at a time and in
// order per pipeline, and may call back into the API. `user_data` is passed through
// untouched and is used on that thread: it must stay valid until the subscription ends
// (`mf_element_unsubscribe` returned, or the element or pipeline was released and its
// release call returned); synchronising it is the caller's part. `subscription` is
// NULL or a writable location of the caller. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL
// `element` or `callback`), `MF_RESULT_PIPELINE_RELEASED` /
// `MF_RESULT_ELEMENT_RELEASED` after a release, `MF_RESULT_TIMEOUT` if the pipeline's
// worker does not answer (5 s), `MF_RESULT_PANIC` (a bug).
enum mf_result mf_element_subscribe(const struct mf_element *element,
                                    mf_event_callback callback,
                                    void *user_data,
                                    uint64_t *subscription);

// Calls `callback(event, user_data)` for every event of the pipeline and its elements.
// Until `mf_pipeline_unsubscribe` or the pipeline's release; `*subscription` receives
// an id for unsubscribing (may be NULL). `pipeline` is a live handle (from
// `mf_pipeline_new`/`mf_pipeline_new_on`, not freed), borrowed for the call. Callback
// thread and `user_data` rules: as `mf_element_subscribe`. Errors:
// `MF_RESULT_NULL_ARGUMENT` (NULL `pipeline` or `callback`),
// `MF_RESULT_PIPELINE_RELEASED` / `MF_RESULT_ELEMENT_RELEASED` after a release,
// `MF_RESULT_TIMEOUT` if the pipeline's worker does not answer (5 s),
// `MF_RESULT_PANIC` (a bug).
enum mf_result mf_pipeline_subscribe(const struct mf_pipeline *pipeline,
                                     mf_event_callback callback,
                                     void *user_data,
                                     uint64_t *subscription);

// Ends a subscription made with `mf_element_subscribe` on this element.
// `element` is a live handle (from an `mf_*_new` function, not freed), borrowed for
// the call. After it returns, the callback is not called again except for an event
// being delivered on the event thread at that moment. Errors:
// `MF_RESULT_NULL_ARGUMENT`, `MF_RESULT_INVALID_ARGUMENT` (unknown `subscription`),
// `MF_RESULT_PANIC`.
enum mf_result mf_element_unsubscribe(const struct mf_element *element, uint64_t subscription);

// Ends a subscription made on this pipeline or any of its elements; no more calls
// after the event being delivered, if any. `MF_RESULT_INVALID_ARGUMENT` if unknown.
// `pipeline` is a live handle (from `mf_pipeline_new`/`mf_pipeline_new_on`, not
// freed), borrowed for the call. Errors: `MF_RESULT_NULL_ARGUMENT`,
// `MF_RESULT_INVALID_ARGUMENT`, `MF_RESULT_PANIC`.
enum mf_result mf_pipeline_unsubscribe(const struct mf_pipeline *pipeline, uint64_t subscription);

// The event's kind. An invalid (NULL) event gives `MF_EVENT_ERROR`.
// `event` is the pointer the callback received, used only while that callback runs.
// Never fails.
enum mf_event_type mf_event_get_type(const struct mf_event *event);

// Kurento's name of the event (`"IceCandidateFound"`...); valid during the callback.
// `event` is the pointer the callback received, used only while that callback runs.
// Returns a static string (never NULL, not to be freed); "" for a NULL event.
const char *mf_event_type_name(const struct mf_event *event);

// Id of the object that raised it; valid during the callback.
// `event` is the pointer the callback received, used only while that callback runs.
// The string is owned by the event (not to be freed); "" for a NULL event.
const char *mf_event_source(const struct mf_event *event);

// When it was raised, in milliseconds since the Unix epoch (0 for NULL).
// `event` is the pointer the callback received, used only while that callback runs.
// Never fails.
uint64_t mf_event_timestamp_millis(const struct mf_event *event);

// The media type of MediaFlowIn/Out, MediaTranscoding and ElementConnected/
// Disconnected events.
// `event` is the pointer the callback received, used only while that callback runs.
// `out` is a writable location of the caller. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL
// `event`), `MF_RESULT_NO_SUCH_FIELD` (an event of another kind than those).
enum mf_result mf_event_media_type(const struct mf_event *event, enum mf_media_type *out);

// The state of a MediaFlowIn/OutStateChanged event.
// `event` is the pointer the callback received, used only while that callback runs.
// `out` is a writable location of the caller. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL
// `event`), `MF_RESULT_NO_SUCH_FIELD` (an event of another kind than those).
enum mf_result mf_event_flow_state(const struct mf_event *event, enum mf_media_flow_state *out);

// The state of an IceComponentStateChanged event.
// `event` is the pointer the callback received, used only while that callback runs.
// `out` is a writable location of the caller. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL
// `event`), `MF_RESULT_NO_SUCH_FIELD` (an event of another kind than
// IceComponentStateChanged).
enum mf_result mf_event_ice_component_state(const struct mf_event *event,
                                            enum mf_ice_component_state *out);

// The candidate of an IceCandidateFound event: its `candidate:` line and sdpMid
// (valid during the callback) and m-line index. Any output may be NULL.
// `event` is the pointer the callback received, used only while that callback runs.
// Strings written are owned by the event: valid until the callback returns, not to be
// freed. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL `event`), `MF_RESULT_NO_SUCH_FIELD`
// (an event of another kind than IceCandidateFound).
enum mf_result mf_event_candidate(const struct mf_event *event,
                                  const char **candidate,
                                  const char **sdp_mid,
                                  uint32_t *sdp_m_line_index);

// The local and remote candidates of a NewCandidatePairSelected event, as SDP
// `candidate:` lines (valid during the callback): the local one as IceCandidateFound
// announced it, the remote one as the peer trickled it (or a peer-reflexive one learned
// from its checks). Either output may be NULL.
// `event` is the pointer the callback received, used only while that callback runs.
// Strings written are owned by the event: valid until the callback returns, not to be
// freed. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL `event`), `MF_RESULT_NO_SUCH_FIELD`
// (an event of another kind than NewCandidatePairSelected).
enum mf_result mf_event_candidate_pair(const struct mf_event *event,
                                       const char **local,
                                       const char **remote);

// The pair's ICE stream (Kurento's string `streamID`, valid during the callback) and
// component (`componentID`) of a NewCandidatePairSelected event. Either output may be
// NULL.
// `event` is the pointer the callback received, used only while that callback runs.
// Strings written are owned by the event: valid until the callback returns, not to be
// freed. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL `event`), `MF_RESULT_NO_SUCH_FIELD`
// (an event of another kind than NewCandidatePairSelected).
enum mf_result mf_event_candidate_pair_ids(const struct mf_event *event,
                                           const char **stream_id,
                                           uint32_t *component_id);

// The ICE stream and component (Kurento's integers `streamId`, `componentId`) of an
// IceComponentStateChanged event. Either output may be NULL.
// `event` is the pointer the callback received, used only while that callback runs.
// Errors: `MF_RESULT_NULL_ARGUMENT` (NULL `event`), `MF_RESULT_NO_SUCH_FIELD` (an
// event of another kind than IceComponentStateChanged).
enum mf_result mf_event_ice_component_ids(const struct mf_event *event,
                                          uint32_t *stream_id,
                                          uint32_t *component_id);

// The channel (Kurento's `channelId`, the SCTP stream id) of a DataChannelOpened or
// DataChannelClosed event, written to `*channel_id` (caller's storage).
// `event` is the pointer the callback received, used only while that callback runs.
// Errors: `MF_RESULT_NULL_ARGUMENT` (NULL `event` or `channel_id`),
// `MF_RESULT_NO_SUCH_FIELD` (an event of another kind).
enum mf_result mf_event_channel_id(const struct mf_event *event, uint16_t *channel_id);

// Old and new state of a ConnectionStateChanged or MediaStateChanged event. Either
// output may be NULL.
// `event` is the pointer the callback received, used only while that callback runs.
// Errors: `MF_RESULT_NULL_ARGUMENT` (NULL `event`), `MF_RESULT_NO_SUCH_FIELD` (an
// event of another kind than those two).
enum mf_result mf_event_connection_state(const struct mf_event *event,
                                         enum mf_connection_state *old_state,
                                         enum mf_connection_state *new_state);

// The state of a DtlsConnectionStateChange event.
// `event` is the pointer the callback received, used only while that callback runs.
// `out` is a writable location of the caller. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL
// `event`), `MF_RESULT_NO_SUCH_FIELD` (an event of another kind than
// DtlsConnectionStateChange).
enum mf_result mf_event_dtls_state(const struct mf_event *event, enum mf_dtls_state *out);

// The ICE stream (Kurento's string `streamId`), component (`componentId`) and DTLS
// connection (`connectionId`) of a DtlsConnectionStateChange event (strings valid
// during the callback). Any output may be NULL.
// `event` is the pointer the callback received, used only while that callback runs.
// Strings written are owned by the event: valid until the callback returns, not to be
// freed. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL `event`), `MF_RESULT_NO_SUCH_FIELD`
// (an event of another kind than DtlsConnectionStateChange).
enum mf_result mf_event_dtls_ids(const struct mf_event *event,
                                 const char **stream_id,
                                 uint32_t *component_id,
                                 const char **connection_id);

// Kurento's `type` string, the description and the code of an Error event (strings
// valid during the callback). Any output may be NULL.
// `event` is the pointer the callback received, used only while that callback runs.
// Strings written are owned by the event: valid until the callback returns, not to be
// freed. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL `event`), `MF_RESULT_NO_SUCH_FIELD`
// (an event of another kind than Error).
enum mf_result mf_event_error(const struct mf_event *event,
                              const char **error_type,
                              const char **description,
                              int32_t *code);

// The `type` of an Error event as an `mf_error_type` (its string is
// `mf_event_error`'s).
// `event` is the pointer the callback received, used only while that callback runs.
// `out` is a writable location of the caller. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL
// `event`), `MF_RESULT_NO_SUCH_FIELD` (an event of another kind than Error).
enum mf_result mf_event_error_type(const struct mf_event *event, enum mf_error_type *out);

// The sink's object id of an ElementConnected/Disconnected event (valid during the
// callback).
// `event` is the pointer the callback received, used only while that callback runs.
// Strings written are owned by the event: valid until the callback returns, not to be
// freed. `sink` must not be NULL. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL `event`),
// `MF_RESULT_NO_SUCH_FIELD` (an event of another kind than those).
enum mf_result mf_event_sink(const struct mf_event *event, const char **sink);

// The source and sink pad descriptions (Kurento's `sourceMediaDescription`,
// `sinkMediaDescription`; valid during the callback) of an ElementConnected/
// Disconnected event. Either output may be NULL.
// `event` is the pointer the callback received, used only while that callback runs.
// Strings written are owned by the event: valid until the callback returns, not to be
// freed. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL `event`), `MF_RESULT_NO_SUCH_FIELD`
// (an event of another kind than those).
enum mf_result mf_event_media_descriptions(const struct mf_event *event,
                                           const char **source_media_description,
                                           const char **sink_media_description);

// The pad name (Kurento's `padName`, valid during the callback) of a
// MediaFlowIn/OutStateChanged event.
// `event` is the pointer the callback received, used only while that callback runs.
// Strings written are owned by the event: valid until the callback returns, not to be
// freed. `pad_name` must not be NULL. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL
// `event`), `MF_RESULT_NO_SUCH_FIELD` (an event of another kind than those).
enum mf_result mf_event_pad_name(const struct mf_event *event, const char **pad_name);

// The state and branch name (valid during the callback; may be NULL) of a
// MediaTranscodingStateChanged event.
// `event` is the pointer the callback received, used only while that callback runs.
// Strings written are owned by the event: valid until the callback returns, not to be
// freed. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL `event`), `MF_RESULT_NO_SUCH_FIELD`
// (an event of another kind than MediaTranscodingStateChanged).
enum mf_result mf_event_transcoding_state(const struct mf_event *event,
                                          enum mf_transcoding_state *state,
                                          const char **bin_name);

// How many tags the event carries (its source's, when it sends tags in events).
// `event` is the pointer the callback received, used only while that callback runs. 0
// for a NULL event; never fails.
size_t mf_event_tag_count(const struct mf_event *event);

// Tag `index` (< `mf_event_tag_count`): key and value, valid during the callback.
// `event` is the pointer the callback received, used only while that callback runs.
// Strings written are owned by the event: valid until the callback returns, not to be
// freed. Errors: `MF_RESULT_NULL_ARGUMENT` (NULL `event`, `key` or `value`),
// `MF_RESULT_INVALID_ARGUMENT` (`index` out of range).
enum mf_result mf_event_tag(const struct mf_event *event,
                            size_t index,
                            const char **key,
                            const char **value);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* MEDIAFLOW_H */
