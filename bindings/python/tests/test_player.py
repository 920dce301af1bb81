"""PlayerEndpoint and data channels from Python: a 1.2 s VP8 + Opus WebM made by Debian's
ffmpeg plays through a PlayerEndpoint into a RecorderEndpoint to its EndOfStream; the
recorded file holds the media. Positions, bad URIs, the data-channel calls' errors, and a
channel opened and closed between two WebRtcEndpoints on the loopback interface.
Every wait is bounded."""

import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pytest  # noqa: E402

import mediaflow as mf  # noqa: E402


def small_webm(path):
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=15",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "1.2",
         "-c:v", "libvpx", "-b:v", "100k", "-g", "5", "-deadline", "realtime",
         "-c:a", "libopus", str(path)],
        check=True, timeout=60)


def test_player_plays_a_file_to_its_end(tmp_path):
    source = tmp_path / "in.webm"
    small_webm(source)
    out = tmp_path / "out.webm"
    pipeline = mf.Pipeline()
    player = pipeline.player_endpoint("file://%s" % source)
    recorder = pipeline.recorder_endpoint("file://%s" % out)
    ended, errors = threading.Event(), []

    def on_event(e):
        if e.type == mf.EventType.END_OF_STREAM:
            ended.set()
        elif e.type == mf.EventType.ERROR:
            errors.append(e)

    player.on_event(on_event)
    player.connect(recorder)
    recorder.record()
    assert player.position == 0
    started = time.monotonic()
    player.play()
    time.sleep(0.5)
    assert 0 < player.position <= 1200
    assert ended.wait(10), "EndOfStream within 10 s"
    assert time.monotonic() - started >= 1.0, "played in real time"
    assert not errors, errors
    recorder.stop_and_wait(10000)
    assert recorder.dropped_frames == 0
    assert player.dropped_frames == 0
    assert recorder.skipped_frames >= 0 and player.keyframe_requests >= 0
    data = out.read_bytes()
    assert data[:4] == b"\x1a\x45\xdf\xa3" and len(data) > 2000, len(data)

    # Again from the top, paused, sought, stopped.
    player.play()
    time.sleep(0.2)
    player.pause()
    player.position = 600
    assert player.position <= 600
    player.stop()
    assert player.position == 0
    with pytest.raises(ValueError):
        player.position = -1
    pipeline.release()
    with pytest.raises(mf.Error) as err:
        player.play()
    assert err.value.code in (mf.Result.ELEMENT_RELEASED, mf.Result.PIPELINE_RELEASED)


def test_bad_uri_and_data_channel_errors():
    pipeline = mf.Pipeline()
    player = pipeline.player_endpoint("rtsp://127.0.0.1/x")
    got = threading.Event()
    kinds = []

    def on_event(e):
        if e.type == mf.EventType.ERROR:
            kinds.append(e.error_type)
            got.set()

    player.on_event(on_event)
    player.play()  # answers; the Error event says why
    assert got.wait(10)
    assert kinds == [mf.ErrorType.INVALID_URI], kinds

    webrtc = pipeline.webrtc_endpoint(use_data_channels=True)
    with pytest.raises(mf.Error) as err:
        webrtc.create_data_channel("chat")  # nothing negotiated yet
    assert err.value.code == mf.Result.WRONG_STATE
    with pytest.raises(mf.Error) as err:
        webrtc.create_data_channel("chat", max_retransmits=70000)
    assert err.value.code == mf.Result.INVALID_ARGUMENT
    with pytest.raises(mf.Error) as err:
        webrtc.close_data_channel(1)
    assert err.value.code == mf.Result.WRONG_STATE
    pass_through = pipeline.pass_through()
    with pytest.raises(AttributeError):
        pass_through.play()
    pipeline.release()


def test_data_channel_opens_and_closes_between_two_endpoints():
    pipeline = mf.Pipeline()
    a = pipeline.webrtc_endpoint(network_interfaces="lo", use_data_channels=True)
    b = pipeline.webrtc_endpoint(network_interfaces="lo", use_data_channels=True)
    opened = {a: threading.Event(), b: threading.Event()}
    closed = {a: threading.Event(), b: threading.Event()}
    ids = {a: [], b: []}

    def events_of(me, peer):
        def on_event(e):
            if e.candidate:
                peer.add_ice_candidate(*e.candidate)
            if e.type == mf.EventType.DATA_CHANNEL_OPENED:
                ids[me].append(e.channel_id)
                opened[me].set()
            if e.type == mf.EventType.DATA_CHANNEL_CLOSED:
                closed[me].set()
        return on_event

    a.on_event(events_of(a, b))
    b.on_event(events_of(b, a))
    a.process_answer(b.process_offer(a.generate_offer()))
    b.gather_candidates()
    a.gather_candidates()
    # The SCTP association comes up after ICE and DTLS: until then WRONG_STATE.
    deadline = time.monotonic() + 20
    channel = None
    while channel is None:
        try:
            channel = a.create_data_channel("chat", ordered=False, max_retransmits=3, protocol="p")
        except mf.Error as err:
            assert err.code == mf.Result.WRONG_STATE, err
            assert time.monotonic() < deadline, "no SCTP association within 20 s"
            time.sleep(0.05)
    assert opened[a].wait(10) and opened[b].wait(10), "DataChannelOpened on both sides"
    assert ids[a] == [channel] and ids[b] == [channel], ids
    a.close_data_channel(channel)
    assert closed[a].wait(10) and closed[b].wait(10), "DataChannelClosed on both sides"
    with pytest.raises(mf.Error) as err:
        a.close_data_channel(channel)
    assert err.value.code == mf.Result.INVALID_ARGUMENT
    pipeline.release()
