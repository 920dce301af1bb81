"""mediaflow for Python: ctypes over the C ABI (include/mediaflow.h), in-process.

Errors raise ``mediaflow.Error`` (with ``.code``, the mf_result). Handles free
themselves when garbage-collected; ``release()`` ends a pipeline or element at once.
Event handlers run on the pipeline's event thread (a dispatcher thread of its runtime,
shared with other pipelines) and may call back into the API.

The shared library is found through ``MEDIAFLOW_LIB`` (a path to
libmediaflow_capi.so), else in ``target/release`` then ``target/debug`` of this repository.
"""

import ctypes
import enum
import os
from pathlib import Path

__all__ = [
    "Error", "Result", "MediaType", "EventType", "FlowState", "IceState",
    "Pipeline", "Element", "PassThrough", "AppSource", "WebRtcEndpoint", "Event",
]


def _find_library():
    explicit = os.environ.get("MEDIAFLOW_LIB")
    if explicit:
        return explicit
    root = Path(__file__).resolve().parents[3]
    for profile in ("release", "debug"):
        candidate = root / "target" / profile / "libmediaflow_capi.so"
        if candidate.exists():
            return str(candidate)
    raise OSError("libmediaflow_capi.so not found: build it (cargo build -p mediaflow-capi) or set MEDIAFLOW_LIB")


_lib = ctypes.CDLL(_find_library())


class Result(enum.IntEnum):
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
    AUDIO = 0
    VIDEO = 1
    DATA = 2
    ALL = 3


class EventType(enum.IntEnum):
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


class FlowState(enum.IntEnum):
    FLOWING = 0
    NOT_FLOWING = 1


class IceState(enum.IntEnum):
    DISCONNECTED = 0
    GATHERING = 1
    CONNECTING = 2
    CONNECTED = 3
    READY = 4
    FAILED = 5


class Error(Exception):
    """A failed call: ``code`` is the mf_result, the message its detail."""

    def __init__(self, code, message):
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
    ]


_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
_P = ctypes.c_void_p
_PP = ctypes.POINTER(ctypes.c_void_p)
_STR_OUT = ctypes.POINTER(ctypes.c_void_p)


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
_sig("mf_element_connect", [_P, _P, ctypes.c_int])
_sig("mf_element_disconnect", [_P, _P, ctypes.c_int])
_sig("mf_element_subscribe", [_P, _CALLBACK, _P, ctypes.POINTER(ctypes.c_uint64)])
_sig("mf_element_unsubscribe", [_P, ctypes.c_uint64])
_sig("mf_webrtc_process_offer", [_P, ctypes.c_char_p, _STR_OUT])
_sig("mf_webrtc_generate_offer", [_P, _STR_OUT])
_sig("mf_webrtc_process_answer", [_P, ctypes.c_char_p])
_sig("mf_webrtc_gather_candidates", [_P])
_sig("mf_webrtc_add_ice_candidate", [_P, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint32])
_sig("mf_webrtc_get_stats", [_P, _STR_OUT])
_sig("mf_event_get_type", [_P])
_sig("mf_event_type_name", [_P], ctypes.c_char_p)
_sig("mf_event_source", [_P], ctypes.c_char_p)
_sig("mf_event_timestamp_millis", [_P], ctypes.c_uint64)
_sig("mf_event_media_type", [_P, ctypes.POINTER(ctypes.c_int)])
_sig("mf_event_flow_state", [_P, ctypes.POINTER(ctypes.c_int)])
_sig("mf_event_ice_component_state", [_P, ctypes.POINTER(ctypes.c_int)])
_sig("mf_event_candidate", [_P, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_uint32)])
_sig("mf_event_candidate_pair", [_P, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_char_p)])
_sig("mf_event_error", [_P, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_int32)])


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


class Event:
    """An event, readable only inside the handler that received it."""

    def __init__(self, raw):
        self._raw = raw
        self.type = EventType(_lib.mf_event_get_type(raw))
        self.type_name = _lib.mf_event_type_name(raw).decode()
        self.source = _lib.mf_event_source(raw).decode()
        self.timestamp_millis = _lib.mf_event_timestamp_millis(raw)

    def _int(self, fn, kind):
        out = ctypes.c_int()
        return kind(out.value) if fn(self._raw, ctypes.byref(out)) == 0 else None

    @property
    def media_type(self):
        return self._int(_lib.mf_event_media_type, MediaType)

    @property
    def flow_state(self):
        return self._int(_lib.mf_event_flow_state, FlowState)

    @property
    def ice_state(self):
        return self._int(_lib.mf_event_ice_component_state, IceState)

    @property
    def candidate(self):
        """(candidate line, sdpMid, m-line index) of IceCandidateFound, else None."""
        c, mid, index = ctypes.c_char_p(), ctypes.c_char_p(), ctypes.c_uint32()
        if _lib.mf_event_candidate(self._raw, ctypes.byref(c), ctypes.byref(mid), ctypes.byref(index)) != 0:
            return None
        return c.value.decode(), mid.value.decode(), index.value

    @property
    def candidate_pair(self):
        local, remote = ctypes.c_char_p(), ctypes.c_char_p()
        if _lib.mf_event_candidate_pair(self._raw, ctypes.byref(local), ctypes.byref(remote)) != 0:
            return None
        return local.value.decode(), remote.value.decode()

    @property
    def error(self):
        """(Kurento type string, description, code) of an Error event, else None."""
        kind, description, code = ctypes.c_char_p(), ctypes.c_char_p(), ctypes.c_int32()
        if _lib.mf_event_error(self._raw, ctypes.byref(kind), ctypes.byref(description), ctypes.byref(code)) != 0:
            return None
        return kind.value.decode(), description.value.decode(), code.value


class Pipeline:
    """A media pipeline (Kurento's MediaPipeline)."""

    def __init__(self):
        raw = ctypes.c_void_p()
        _check(_lib.mf_pipeline_new(ctypes.byref(raw)))
        self._raw = raw

    def release(self):
        _check(_lib.mf_pipeline_release(self._raw))

    def pass_through(self):
        return PassThrough(self, _lib.mf_passthrough_new)

    def app_source(self):
        return AppSource(self, _lib.mf_app_source_new)

    def webrtc_endpoint(self, network_interfaces=None, recvonly=False, sendonly=False, stun=None,
                        turn_url=None, ice_tcp=False, max_video_recv_bandwidth=0, relay_only=False,
                        external_address=None, ipv6=False):
        options = _Options(recvonly=recvonly, sendonly=sendonly,
                           network_interfaces=_text(network_interfaces),
                           stun_server_address=_text(stun[0]) if stun else None,
                           stun_server_port=stun[1] if stun else 0,
                           turn_url=_text(turn_url), ice_tcp=ice_tcp,
                           max_video_recv_bandwidth=max_video_recv_bandwidth, relay_only=relay_only,
                           external_address=_text(external_address), ipv6=ipv6)
        return WebRtcEndpoint(self, lambda p, out: _lib.mf_webrtc_endpoint_new(p, ctypes.byref(options), out))

    def __del__(self):
        if getattr(self, "_raw", None):
            _lib.mf_pipeline_free(self._raw)
            self._raw = None


class Element:
    """Any element; subclasses add their own calls."""

    def __init__(self, pipeline, create):
        raw = ctypes.c_void_p()
        _check(create(pipeline._raw, ctypes.byref(raw)))
        self._pipeline = pipeline  # keeps the pipeline handle alive
        self._raw = raw
        self._callbacks = {}

    @property
    def id(self):
        out = ctypes.c_void_p()
        _check(_lib.mf_element_id(self._raw, ctypes.byref(out)))
        return _take(out.value)

    def connect(self, sink, media=MediaType.ALL):
        _check(_lib.mf_element_connect(self._raw, sink._raw, int(media)))

    def disconnect(self, sink, media=MediaType.ALL):
        _check(_lib.mf_element_disconnect(self._raw, sink._raw, int(media)))

    def release(self):
        _check(_lib.mf_element_release(self._raw))

    def on_event(self, handler):
        """Calls ``handler(Event)`` for each event of this element; returns an id."""

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

    def remove_handler(self, sub):
        _check(_lib.mf_element_unsubscribe(self._raw, sub))
        self._callbacks.pop(sub, None)

    def __del__(self):
        if getattr(self, "_raw", None):
            for sub in list(self._callbacks):
                _lib.mf_element_unsubscribe(self._raw, sub)
            _lib.mf_element_free(self._raw)
            self._raw = None


class PassThrough(Element):
    pass


class AppSource(Element):
    def push(self, media, data, codec=None, keyframe=False):
        data = bytes(data)
        _check(_lib.mf_app_source_push(self._raw, int(media), _text(codec), data, len(data), keyframe))


class WebRtcEndpoint(Element):
    def process_offer(self, offer):
        out = ctypes.c_void_p()
        _check(_lib.mf_webrtc_process_offer(self._raw, _text(offer), ctypes.byref(out)))
        return _take(out.value)

    def generate_offer(self):
        out = ctypes.c_void_p()
        _check(_lib.mf_webrtc_generate_offer(self._raw, ctypes.byref(out)))
        return _take(out.value)

    def process_answer(self, answer):
        _check(_lib.mf_webrtc_process_answer(self._raw, _text(answer)))

    def gather_candidates(self):
        _check(_lib.mf_webrtc_gather_candidates(self._raw))

    def add_ice_candidate(self, candidate, sdp_mid="0", sdp_m_line_index=0):
        _check(_lib.mf_webrtc_add_ice_candidate(self._raw, _text(candidate), _text(sdp_mid), sdp_m_line_index))

    def stats(self):
        """RTP statistics as a dict (W3C webrtc-stats names)."""
        import json
        out = ctypes.c_void_p()
        _check(_lib.mf_webrtc_get_stats(self._raw, ctypes.byref(out)))
        return json.loads(_take(out.value))
