"""Every field of every event from Python, typed, over one Hello World (an endpoint
connected to itself answering a second one, both on 127.0.0.1), an ElementDisconnected
and, from a second call whose answer carries a wrong DTLS fingerprint, an Error."""

import struct
import threading
import time


import mediaflow as mf  # noqa: E402

# Each kind's own fields and their Python types (besides the common ones).
OWN = {
    mf.EventType.ERROR: {"description": str, "error_code": int, "error_type": mf.ErrorType},
    mf.EventType.ELEMENT_CONNECTED: {"sink": str, "media_type": mf.MediaType, "source_media_description": str,
                                     "sink_media_description": str},
    mf.EventType.ELEMENT_DISCONNECTED: {"sink": str, "media_type": mf.MediaType, "source_media_description": str,
                                        "sink_media_description": str},
    mf.EventType.MEDIA_FLOW_IN_STATE_CHANGED: {"state": mf.MediaFlowState, "pad_name": str,
                                               "media_type": mf.MediaType},
    mf.EventType.MEDIA_FLOW_OUT_STATE_CHANGED: {"state": mf.MediaFlowState, "pad_name": str,
                                                "media_type": mf.MediaType},
    mf.EventType.MEDIA_TRANSCODING_STATE_CHANGED: {"state": mf.MediaTranscodingState, "bin_name": str,
                                                   "media_type": mf.MediaType},
    mf.EventType.MEDIA_STATE_CHANGED: {"old_state": mf.MediaState, "new_state": mf.MediaState},
    mf.EventType.CONNECTION_STATE_CHANGED: {"old_state": mf.ConnectionState, "new_state": mf.ConnectionState},
    mf.EventType.ICE_CANDIDATE_FOUND: {"candidate": mf.IceCandidate},
    mf.EventType.ICE_GATHERING_DONE: {},
    mf.EventType.ICE_COMPONENT_STATE_CHANGED: {"stream_id": int, "component_id": int,
                                               "state": mf.IceComponentState},
    mf.EventType.NEW_CANDIDATE_PAIR_SELECTED: {"candidate_pair": mf.IceCandidatePair},
    mf.EventType.DTLS_CONNECTION_STATE_CHANGE: {"stream_id": str, "component_id": int, "connection_id": str,
                                                "state": mf.DtlsConnectionState},
}
ALL_OWN = {name for fields in OWN.values() for name in fields}
NAMES = {
    mf.EventType.ERROR: "Error", mf.EventType.ELEMENT_CONNECTED: "ElementConnected",
    mf.EventType.ELEMENT_DISCONNECTED: "ElementDisconnected",
    mf.EventType.MEDIA_FLOW_IN_STATE_CHANGED: "MediaFlowInStateChanged",
    mf.EventType.MEDIA_FLOW_OUT_STATE_CHANGED: "MediaFlowOutStateChanged",
    mf.EventType.MEDIA_TRANSCODING_STATE_CHANGED: "MediaTranscodingStateChanged",
    mf.EventType.MEDIA_STATE_CHANGED: "MediaStateChanged",
    mf.EventType.CONNECTION_STATE_CHANGED: "ConnectionStateChanged",
    mf.EventType.ICE_CANDIDATE_FOUND: "IceCandidateFound", mf.EventType.ICE_GATHERING_DONE: "IceGatheringDone",
    mf.EventType.ICE_COMPONENT_STATE_CHANGED: "IceComponentStateChanged",
    mf.EventType.NEW_CANDIDATE_PAIR_SELECTED: "NewCandidatePairSelected",
    mf.EventType.DTLS_CONNECTION_STATE_CHANGE: "DtlsConnectionStateChange",
}


def vp8_packet(seq):
    key = seq % 30 == 0
    header = struct.pack("!BBHII", 0x80, 96, seq & 0xFFFF, (seq * 3000) & 0xFFFFFFFF, 0x0BADCAFE)
    return header + bytes([0x10, 0x00 if key else 0x01, 0x9D, 0x01, 0x2A]) + b"\xab" * 100


class Recorder:
    """Keeps every event of one element (Events are copies: they outlive the handler)."""

    def __init__(self, element, trickle_to=None):
        self.id = element.id
        self.events = []
        self.lock = threading.Lock()
        self.trickle_to = trickle_to
        element.on_event(self.on_event)

    def on_event(self, e):
        with self.lock:
            self.events.append(e)
        if e.type == mf.EventType.ICE_CANDIDATE_FOUND and self.trickle_to is not None:
            self.trickle_to.add_ice_candidate(*e.candidate)

    def of(self, kind):
        with self.lock:
            return [e for e in self.events if e.type == kind]

    def has(self, kind, **fields):
        return any(all(getattr(e, k) == v for k, v in fields.items()) for e in self.of(kind))


def wait(done, seconds, camera=None):
    deadline = time.monotonic() + seconds
    seq = 0
    while not done() and time.monotonic() < deadline:
        if camera is not None:
            camera.push(mf.MediaType.VIDEO, vp8_packet(seq), codec="video/VP8", keyframe=seq % 30 == 0)
            seq += 1
        time.sleep(0.01)
    return done()


def priority(line):
    return int(line.split()[3])


def check_common(rec, e, started_ms, tags):
    assert isinstance(e.type, mf.EventType)
    assert e.type_name == NAMES[e.type], e
    assert e.source == rec.id, e
    assert isinstance(e.timestamp_millis, int) and started_ms - 2000 <= e.timestamp_millis <= time.time() * 1000 + 2000
    assert e.tags == tags, e
    own = OWN[e.type]
    assert set(e.fields) == set(own), e
    for name, kind in own.items():
        assert isinstance(getattr(e, name), kind), (name, e)
    for name in ALL_OWN - set(own):
        assert getattr(e, name) is None, (name, e)


def check_own(e, sink_id=None):
    if e.type == mf.EventType.ICE_CANDIDATE_FOUND:
        c = e.candidate
        assert c.candidate.startswith("candidate:") and " 127.0.0.1 " in c.candidate, e
        assert c.sdp_mid and isinstance(c.sdp_m_line_index, int) and 0 <= c.sdp_m_line_index < 2, e
    elif e.type == mf.EventType.ICE_COMPONENT_STATE_CHANGED:
        assert (e.stream_id, e.component_id) == (1, 1), e
    elif e.type == mf.EventType.NEW_CANDIDATE_PAIR_SELECTED:
        p = e.candidate_pair
        assert (p.stream_id, p.component_id) == ("1", 1), e
        assert isinstance(p.local_candidate, str) and isinstance(p.remote_candidate, str)
    elif e.type == mf.EventType.DTLS_CONNECTION_STATE_CHANGE:
        assert (e.stream_id, e.component_id) == ("1", 1) and e.connection_id, e
    elif e.type in (mf.EventType.MEDIA_STATE_CHANGED, mf.EventType.CONNECTION_STATE_CHANGED):
        assert e.old_state != e.new_state, e
    elif e.type in (mf.EventType.MEDIA_FLOW_IN_STATE_CHANGED, mf.EventType.MEDIA_FLOW_OUT_STATE_CHANGED):
        assert e.media_type != mf.MediaType.ALL and e.pad_name, e
        assert e.flow_state == e.state
    elif e.type == mf.EventType.MEDIA_TRANSCODING_STATE_CHANGED:
        # VP8 in, VP8 negotiated: nothing to convert in a Hello World.
        assert e.state == mf.MediaTranscodingState.NOT_TRANSCODING and e.bin_name, e
        assert e.media_type != mf.MediaType.ALL
    elif e.type in (mf.EventType.ELEMENT_CONNECTED, mf.EventType.ELEMENT_DISCONNECTED):
        assert e.sink == sink_id, e
        assert e.media_type != mf.MediaType.ALL and e.source_media_description and e.sink_media_description, e


def check_pairs(rec, peer):
    found = {e.candidate.candidate for e in rec.of(mf.EventType.ICE_CANDIDATE_FOUND)}
    announced = {e.candidate.candidate for e in peer.of(mf.EventType.ICE_CANDIDATE_FOUND)}
    pairs = rec.of(mf.EventType.NEW_CANDIDATE_PAIR_SELECTED)
    assert pairs, "no pair selected"
    for e in pairs:
        p = e.candidate_pair
        assert p.local_candidate in found, (p, found)
        assert p.remote_candidate in announced or (" typ prflx" in p.remote_candidate
                                                   and priority(p.remote_candidate) > 0), (p, announced)
    # The seed's order: the pair is announced before ICE reports Connected.
    with rec.lock:
        kinds = [(e.type, e.state) for e in rec.events]
    first_pair = kinds.index((mf.EventType.NEW_CANDIDATE_PAIR_SELECTED, None))
    first_connected = kinds.index((mf.EventType.ICE_COMPONENT_STATE_CHANGED, mf.IceComponentState.CONNECTED))
    assert first_pair < first_connected


def test_every_event_field_of_a_hello_world_is_typed():
    started_ms = time.time() * 1000
    pipeline = mf.Pipeline()
    offerer = pipeline.webrtc_endpoint(network_interfaces="lo")
    loopback = pipeline.webrtc_endpoint(network_interfaces="lo")
    camera = pipeline.app_source()
    screen = pipeline.pass_through()
    loopback.add_tag("room", "hello")
    loopback.set_send_tags_in_events(True)
    o = Recorder(offerer, trickle_to=loopback)
    l = Recorder(loopback, trickle_to=offerer)
    c = Recorder(camera)
    s = Recorder(screen)
    loopback.connect(loopback)
    camera.connect(offerer, mf.MediaType.VIDEO)
    offerer.connect(screen, mf.MediaType.VIDEO)
    offerer.process_answer(loopback.process_offer(offerer.generate_offer()))
    loopback.gather_candidates()
    offerer.gather_candidates()

    T = mf.EventType
    video = mf.MediaType.VIDEO
    flowing = mf.MediaFlowState.FLOWING

    def walked():
        return (o.has(T.MEDIA_FLOW_OUT_STATE_CHANGED, media_type=video, state=flowing)
                and l.has(T.MEDIA_FLOW_IN_STATE_CHANGED, media_type=video, state=flowing)
                and l.has(T.MEDIA_FLOW_OUT_STATE_CHANGED, media_type=video, state=flowing)
                and s.has(T.MEDIA_FLOW_IN_STATE_CHANGED, media_type=video, state=flowing)
                and l.has(T.MEDIA_STATE_CHANGED, new_state=mf.MediaState.CONNECTED)
                and l.has(T.CONNECTION_STATE_CHANGED, new_state=mf.ConnectionState.CONNECTED)
                and l.has(T.DTLS_CONNECTION_STATE_CHANGE, state=mf.DtlsConnectionState.CONNECTED)
                and o.has(T.ICE_COMPONENT_STATE_CHANGED, state=mf.IceComponentState.CONNECTED)
                and l.has(T.ICE_COMPONENT_STATE_CHANGED, state=mf.IceComponentState.CONNECTED)
                and o.has(T.ICE_GATHERING_DONE) and l.has(T.ICE_GATHERING_DONE)
                and c.has(T.MEDIA_TRANSCODING_STATE_CHANGED))

    assert wait(walked, 60, camera), "the Hello World did not raise every event: %s" % l.events

    camera.disconnect(offerer, mf.MediaType.VIDEO)

    # An Error: a second call whose answer names another certificate.
    bad_offerer = pipeline.webrtc_endpoint(network_interfaces="lo")
    bad_answerer = pipeline.webrtc_endpoint(network_interfaces="lo")
    bo = Recorder(bad_offerer, trickle_to=bad_answerer)
    ba = Recorder(bad_answerer, trickle_to=bad_offerer)
    answer = bad_answerer.process_offer(bad_offerer.generate_offer())
    at = answer.index("a=fingerprint:sha-256 ") + len("a=fingerprint:sha-256 ")
    answer = answer[:at] + ("B" if answer[at] == "A" else "A") + answer[at + 1:]
    bad_offerer.process_answer(answer)
    bad_answerer.gather_candidates()
    bad_offerer.gather_candidates()
    assert wait(lambda: bo.has(T.ERROR) and bo.has(T.DTLS_CONNECTION_STATE_CHANGE,
                                                     state=mf.DtlsConnectionState.FAILED)
                and c.has(T.ELEMENT_DISCONNECTED), 60), bo.events
    pipeline.release()

    sinks = {o.id: s.id, l.id: l.id, c.id: o.id}
    kinds = set()
    for rec in (o, l, c, s, bo, ba):
        with rec.lock:
            events = list(rec.events)
        for e in events:
            check_common(rec, e, started_ms, {"room": "hello"} if rec is l else {})
            check_own(e, sinks.get(rec.id))
            kinds.add(e.type)
        assert repr(events[0]).startswith("<")
    # Every kind but a RecorderEndpoint's (checked by crates/mediaflow/tests/recorder.rs),
    # a PlayerEndpoint's (crates/mediaflow/tests/player.rs) and a data channel's
    # (crates/mediaflow/tests/browser.rs).
    recorder = {mf.EventType.RECORDING, mf.EventType.PAUSED, mf.EventType.STOPPED,
                mf.EventType.END_OF_STREAM}
    recorder |= {mf.EventType.DATA_CHANNEL_OPENED, mf.EventType.DATA_CHANNEL_CLOSED}
    assert kinds == set(mf.EventType) - recorder, set(mf.EventType) - recorder - kinds

    error = bo.of(T.ERROR)[0]
    assert error.error_type == mf.ErrorType.UNEXPECTED_ELEMENT_ERROR
    assert error.error_type.name == "UNEXPECTED_ELEMENT_ERROR"
    assert "fingerprint" in error.description and error.error_code >= 0
    assert [e.sink for e in c.of(T.ELEMENT_DISCONNECTED)] == [o.id]
    check_pairs(o, l)
    check_pairs(l, o)
