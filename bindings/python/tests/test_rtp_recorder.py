"""RtpEndpoint and RecorderEndpoint from Python: two RtpEndpoints on 127.0.0.1 carry VP8
RTP into a RecorderEndpoint; the file is a WebM holding it (ffprobe reads it when
installed). Misuse raises mediaflow.Error with its code. Every wait is bounded."""

import os
import shutil
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pytest  # noqa: E402

import mediaflow as mf  # noqa: E402


def vp8_frame(seq):
    """A one-packet VP8 frame in RTP: marker set, a keyframe (320x240) every 30th."""
    key = seq % 30 == 0
    header = struct.pack("!BBHII", 0x80, 0x80 | 96, seq, seq * 3000, 0x0BADCAFE)
    tag = bytes([0x10, 0x10 if key else 0x11, 0x00, 0x00])
    start = bytes([0x9D, 0x01, 0x2A, 0x40, 0x01, 0xF0, 0x00]) if key else b""
    return header + tag + start + b"\xab" * 100


def test_rtp_endpoints_feed_a_recorder(tmp_path):
    path = tmp_path / "out.webm"
    pipeline = mf.Pipeline()
    sender = pipeline.rtp_endpoint(address="127.0.0.1")
    receiver = pipeline.rtp_endpoint(address="127.0.0.1")
    camera = pipeline.app_source()
    recorder = pipeline.recorder_endpoint("file://%s" % path, mf.MediaProfile.WEBM_VIDEO_ONLY)
    seen = {t: threading.Event() for t in (mf.EventType.RECORDING, mf.EventType.STOPPED, mf.EventType.ERROR)}

    def on_event(e):
        if e.type in seen:
            seen[e.type].set()

    recorder.on_event(on_event)
    camera.connect(sender, mf.MediaType.VIDEO)
    receiver.connect(recorder)
    assert sender.local_session_descriptor is None
    offer = sender.generate_offer()
    assert "RTP/AVPF" in offer and "VP8/90000" in offer
    answer = receiver.process_offer(offer)
    sender.process_answer(answer)
    assert sender.remote_session_descriptor == answer
    assert receiver.local_session_descriptor == answer

    started = time.monotonic()
    recorder.record()
    assert seen[mf.EventType.RECORDING].wait(5)
    for seq in range(90):
        camera.push(mf.MediaType.VIDEO, vp8_frame(seq), codec="video/VP8", keyframe=seq % 30 == 0)
        time.sleep(0.033)
    recorder.stop_and_wait(10000)
    recorded = time.monotonic() - started
    assert seen[mf.EventType.STOPPED].wait(5)
    assert not seen[mf.EventType.ERROR].is_set()
    with pytest.raises(mf.Error) as err:
        recorder.record()
    assert err.value.code == mf.Result.WRONG_STATE
    pipeline.release()

    data = path.read_bytes()
    assert data[:4] == b"\x1a\x45\xdf\xa3", "an EBML header"
    assert len(data) > 60 * 100, "the frames after the first keyframe are stored"
    if shutil.which("ffprobe"):
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name:format=duration",
             "-of", "default=noprint_wrappers=1", str(path)],
            capture_output=True, text=True, timeout=20, check=True).stdout
        fields = dict(line.split("=", 1) for line in out.split())
        assert fields["codec_name"] == "vp8", out
        assert 2.0 < float(fields["duration"]) <= recorded + 0.5, (out, recorded)


def test_misuse_raises_typed_errors(tmp_path):
    pipeline = mf.Pipeline()
    with pytest.raises(mf.Error) as err:
        pipeline.recorder_endpoint("http://example.com/a.webm")
    assert err.value.code == mf.Result.INVALID_ARGUMENT
    with pytest.raises(mf.Error) as err:
        pipeline.recorder_endpoint("file:///tmp/a.mp4", 9)  # not an mf_media_profile
    assert err.value.code == mf.Result.INVALID_ARGUMENT
    with pytest.raises(mf.Error) as err:
        pipeline.rtp_endpoint(address="not-an-ip")
    assert err.value.code == mf.Result.INVALID_ARGUMENT
    with pytest.raises(mf.Error) as err:
        pipeline.rtp_endpoint(address="127.0.0.1", crypto=7)
    assert err.value.code == mf.Result.INVALID_ARGUMENT
    srtp = pipeline.rtp_endpoint(address="127.0.0.1", crypto=mf.CryptoSuite.AES_128_CM_HMAC_SHA1_80)
    offer = srtp.generate_offer()
    assert "RTP/SAVPF" in offer and "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" in offer
    plain = pipeline.rtp_endpoint(address="127.0.0.1", avp=True)
    assert "RTP/AVP " in plain.generate_offer()
    with pytest.raises(mf.Error) as err:
        plain.process_answer("v=0\r\ngarbage")
    assert err.value.code in (mf.Result.INVALID_SDP, mf.Result.WRONG_STATE)
    mp4 = pipeline.recorder_endpoint("file://%s" % (tmp_path / "x.mp4"), mf.MediaProfile.MP4_AUDIO_ONLY)
    assert mp4 is not None
    recorder = pipeline.recorder_endpoint("file://%s" % (tmp_path / "x.mkv"), mf.MediaProfile.MKV)
    with pytest.raises(mf.Error) as err:
        mf.SdpEndpoint.generate_offer(recorder)
    assert err.value.code == mf.Result.WRONG_ELEMENT_TYPE
    pipeline.release()
    with pytest.raises(mf.Error) as err:
        recorder.record()
    assert err.value.code == mf.Result.PIPELINE_RELEASED


def test_offer_options_choose_what_the_offer_asks_to_receive():
    pipeline = mf.Pipeline()
    endpoint = pipeline.rtp_endpoint(address="127.0.0.1")
    offer = endpoint.generate_offer(offer_to_receive_video=False)
    audio, video = offer.split("m=video", 1)
    assert "a=sendrecv" in audio
    assert "a=sendonly" in video
    limited = pipeline.rtp_endpoint(address="127.0.0.1", max_audio_recv_bandwidth=48)
    assert "b=AS:48" in limited.generate_offer()
    pipeline.release()
