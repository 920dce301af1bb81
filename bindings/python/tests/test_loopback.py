"""The Hello World loopback from Python, and misuse raising mediaflow.Error."""

import struct
import threading
import time


import pytest  # noqa: E402

import mediaflow as mf  # noqa: E402


def vp8_packet(seq):
    key = seq % 30 == 0
    header = struct.pack("!BBHII", 0x80, 96, seq, seq * 3000, 0x0BADCAFE)
    return header + bytes([0x10, 0x00 if key else 0x01, 0x9D, 0x01, 0x2A]) + b"\xab" * 100


def test_media_comes_back_through_a_self_connected_endpoint():
    pipeline = mf.Pipeline()
    offerer = pipeline.webrtc_endpoint(network_interfaces="lo")
    loopback = pipeline.webrtc_endpoint(network_interfaces="lo")
    camera = pipeline.app_source()
    screen = pipeline.pass_through()
    loopback.connect(loopback)
    camera.connect(offerer, mf.MediaType.VIDEO)
    offerer.connect(screen, mf.MediaType.VIDEO)

    flowed_back = threading.Event()
    seen = []

    def offerer_events(e):
        if e.candidate:
            loopback.add_ice_candidate(*e.candidate)
        if (e.type == mf.EventType.MEDIA_FLOW_OUT_STATE_CHANGED and e.media_type == mf.MediaType.VIDEO
                and e.flow_state == mf.FlowState.FLOWING):
            flowed_back.set()

    def loopback_events(e):
        seen.append(e.type_name)
        if e.candidate:
            offerer.add_ice_candidate(*e.candidate)

    offerer.on_event(offerer_events)
    loopback.on_event(loopback_events)
    offerer.process_answer(loopback.process_offer(offerer.generate_offer()))
    loopback.gather_candidates()
    offerer.gather_candidates()

    deadline = time.monotonic() + 30
    seq = 0
    while not flowed_back.is_set() and time.monotonic() < deadline:
        camera.push(mf.MediaType.VIDEO, vp8_packet(seq), codec="video/VP8", keyframe=seq % 30 == 0)
        seq += 1
        time.sleep(0.01)
    assert flowed_back.is_set(), "media did not come back; loopback saw %s" % seen
    stats = loopback.stats()
    assert any(s["packetsReceived"] > 0 for s in stats["inbound"])
    for name in ("IceCandidateFound", "IceGatheringDone", "NewCandidatePairSelected", "IceComponentStateChanged"):
        assert name in seen
    pipeline.release()


def test_misuse_raises_typed_errors():
    pipeline = mf.Pipeline()
    endpoint = pipeline.webrtc_endpoint()
    pass_through = pipeline.pass_through()
    with pytest.raises(mf.Error) as e:
        endpoint.process_offer("v=0\r\nnot sdp")
    assert e.value.code == mf.Result.INVALID_SDP
    with pytest.raises(mf.Error) as e:
        endpoint.process_answer("v=0\r\n")
    assert e.value.code == mf.Result.WRONG_STATE
    with pytest.raises(mf.Error) as e:
        endpoint.add_ice_candidate("candidate:nope")
    assert e.value.code == mf.Result.INVALID_CANDIDATE
    pass_through.release()
    with pytest.raises(mf.Error) as e:
        endpoint.connect(pass_through)
    assert e.value.code == mf.Result.ELEMENT_RELEASED
    other = mf.Pipeline().pass_through()
    with pytest.raises(mf.Error) as e:
        endpoint.connect(other)
    assert e.value.code == mf.Result.DIFFERENT_PIPELINES
    pipeline.release()
    with pytest.raises(mf.Error) as e:
        endpoint.generate_offer()
    assert e.value.code == mf.Result.PIPELINE_RELEASED


def test_the_playout_delay_option_decides_whether_the_extension_is_offered():
    playout_delay = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"
    pipeline = mf.Pipeline()
    for option, offered in [(None, True), (300, True), (0, False)]:
        endpoint = pipeline.webrtc_endpoint(network_interfaces="lo", max_playout_delay=option)
        video = endpoint.generate_offer().split("m=video", 1)[1]
        assert (playout_delay in video) == offered, (option, video)
    pipeline.release()
