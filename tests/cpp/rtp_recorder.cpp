// RtpEndpoint and RecorderEndpoint through the C++ wrapper: two RtpEndpoints on
// 127.0.0.1 negotiate (offer, answer); VP8 RTP pushed into the first crosses the network
// to the second, which feeds a RecorderEndpoint (WEBM_VIDEO_ONLY). After stop_and_wait
// the file is a WebM (EBML header) holding what was sent, Recording and Stopped came,
// and misuse throws mediaflow::Error with its code. Every wait is bounded.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "mediaflow.hpp"

// A one-packet VP8 frame in RTP (marker set; payload descriptor with S; a VP8 frame
// tag, a keyframe's start code and 320x240 every 30th frame).
static std::vector<uint8_t> vp8_packet(uint16_t seq) {
    bool key = seq % 30 == 0;
    uint32_t ts = seq * 3000u, ssrc = 0x0BADCAFE;
    std::vector<uint8_t> p = {0x80, 0x80 | 96, uint8_t(seq >> 8), uint8_t(seq), uint8_t(ts >> 24), uint8_t(ts >> 16),
                              uint8_t(ts >> 8), uint8_t(ts), uint8_t(ssrc >> 24), uint8_t(ssrc >> 16),
                              uint8_t(ssrc >> 8), uint8_t(ssrc), 0x10, uint8_t(key ? 0x10 : 0x11), 0x00, 0x00};
    if (key) p.insert(p.end(), {0x9D, 0x01, 0x2A, 0x40, 0x01, 0xF0, 0x00});
    p.insert(p.end(), 100, 0xab);
    return p;
}

static bool wait_until(const std::atomic<int> &counter, int seconds) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (counter == 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return counter > 0;
}

int main() {
    using namespace mediaflow;
    int failures = 0;
    auto expect = [&](bool ok, const char *what) {
        std::printf("%s %s\n", ok ? "ok  " : "FAIL", what);
        if (!ok) failures++;
    };
    std::string path = "/tmp/mf-cpp-recorder-" + std::to_string(getpid()) + ".webm";
    std::atomic<int> recording{0}, stopped{0}, errors{0};
    {
        Pipeline pipeline;
        mf_rtp_options options{};
        options.address = "127.0.0.1";
        auto sender = pipeline.rtp_endpoint(&options);
        auto receiver = pipeline.rtp_endpoint(&options);
        auto camera = pipeline.app_source();
        auto recorder = pipeline.recorder_endpoint("file://" + path, MF_MEDIA_PROFILE_WEBM_VIDEO_ONLY);
        recorder.on_event([&](const Event &e) {
            if (e.type() == MF_EVENT_RECORDING) recording++;
            if (e.type() == MF_EVENT_STOPPED) stopped++;
            if (e.error()) errors++;
        });
        camera.connect(sender, MF_MEDIA_VIDEO);
        receiver.connect(recorder);
        expect(!sender.local_session_descriptor(), "no local SDP before the offer");
        auto offer = sender.generate_offer();
        auto answer = receiver.process_offer(offer);
        sender.process_answer(answer);
        expect(sender.remote_session_descriptor() == answer, "the answer is the sender's remote SDP");
        expect(receiver.local_session_descriptor() == answer, "the answer is the receiver's local SDP");

        recorder.record();
        expect(wait_until(recording, 5), "Recording");
        for (uint16_t seq = 0; seq < 90; seq++) {
            auto p = vp8_packet(seq);
            camera.push(MF_MEDIA_VIDEO, "video/VP8", p.data(), p.size(), seq % 30 == 0);
            std::this_thread::sleep_for(std::chrono::milliseconds(33));
        }
        recorder.stop_and_wait(10000);
        expect(wait_until(stopped, 5), "Stopped");
        expect(errors == 0, "no Error event");

        try {
            recorder.record();
            expect(false, "record after stop throws");
        } catch (const Error &e) {
            expect(e.code() == MF_RESULT_WRONG_STATE, "record after stop throws MF_RESULT_WRONG_STATE");
        }
        try {
            pipeline.recorder_endpoint("http://example.com/a.webm");
            expect(false, "a non-file URI throws");
        } catch (const Error &e) {
            expect(e.code() == MF_RESULT_INVALID_ARGUMENT, "a non-file URI throws MF_RESULT_INVALID_ARGUMENT");
        }
        pipeline.release();
    }
    std::ifstream file(path, std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    std::remove(path.c_str());
    bool ebml = bytes.size() > 4 && bytes[0] == 0x1A && bytes[1] == 0x45 && bytes[2] == 0xDF && bytes[3] == 0xA3;
    std::printf("recorded %zu bytes\n", bytes.size());
    expect(ebml, "the file starts with the EBML header");
    // 90 frames of 100-107 bytes went in; at least the frames after the first keyframe are there.
    expect(bytes.size() > 60 * 103, "the file holds the frames");
    if (failures) {
        std::fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    std::printf("rtp_recorder (C++): AppSource -> RtpEndpoint -> RtpEndpoint -> RecorderEndpoint ok\n");
    return 0;
}
