"""mediaflow for Python: ctypes over the C ABI (include/mediaflow.h), in-process.

Errors raise ``mediaflow.Error`` (with ``.code``, the mf_result). Handles free
themselves when garbage-collected; ``release()`` ends a pipeline or element at once.
Event handlers run on the pipeline's event thread (a dispatcher thread of its runtime,
shared with other pipelines) and may call back into the API. They receive an ``Event``:
a copy of every field of the event (Kurento's names in Python casing, enums as
``enum.IntEnum``), which may be kept after the handler returns.

The shared library is ``MEDIAFLOW_LIB`` (a path to libmediaflow_capi.so) when set, else
the one installed inside this package (``pip install ./bindings/python`` puts it there),
else ``target/release`` then ``target/debug`` of the repository this file lives in.
"""

from __future__ import annotations

import ctypes
import enum
import os
from pathlib import Path
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple, Union

__all__ = [
    "Error", "Result", "MediaType", "EventType", "FlowState", "MediaFlowState", "IceState",
    "IceComponentState", "ConnectionState", "MediaState", "DtlsConnectionState",
    "MediaTranscodingState", "ErrorType", "IceCandidate", "IceCandidatePair",
    "Pipeline", "Element", "PassThrough", "AppSource", "WebRtcEndpoint", "PlayerEndpoint", "Event",
]


def _find_library() -> str:
    """The path of libmediaflow_capi.so to load (see the module's docstring)."""
    explicit = os.environ.get("MEDIAFLOW_LIB")
    if explicit:
        return explicit
    bundled = Path(__file__).resolve().parent / "libmediaflow_capi.so"
    if bundled.exists():
        return str(bundled)
    root = Path(__file__).resolve().parents[3]
    for profile in ("release", "debug"):
        candidate = root / "target" / profile / "libmediaflow_capi.so"
        if candidate.exists():
            return str(candidate)
    raise OSError(
        "libmediaflow_capi.so not found: pip install ./bindings/python, "
        "or build it (cargo build -p mediaflow-capi), or set MEDIAFLOW_LIB"
    )


_lib = ctypes.CDLL(_find_library())


class Result(enum.IntEnum):
    """The C ABI's ``mf_result`` codes; ``Error.code`` is one."""

    OK = 0
    NULL_ARGUMENT = 1
    INVALID_UTF8 = 2
    INVALID_ARGUMENT = 3
    PIPELINE_RELEASED = 4
    ELEMENT_RELEASED = 5
    DIFFERENT_PIPELINES = 6
    NOT_CONNECTED = 7
    INVALID_SDP = 8
    NO_COMMON_CODEC = 9
    WRONG_STATE = 10
    INVALID_CANDIDATE = 11
    WRONG_ELEMENT_TYPE = 12
    NO_SUCH_FIELD = 13
    TIMEOUT = 14
    RESOURCE = 15
    INTERNAL = 16
    PANIC = 17


class MediaType(enum.IntEnum):
    """Media types of pads (Kurento's MediaType); ALL only for connect/disconnect."""

    AUDIO = 0
    VIDEO = 1
    DATA = 2
    ALL = 3


class EventType(enum.IntEnum):
    """Kinds of events (``Event.type``); ``Event.type_name`` is Kurento's name."""

    ERROR = 0
    ELEMENT_CONNECTED = 1
    ELEMENT_DISCONNECTED = 2
    MEDIA_FLOW_IN_STATE_CHANGED = 3
    MEDIA_FLOW_OUT_STATE_CHANGED = 4
    MEDIA_TRANSCODING_STATE_CHANGED = 5
    MEDIA_STATE_CHANGED = 6
    CONNECTION_STATE_CHANGED = 7
    ICE_CANDIDATE_FOUND = 8
    ICE_GATHERING_DONE = 9
    ICE_COMPONENT_STATE_CHANGED = 10
    NEW_CANDIDATE_PAIR_SELECTED = 11
    DTLS_CONNECTION_STATE_CHANGE = 12
    RECORDING = 13
    PAUSED = 14
    STOPPED = 15
    DATA_CHANNEL_OPENED = 16
    DATA_CHANNEL_CLOSED = 17
    END_OF_STREAM = 18


class MediaProfile(enum.IntEnum):
    """Kurento's MediaProfileSpecType (the MP4 ones: fragmented MP4, H.264 and Opus)."""
    WEBM = 0
    WEBM_AUDIO_ONLY = 1
    WEBM_VIDEO_ONLY = 2
    MKV = 3
    MKV_AUDIO_ONLY = 4
    MKV_VIDEO_ONLY = 5
    MP4 = 6
    MP4_AUDIO_ONLY = 7
    MP4_VIDEO_ONLY = 8


class CryptoSuite(enum.IntEnum):
    """SDES-SRTP suites of an RtpEndpoint (NONE: plain RTP)."""
    NONE = 0
    AES_128_CM_HMAC_SHA1_80 = 1


class FlowState(enum.IntEnum):
    """``state`` of MediaFlowIn/OutStateChanged events."""

    FLOWING = 0
    NOT_FLOWING = 1


class IceState(enum.IntEnum):
    """``state`` of IceComponentStateChanged events (Kurento's IceComponentState)."""

    DISCONNECTED = 0
    GATHERING = 1
    CONNECTING = 2
    CONNECTED = 3
    READY = 4
    FAILED = 5


# Kurento's names for the two above.
MediaFlowState = FlowState
IceComponentState = IceState


class ConnectionState(enum.IntEnum):
    """ConnectionStateChanged's old_state / new_state."""
    DISCONNECTED = 0
    CONNECTED = 1


class MediaState(enum.IntEnum):
    """MediaStateChanged's old_state / new_state."""
    DISCONNECTED = 0
    CONNECTED = 1


class DtlsConnectionState(enum.IntEnum):
    """``state`` of DtlsConnectionStateChange events."""

    NEW = 0
    CONNECTING = 1
    CONNECTED = 2
    CLOSED = 3
    FAILED = 4


class MediaTranscodingState(enum.IntEnum):
    """``state`` of MediaTranscodingStateChanged events."""

    TRANSCODING = 0
    NOT_TRANSCODING = 1


class ErrorType(enum.IntEnum):
    """An Error event's ``type``: the member's name is Kurento's string."""
    UNEXPECTED_ELEMENT_ERROR = 0
    UNEXPECTED_PIPELINE_ERROR = 1
    RESOURCE_ERROR_OPEN = 2
    RESOURCE_ERROR_WRITE = 3
    RESOURCE_ERROR_NO_SPACE_LEFT = 4
    STREAM_ERROR_DECODE = 5
    STREAM_ERROR_FAILED = 6
    INVALID_URI = 7
    INVALID_MEDIA = 8


class IceCandidate(NamedTuple):
    """Kurento's IceCandidate (unpacks as add_ice_candidate's arguments)."""
    candidate: str
    sdp_mid: str
    sdp_m_line_index: int


class IceCandidatePair(NamedTuple):
    """Kurento's IceCandidatePair: the candidates as SDP ``candidate:`` lines."""
    stream_id: str
    component_id: int
    local_candidate: str
    remote_candidate: str


class Error(Exception):
    """A failed call: ``code`` is the mf_result, the message its detail."""

    code: "Result"

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = Result(code)


class _Options(ctypes.Structure):
    _fields_ = [
        ("recvonly", ctypes.c_bool),
        ("sendonly", ctypes.c_bool),
        ("network_interfaces", ctypes.c_char_p),
        ("min_port", ctypes.c_uint16),
        ("max_port", ctypes.c_uint16),
        ("stun_server_address", ctypes.c_char_p),
        ("stun_server_port", ctypes.c_uint16),
        ("turn_url", ctypes.c_char_p),
        ("ice_tcp", ctypes.c_bool),
        ("max_video_recv_bandwidth", ctypes.c_uint32),
        ("relay_only", ctypes.c_bool),
        ("external_address", ctypes.c_char_p),
        ("ipv6", ctypes.c_bool),
        ("use_data_channels", ctypes.c_bool),
        ("max_audio_recv_bandwidth", ctypes.c_uint32),
        ("max_playout_delay", ctypes.c_uint32),
        ("no_playout_delay", ctypes.c_bool),
    ]


class _RtpOptions(ctypes.Structure):
    _fields_ = [
        ("recvonly", ctypes.c_bool),
        ("sendonly", ctypes.c_bool),
        ("address", ctypes.c_char_p),
        ("min_port", ctypes.c_uint16),
        ("max_port", ctypes.c_uint16),
        ("crypto", ctypes.c_uint32),
        ("avp", ctypes.c_bool),
        ("max_video_recv_bandwidth", ctypes.c_uint32),
        ("max_audio_recv_bandwidth", ctypes.c_uint32),
    ]


_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
_P = ctypes.c_void_p
_PP = ctypes.POINTER(ctypes.c_void_p)
_STR_OUT = ctypes.POINTER(ctypes.c_void_p)  # a string we own and free
_CSTR_OUT = ctypes.POINTER(ctypes.c_char_p)  # a string an event owns
_INT_OUT = ctypes.POINTER(ctypes.c_int)  # a C enum
_U32_OUT = ctypes.POINTER(ctypes.c_uint32)


def _sig(name, args, res=ctypes.c_int):
    fn = getattr(_lib, name)
    fn.argtypes = args
    fn.restype = res
    return fn


_sig("mf_result_message", [ctypes.c_int], ctypes.c_char_p)
_sig("mf_last_error", [ctypes.c_char_p, ctypes.c_size_t], ctypes.c_size_t)
_sig("mf_string_free", [ctypes.c_void_p], None)
_sig("mf_pipeline_new", [_PP])
_sig("mf_pipeline_release", [_P])
_sig("mf_pipeline_free", [_P], None)
_sig("mf_passthrough_new", [_P, _PP])
_sig("mf_app_source_new", [_P, _PP])
_sig("mf_app_source_push", [_P, ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_bool])
_sig("mf_webrtc_endpoint_new", [_P, ctypes.POINTER(_Options), _PP])
_sig("mf_element_release", [_P])
_sig("mf_element_free", [_P], None)
_sig("mf_element_id", [_P, _STR_OUT])
_sig("mf_element_add_tag", [_P, ctypes.c_char_p, ctypes.c_char_p])
_sig("mf_element_set_send_tags_in_events", [_P, ctypes.c_bool])
_sig("mf_element_connect", [_P, _P, ctypes.c_int])
_sig("mf_element_disconnect", [_P, _P, ctypes.c_int])
_sig("mf_element_subscribe", [_P, _CALLBACK, _P, ctypes.POINTER(ctypes.c_uint64)])
_sig("mf_element_unsubscribe", [_P, ctypes.c_uint64])
_sig("mf_webrtc_process_offer", [_P, ctypes.c_char_p, _STR_OUT])
_sig("mf_webrtc_generate_offer", [_P, _STR_OUT])
_sig("mf_webrtc_process_answer", [_P, ctypes.c_char_p])
_sig("mf_sdp_endpoint_process_offer", [_P, ctypes.c_char_p, _STR_OUT])
_sig("mf_sdp_endpoint_generate_offer", [_P, _STR_OUT])
_sig("mf_sdp_endpoint_generate_offer_with", [_P, ctypes.c_bool, ctypes.c_bool, _STR_OUT])
_sig("mf_sdp_endpoint_process_answer", [_P, ctypes.c_char_p])
_sig("mf_sdp_endpoint_get_local_session_descriptor", [_P, _STR_OUT])
_sig("mf_sdp_endpoint_get_remote_session_descriptor", [_P, _STR_OUT])
_sig("mf_rtp_endpoint_new", [_P, ctypes.POINTER(_RtpOptions), _PP])
_sig("mf_recorder_endpoint_new", [_P, ctypes.c_char_p, ctypes.c_uint32, _PP])
_sig("mf_recorder_record", [_P])
_sig("mf_recorder_pause", [_P])
_sig("mf_recorder_stop", [_P])
_sig("mf_recorder_stop_and_wait", [_P, ctypes.c_uint32])
_sig("mf_player_endpoint_new", [_P, ctypes.c_char_p, _PP])
_sig("mf_player_play", [_P])
_sig("mf_player_pause", [_P])
_sig("mf_player_stop", [_P])
_sig("mf_player_get_position", [_P, ctypes.POINTER(ctypes.c_uint64)])
for _counter in (
    "mf_recorder_dropped_frames",
    "mf_recorder_skipped_frames",
    "mf_player_dropped_frames",
    "mf_player_keyframe_requests",
):
    _sig(_counter, [_P, ctypes.POINTER(ctypes.c_uint64)])
_sig("mf_player_set_position", [_P, ctypes.c_uint64])
_sig("mf_webrtc_create_data_channel", [_P, ctypes.c_char_p, ctypes.c_bool, ctypes.c_int32,
                                       ctypes.c_int32, ctypes.c_char_p,
                                       ctypes.POINTER(ctypes.c_uint16)])
_sig("mf_webrtc_close_data_channel", [_P, ctypes.c_uint16])
_sig("mf_webrtc_gather_candidates", [_P])
_sig("mf_webrtc_add_ice_candidate", [_P, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint32])
_sig("mf_webrtc_get_stats", [_P, _STR_OUT])
_sig("mf_event_get_type", [_P])
_sig("mf_event_type_name", [_P], ctypes.c_char_p)
_sig("mf_event_source", [_P], ctypes.c_char_p)
_sig("mf_event_timestamp_millis", [_P], ctypes.c_uint64)
_sig("mf_event_media_type", [_P, _INT_OUT])
_sig("mf_event_flow_state", [_P, _INT_OUT])
_sig("mf_event_ice_component_state", [_P, _INT_OUT])
_sig("mf_event_candidate", [_P, _CSTR_OUT, _CSTR_OUT, _U32_OUT])
_sig("mf_event_candidate_pair", [_P, _CSTR_OUT, _CSTR_OUT])
_sig("mf_event_candidate_pair_ids", [_P, _CSTR_OUT, _U32_OUT])
_sig("mf_event_ice_component_ids", [_P, _U32_OUT, _U32_OUT])
_sig("mf_event_connection_state", [_P, _INT_OUT, _INT_OUT])
_sig("mf_event_dtls_state", [_P, _INT_OUT])
_sig("mf_event_dtls_ids", [_P, _CSTR_OUT, _U32_OUT, _CSTR_OUT])
_sig("mf_event_channel_id", [_P, ctypes.POINTER(ctypes.c_uint16)])
_sig("mf_event_error", [_P, _CSTR_OUT, _CSTR_OUT, ctypes.POINTER(ctypes.c_int32)])
_sig("mf_event_error_type", [_P, _INT_OUT])
_sig("mf_event_sink", [_P, _CSTR_OUT])
_sig("mf_event_media_descriptions", [_P, _CSTR_OUT, _CSTR_OUT])
_sig("mf_event_pad_name", [_P, _CSTR_OUT])
_sig("mf_event_transcoding_state", [_P, _INT_OUT, _CSTR_OUT])
_sig("mf_event_tag_count", [_P], ctypes.c_size_t)
_sig("mf_event_tag", [_P, ctypes.c_size_t, _CSTR_OUT, _CSTR_OUT])


def _check(code):
    if code != 0:
        buf = ctypes.create_string_buffer(1024)
        _lib.mf_last_error(buf, len(buf))
        raise Error(code, "%s: %s" % (_lib.mf_result_message(code).decode(), buf.value.decode(errors="replace")))


def _take(ptr):
    """Copies and frees a string returned by the library."""
    if not ptr:
        return None
    try:
        return ctypes.string_at(ptr).decode()
    finally:
        _lib.mf_string_free(ptr)


def _text(s):
    return None if s is None else s.encode()


_TEXT, _ENUM, _U32 = ctypes.c_char_p, ctypes.c_int, ctypes.c_uint32


def _read(fn, raw, *kinds):
    """Calls accessor ``fn(raw, &out...)`` with outputs of the given ctypes types; their values."""
    outs = [kind() for kind in kinds]
    _check(fn(raw, *(ctypes.byref(o) for o in outs)))
    return [o.value.decode() if isinstance(o, ctypes.c_char_p) else o.value for o in outs]


def _media(raw):
    return MediaType(_read(_lib.mf_event_media_type, raw, _ENUM)[0])


def _flow(raw):
    (state,) = _read(_lib.mf_event_flow_state, raw, _ENUM)
    (pad_name,) = _read(_lib.mf_event_pad_name, raw, _TEXT)
    return {"state": FlowState(state), "pad_name": pad_name, "media_type": _media(raw)}


def _link(raw):
    (sink,) = _read(_lib.mf_event_sink, raw, _TEXT)
    source_description, sink_description = _read(_lib.mf_event_media_descriptions, raw, _TEXT, _TEXT)
    return {"sink": sink, "media_type": _media(raw), "source_media_description": source_description,
            "sink_media_description": sink_description}


def _states(kind):
    def read(raw):
        old, new = _read(_lib.mf_event_connection_state, raw, _ENUM, _ENUM)
        return {"old_state": kind(old), "new_state": kind(new)}
    return read


def _transcoding(raw):
    state, bin_name = _read(_lib.mf_event_transcoding_state, raw, _ENUM, _TEXT)
    return {"state": MediaTranscodingState(state), "bin_name": bin_name, "media_type": _media(raw)}


def _candidate(raw):
    return {"candidate": IceCandidate(*_read(_lib.mf_event_candidate, raw, _TEXT, _TEXT, _U32))}


def _ice_component(raw):
    stream_id, component_id = _read(_lib.mf_event_ice_component_ids, raw, _U32, _U32)
    (state,) = _read(_lib.mf_event_ice_component_state, raw, _ENUM)
    return {"stream_id": stream_id, "component_id": component_id, "state": IceState(state)}


def _pair(raw):
    local, remote = _read(_lib.mf_event_candidate_pair, raw, _TEXT, _TEXT)
    stream_id, component_id = _read(_lib.mf_event_candidate_pair_ids, raw, _TEXT, _U32)
    return {"candidate_pair": IceCandidatePair(stream_id, component_id, local, remote)}


def _dtls(raw):
    stream_id, component_id, connection_id = _read(_lib.mf_event_dtls_ids, raw, _TEXT, _U32, _TEXT)
    (state,) = _read(_lib.mf_event_dtls_state, raw, _ENUM)
    return {"stream_id": stream_id, "component_id": component_id, "connection_id": connection_id,
            "state": DtlsConnectionState(state)}


def _error(raw):
    _name, description, code = _read(_lib.mf_event_error, raw, _TEXT, _TEXT, ctypes.c_int32)
    (kind,) = _read(_lib.mf_event_error_type, raw, _ENUM)
    return {"description": description, "error_code": code, "error_type": ErrorType(kind)}


def _channel(raw):
    (channel_id,) = _read(_lib.mf_event_channel_id, raw, ctypes.c_uint16)
    return {"channel_id": channel_id}


# Each kind's own fields (besides source, type, timestamp_millis and tags), read through
# the C accessors, in Kurento's order.
_FIELDS = {
    EventType.ERROR: _error,
    EventType.ELEMENT_CONNECTED: _link,
    EventType.ELEMENT_DISCONNECTED: _link,
    EventType.MEDIA_FLOW_IN_STATE_CHANGED: _flow,
    EventType.MEDIA_FLOW_OUT_STATE_CHANGED: _flow,
    EventType.MEDIA_TRANSCODING_STATE_CHANGED: _transcoding,
    EventType.MEDIA_STATE_CHANGED: _states(MediaState),
    EventType.CONNECTION_STATE_CHANGED: _states(ConnectionState),
    EventType.ICE_CANDIDATE_FOUND: _candidate,
    EventType.ICE_GATHERING_DONE: lambda raw: {},
    EventType.ICE_COMPONENT_STATE_CHANGED: _ice_component,
    EventType.NEW_CANDIDATE_PAIR_SELECTED: _pair,
    EventType.DTLS_CONNECTION_STATE_CHANGE: _dtls,
    EventType.RECORDING: lambda raw: {},
    EventType.PAUSED: lambda raw: {},
    EventType.STOPPED: lambda raw: {},
    EventType.DATA_CHANNEL_OPENED: _channel,
    EventType.DATA_CHANNEL_CLOSED: _channel,
    EventType.END_OF_STREAM: lambda raw: {},
}

_OWN_FIELDS = (
    "description", "error_code", "error_type", "sink", "media_type", "source_media_description",
    "sink_media_description", "state", "pad_name", "bin_name", "old_state", "new_state", "candidate",
    "stream_id", "component_id", "candidate_pair", "connection_id", "channel_id",
)


class Event:
    """One event, copied out of the library while its handler runs (so it may be kept).

    Every event has ``type`` (an ``EventType``), ``type_name`` (Kurento's name, e.g.
    ``"IceCandidateFound"``), ``source`` (the raising object's id), ``timestamp_millis``
    and ``tags`` (a dict; empty unless the source sends tags in events). Its own fields
    (``fields`` lists them) are attributes; those of other kinds are None:

    - Error: description (str), error_code (int), error_type (ErrorType)
    - ElementConnected / ElementDisconnected: sink (str), media_type (MediaType),
      source_media_description, sink_media_description (str)
    - MediaFlowInStateChanged / MediaFlowOutStateChanged: state (FlowState),
      pad_name (str), media_type (MediaType)
    - MediaTranscodingStateChanged: state (MediaTranscodingState), bin_name (str),
      media_type (MediaType)
    - MediaStateChanged: old_state, new_state (MediaState)
    - ConnectionStateChanged: old_state, new_state (ConnectionState)
    - IceCandidateFound: candidate (IceCandidate)
    - IceGatheringDone: none
    - IceComponentStateChanged: stream_id (int), component_id (int), state (IceState)
    - NewCandidatePairSelected: candidate_pair (IceCandidatePair)
    - DtlsConnectionStateChange: stream_id (str), component_id (int), connection_id
      (str), state (DtlsConnectionState)
    - Recording / Paused / Stopped (RecorderEndpoint), EndOfStream (PlayerEndpoint): none
    - DataChannelOpened / DataChannelClosed: channel_id (int)
    """

    type: EventType
    type_name: str
    source: str
    timestamp_millis: int
    tags: Dict[str, str]
    fields: Tuple[str, ...]
    # The kinds' own fields (None on events of other kinds; see above).
    description: Optional[str]
    error_code: Optional[int]
    error_type: Optional[ErrorType]
    sink: Optional[str]
    media_type: Optional[MediaType]
    source_media_description: Optional[str]
    sink_media_description: Optional[str]
    state: Any
    pad_name: Optional[str]
    bin_name: Optional[str]
    old_state: Any
    new_state: Any
    candidate: Optional[IceCandidate]
    stream_id: Union[int, str, None]
    component_id: Optional[int]
    candidate_pair: Optional[IceCandidatePair]
    connection_id: Optional[str]
    channel_id: Optional[int]

    def __init__(self, raw: Any) -> None:
        self.type = EventType(_lib.mf_event_get_type(raw))
        self.type_name = _lib.mf_event_type_name(raw).decode()
        self.source = _lib.mf_event_source(raw).decode()
        self.timestamp_millis = _lib.mf_event_timestamp_millis(raw)
        tags = {}
        for i in range(_lib.mf_event_tag_count(raw)):
            key, value = _read(lambda r, k, v, i=i: _lib.mf_event_tag(r, i, k, v), raw, _TEXT, _TEXT)
            tags[key] = value
        self.tags = tags
        for name in _OWN_FIELDS:
            setattr(self, name, None)
        own = _FIELDS[self.type](raw)
        for name, value in own.items():
            setattr(self, name, value)
        self.fields = tuple(own)

    @property
    def flow_state(self) -> Optional[FlowState]:
        """``state`` of a MediaFlowIn/OutStateChanged event, else None."""
        return self.state if isinstance(self.state, FlowState) else None

    @property
    def ice_state(self) -> Optional[IceState]:
        """``state`` of an IceComponentStateChanged event, else None."""
        return self.state if isinstance(self.state, IceState) else None

    def __repr__(self) -> str:
        own = ", ".join("%s=%r" % (name, getattr(self, name)) for name in self.fields)
        return "<%s from %s at %d%s%s>" % (self.type_name, self.source, self.timestamp_millis,
                                          " tags=%r" % self.tags if self.tags else "",
                                          ": " + own if own else "")


class Pipeline:
    """A media pipeline (Kurento's MediaPipeline), on the library's default runtime.

    Elements are made with its factory methods (``webrtc_endpoint()``, ...). The
    pipeline runs until ``release()`` or until it and all its elements are collected.
    Raises ``Error`` if the library cannot start its threads.
    """

    def __init__(self) -> None:
        raw = ctypes.c_void_p()
        _check(_lib.mf_pipeline_new(ctypes.byref(raw)))
        self._raw = raw

    def release(self) -> None:
        """Releases the pipeline: its elements go, its sockets close (waits for its worker).

        Later calls on it or its elements raise ``Error`` (``PIPELINE_RELEASED``).
        """
        _check(_lib.mf_pipeline_release(self._raw))

    def pass_through(self) -> PassThrough:
        """A new PassThrough (Kurento's): forwards its input unchanged."""
        return PassThrough(self, _lib.mf_passthrough_new)

    def app_source(self) -> AppSource:
        """A new AppSource: buffers given to ``push()`` leave its source pads."""
        return AppSource(self, _lib.mf_app_source_new)

    def webrtc_endpoint(self, network_interfaces: Optional[str] = None, recvonly: bool = False,
                        sendonly: bool = False, stun: Optional[Tuple[str, int]] = None,
                        turn_url: Optional[str] = None, ice_tcp: bool = False,
                        max_video_recv_bandwidth: int = 0, relay_only: bool = False,
                        external_address: Optional[str] = None,
                        ipv6: bool = False, use_data_channels: bool = False,
                        max_audio_recv_bandwidth: int = 0,
                        max_playout_delay: Optional[int] = None) -> WebRtcEndpoint:
        """A new WebRtcEndpoint (Kurento's), with its builder's options.

        ``network_interfaces``: comma-separated names to gather on (None: all);
        ``stun``: (host, port); ``turn_url``: ``user:password@host:port``;
        ``max_video_recv_bandwidth``: kbps announced as ``b=AS`` and with REMB (0: 2 Mbps);
        ``max_audio_recv_bandwidth``: kbps announced as ``b=AS`` (0: no limit);
        ``relay_only`` needs ``turn_url``; ``external_address``: this host's public IP
        behind a 1:1 NAT; ``use_data_channels``: negotiate data channels (Kurento's
        ``useDataChannels``); ``max_playout_delay``: the most playout delay, in ms, the
        endpoint may ask the browser for while the video it forwards comes late (0: never
        ask; None: the default, 600). Raises ``Error`` (``INVALID_ARGUMENT``,
        ``RESOURCE``...).
        """
        options = _Options(recvonly=recvonly, sendonly=sendonly,
                           network_interfaces=_text(network_interfaces),
                           stun_server_address=_text(stun[0]) if stun else None,
                           stun_server_port=stun[1] if stun else 0,
                           turn_url=_text(turn_url), ice_tcp=ice_tcp,
                           max_video_recv_bandwidth=max_video_recv_bandwidth, relay_only=relay_only,
                           external_address=_text(external_address), ipv6=ipv6,
                           use_data_channels=use_data_channels,
                           max_audio_recv_bandwidth=max_audio_recv_bandwidth,
                           max_playout_delay=max_playout_delay or 0,
                           no_playout_delay=max_playout_delay == 0)
        return WebRtcEndpoint(self, lambda p, out: _lib.mf_webrtc_endpoint_new(p, ctypes.byref(options), out))

    def rtp_endpoint(self, address=None, recvonly=False, sendonly=False, port_range=None,
                     crypto=CryptoSuite.NONE, avp=False, max_video_recv_bandwidth=0,
                     max_audio_recv_bandwidth=0):
        """An RtpEndpoint (Kurento's): plain RTP/AVP(F), or SDES-SRTP with ``crypto``.
        ``address`` is the local IP to bind and announce (default: the host's first)."""
        options = _RtpOptions(recvonly=recvonly, sendonly=sendonly, address=_text(address),
                              min_port=port_range[0] if port_range else 0,
                              max_port=port_range[1] if port_range else 0,
                              crypto=int(crypto), avp=avp,
                              max_video_recv_bandwidth=max_video_recv_bandwidth,
                              max_audio_recv_bandwidth=max_audio_recv_bandwidth)
        return RtpEndpoint(self, lambda p, out: _lib.mf_rtp_endpoint_new(p, ctypes.byref(options), out))

    def recorder_endpoint(self, uri, profile=MediaProfile.WEBM):
        """A RecorderEndpoint storing what reaches it at ``uri`` (``file:///path.webm``)."""
        return RecorderEndpoint(
            self, lambda p, out: _lib.mf_recorder_endpoint_new(p, _text(uri), int(profile), out))

    def player_endpoint(self, uri: str) -> "PlayerEndpoint":
        """A PlayerEndpoint playing the WebM/Matroska file at ``uri`` (``file:///path.webm``,
        ``http(s)://``) once ``play()`` is called."""
        return PlayerEndpoint(self, lambda p, out: _lib.mf_player_endpoint_new(p, _text(uri), out))

    def __del__(self):
        if getattr(self, "_raw", None):
            _lib.mf_pipeline_free(self._raw)
            self._raw = None


class Element:
    """Any element of a pipeline (Kurento's MediaElement); subclasses add their own calls.

    Every method raises ``Error`` on failure (``ELEMENT_RELEASED``, ``PIPELINE_RELEASED``,
    ``DIFFERENT_PIPELINES``...).
    """

    def __init__(self, pipeline: Pipeline, create: Callable[[Any, Any], int]) -> None:
        raw = ctypes.c_void_p()
        _check(create(pipeline._raw, ctypes.byref(raw)))
        self._pipeline = pipeline  # keeps the pipeline handle alive
        self._raw = raw
        self._callbacks: Dict[int, Any] = {}

    def _counter(self, get: Any) -> int:
        n = ctypes.c_uint64()
        _check(get(self._raw, ctypes.byref(n)))
        return n.value

    @property
    def id(self) -> str:
        """The element's object id, e.g. ``"7_mediaflow.WebRtcEndpoint"``."""
        out = ctypes.c_void_p()
        _check(_lib.mf_element_id(self._raw, ctypes.byref(out)))
        return _take(out.value)

    def connect(self, sink: Element, media: MediaType = MediaType.ALL) -> None:
        """Links this element's output of ``media`` (all by default) to ``sink``'s input.

        A sink pad has one source: a previous one is disconnected. ``sink`` may be this
        element (a loopback).
        """
        _check(_lib.mf_element_connect(self._raw, sink._raw, int(media)))

    def disconnect(self, sink: Element, media: MediaType = MediaType.ALL) -> None:
        """Removes the link(s) to ``sink``; raises ``Error`` (``NOT_CONNECTED``) if none."""
        _check(_lib.mf_element_disconnect(self._raw, sink._raw, int(media)))

    def release(self) -> None:
        """Removes the element from its pipeline (its links are disconnected)."""
        _check(_lib.mf_element_release(self._raw))

    def add_tag(self, key: str, value: str) -> None:
        """Sets a tag (Kurento's addTag); an existing key is replaced."""
        _check(_lib.mf_element_add_tag(self._raw, _text(key), _text(value)))

    def set_send_tags_in_events(self, send: bool) -> None:
        """Whether this element's events carry its tags (Kurento's sendTagsInEvents)."""
        _check(_lib.mf_element_set_send_tags_in_events(self._raw, bool(send)))

    def on_event(self, handler: Callable[[Event], Any]) -> int:
        """Calls ``handler(Event)`` for each event of this element; returns an id.

        The handler runs on the pipeline's event thread (not the caller's), one event at
        a time in order, and may call back into the API. An exception it raises is
        printed, not propagated. ``remove_handler(id)`` ends it.
        """

        def trampoline(raw_event, _user_data):
            try:
                handler(Event(raw_event))
            except Exception as exc:  # an exception must not cross into the library
                print("mediaflow: event handler raised %r" % (exc,))

        callback = _CALLBACK(trampoline)
        sub = ctypes.c_uint64()
        _check(_lib.mf_element_subscribe(self._raw, callback, None, ctypes.byref(sub)))
        self._callbacks[sub.value] = callback  # ctypes callbacks must outlive their use
        return sub.value

    def remove_handler(self, sub: int) -> None:
        """Ends a subscription made with ``on_event``; ``Error`` if unknown."""
        _check(_lib.mf_element_unsubscribe(self._raw, sub))
        self._callbacks.pop(sub, None)

    def __del__(self):
        if getattr(self, "_raw", None):
            for sub in list(self._callbacks):
                _lib.mf_element_unsubscribe(self._raw, sub)
            _lib.mf_element_free(self._raw)
            self._raw = None


class PassThrough(Element):
    """Forwards its input unchanged (Kurento's PassThrough)."""


class AppSource(Element):
    """Feeds buffers from Python into the pipeline."""

    def push(self, media: MediaType, data: Union[bytes, bytearray, memoryview],
             codec: Optional[str] = None, keyframe: bool = False) -> None:
        """Pushes one buffer (copied) of ``media`` (not ALL).

        ``codec`` names an RTP payload's codec by SDP mime type (``"video/VP8"``...);
        None for raw data. Raises ``Error`` (``INVALID_ARGUMENT`` for an unknown codec).
        """
        data = bytes(data)
        _check(_lib.mf_app_source_push(self._raw, int(media), _text(codec), data, len(data), keyframe))


class SdpEndpoint(Element):
    """What WebRtcEndpoint and RtpEndpoint negotiate with (Kurento's SdpEndpoint)."""

    def process_offer(self, offer: str) -> str:
        """Applies the peer's SDP offer and returns the answer (no candidates in it).

        Raises ``Error`` (``INVALID_SDP``, ``NO_COMMON_CODEC``, ``WRONG_STATE``).
        """
        out = ctypes.c_void_p()
        _check(_lib.mf_sdp_endpoint_process_offer(self._raw, _text(offer), ctypes.byref(out)))
        return _take(out.value)

    def generate_offer(
        self, offer_to_receive_audio: bool = True, offer_to_receive_video: bool = True
    ) -> str:
        """Creates an SDP offer for the peer (Kurento's OfferOptions: a kind not asked
        to receive is offered ``sendonly``)."""
        out = ctypes.c_void_p()
        _check(
            _lib.mf_sdp_endpoint_generate_offer_with(
                self._raw, offer_to_receive_audio, offer_to_receive_video, ctypes.byref(out)
            )
        )
        return _take(out.value)

    def process_answer(self, answer: str) -> None:
        """Applies the peer's answer to our offer (``WRONG_STATE`` without an offer)."""
        _check(_lib.mf_sdp_endpoint_process_answer(self._raw, _text(answer)))

    @property
    def local_session_descriptor(self) -> Optional[str]:
        """Our SDP, or None before any offer or answer."""
        out = ctypes.c_void_p()
        _check(_lib.mf_sdp_endpoint_get_local_session_descriptor(self._raw, ctypes.byref(out)))
        return _take(out.value) if out.value else None

    @property
    def remote_session_descriptor(self) -> Optional[str]:
        """The peer's SDP, or None before it came."""
        out = ctypes.c_void_p()
        _check(_lib.mf_sdp_endpoint_get_remote_session_descriptor(self._raw, ctypes.byref(out)))
        return _take(out.value) if out.value else None


class RtpEndpoint(SdpEndpoint):
    """Kurento's RtpEndpoint: plain RTP/AVP(F) or SDES-SRTP."""


class RecorderEndpoint(Element):
    """Kurento's RecorderEndpoint: WebM, Matroska or MP4 files."""

    def record(self) -> None:
        """Starts (or resumes) writing; Recording follows."""
        _check(_lib.mf_recorder_record(self._raw))

    def pause(self) -> None:
        """Pauses; the paused time is cut out of the file. Paused follows."""
        _check(_lib.mf_recorder_pause(self._raw))

    def stop(self) -> None:
        """Stops; the file is finalised off the worker. Stopped follows."""
        _check(_lib.mf_recorder_stop(self._raw))

    def stop_and_wait(self, timeout_ms: int = 10000) -> None:
        """Stops and waits until the file is finalised (Error TIMEOUT past ``timeout_ms``)."""
        _check(_lib.mf_recorder_stop_and_wait(self._raw, timeout_ms))

    @property
    def dropped_frames(self) -> int:
        """Frames dropped because the writer fell behind (a slow disk) or could not store them."""
        return self._counter(_lib.mf_recorder_dropped_frames)

    @property
    def skipped_frames(self) -> int:
        """Video frames not stored while waiting for a keyframe (start, resume, loss)."""
        return self._counter(_lib.mf_recorder_skipped_frames)


class PlayerEndpoint(Element):
    """Kurento's PlayerEndpoint: a WebM or Matroska file's VP8 (or H.264) and Opus, played
    as RTP in real time. EndOfStream follows the end of the file; a URI it cannot play is
    an Error event (INVALID_URI, RESOURCE_ERROR_OPEN, INVALID_MEDIA) after ``play()``."""

    def play(self) -> None:
        """Starts (from the top when stopped or at the end) or resumes playing."""
        _check(_lib.mf_player_play(self._raw))

    def pause(self) -> None:
        """Pauses; the position holds."""
        _check(_lib.mf_player_pause(self._raw))

    def stop(self) -> None:
        """Stops; the position goes back to 0."""
        _check(_lib.mf_player_stop(self._raw))

    @property
    def position(self) -> int:
        """The position in the file in ms; setting it seeks (to the video keyframe at or
        before it) while playing or paused."""
        ms = ctypes.c_uint64()
        _check(_lib.mf_player_get_position(self._raw, ctypes.byref(ms)))
        return ms.value

    @position.setter
    def position(self, ms: int) -> None:
        if not 0 <= ms < 2**64:
            raise ValueError("position must be 0 to 2**64-1 ms")
        _check(_lib.mf_player_set_position(self._raw, ms))

    @property
    def dropped_frames(self) -> int:
        """Frames skipped for being larger than a frame can be (a corrupt or hostile file)."""
        return self._counter(_lib.mf_player_dropped_frames)

    @property
    def keyframe_requests(self) -> int:
        """Keyframe requests from consumers (counted: a file cannot make a keyframe)."""
        return self._counter(_lib.mf_player_keyframe_requests)


class WebRtcEndpoint(SdpEndpoint):
    """A WebRTC peer (Kurento's WebRtcEndpoint): SDP, ICE, DTLS-SRTP, RTP/RTCP."""

    def create_data_channel(self, label: str, ordered: bool = True,
                            max_packet_life_time: int = -1, max_retransmits: int = -1,
                            protocol: Optional[str] = None) -> int:
        """Creates a data channel to the peer (Kurento's ``createDataChannel``; needs
        ``use_data_channels`` and a negotiated data-channel section) and returns its id;
        DataChannelOpened follows. -1 bounds mean none (reliable)."""
        for name, v in (("max_packet_life_time", max_packet_life_time),
                        ("max_retransmits", max_retransmits)):
            if not -(2**31) <= v < 2**31:
                raise ValueError("%s must be -1 or 0-65535" % name)
        channel = ctypes.c_uint16()
        _check(_lib.mf_webrtc_create_data_channel(self._raw, _text(label), ordered,
                                                  max_packet_life_time, max_retransmits,
                                                  _text(protocol), ctypes.byref(channel)))
        return channel.value

    def close_data_channel(self, channel_id: int) -> None:
        """Closes data channel ``channel_id``; DataChannelClosed follows."""
        if not 0 <= channel_id <= 65535:
            raise ValueError("channel_id must be 0-65535")
        _check(_lib.mf_webrtc_close_data_channel(self._raw, channel_id))

    def gather_candidates(self) -> None:
        """Starts ICE gathering: IceCandidateFound events, then IceGatheringDone."""
        _check(_lib.mf_webrtc_gather_candidates(self._raw))

    def add_ice_candidate(self, candidate: str, sdp_mid: str = "0", sdp_m_line_index: int = 0) -> None:
        """Adds a candidate of the peer (an SDP ``candidate:`` line), at any time.

        Raises ``Error`` (``INVALID_CANDIDATE``).
        """
        _check(_lib.mf_webrtc_add_ice_candidate(self._raw, _text(candidate), _text(sdp_mid), sdp_m_line_index))

    def stats(self) -> Dict[str, Any]:
        """RTP statistics as a dict (W3C webrtc-stats names)."""
        import json
        out = ctypes.c_void_p()
        _check(_lib.mf_webrtc_get_stats(self._raw, ctypes.byref(out)))
        return json.loads(_take(out.value))
