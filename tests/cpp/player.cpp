// PlayerEndpoint and data channels through the C++ wrapper: Debian's ffmpeg makes a 1.2 s
// VP8 + Opus WebM, a PlayerEndpoint plays it into a RecorderEndpoint to its EndOfStream
// (the recorded file is a WebM), positions after pause/seek/stop, and misuse throws
// mediaflow::Error with its code. Every wait is bounded.
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
    std::string in = "/tmp/mf-cpp-player-in-" + std::to_string(getpid()) + ".webm";
    std::string out = "/tmp/mf-cpp-player-out-" + std::to_string(getpid()) + ".webm";
    std::string cmd = "timeout 60 ffmpeg -v error -y -f lavfi -i testsrc=size=160x120:rate=15 "
                      "-f lavfi -i sine=frequency=440:sample_rate=48000 -t 1.2 -c:v libvpx "
                      "-b:v 100k -g 5 -deadline realtime -c:a libopus " + in;
    if (std::system(cmd.c_str()) != 0) {
        std::fprintf(stderr, "ffmpeg could not make %s\n", in.c_str());
        return 1;
    }
    std::atomic<int> ended{0}, errors{0}, bad_errors{0};
    {
        Pipeline pipeline;
        PlayerEndpoint player = pipeline.player_endpoint("file://" + in);
        RecorderEndpoint recorder = pipeline.recorder_endpoint("file://" + out);
        player.on_event([&](const Event &e) {
            if (e.type() == MF_EVENT_END_OF_STREAM) ended++;
            if (e.type() == MF_EVENT_ERROR) errors++;
        });
        player.connect(recorder);
        recorder.record();
        expect(player.position() == 0, "position 0 before play");
        player.play();
        expect(wait_until(ended, 10), "EndOfStream within 10 s");
        expect(errors == 0, "no Error event");
        recorder.stop_and_wait(10000);
        expect(recorder.dropped_frames() == 0, "the recorder dropped no frame");
        expect(player.dropped_frames() == 0, "the player skipped no frame of a sound file");
        std::printf("recorder skipped %llu frames; player had %llu keyframe requests\n",
                    (unsigned long long)recorder.skipped_frames(),
                    (unsigned long long)player.keyframe_requests());
        player.play();
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        player.pause();
        player.set_position(600);
        expect(player.position() <= 600, "position at or before 600 ms after the seek");
        player.stop();
        expect(player.position() == 0, "position 0 after stop");

        PlayerEndpoint bad = pipeline.player_endpoint("rtsp://127.0.0.1/x");
        bad.on_event([&](const Event &e) {
            if (e.type() == MF_EVENT_ERROR && e.error() && e.error()->error_type == MF_ERROR_INVALID_URI) bad_errors++;
        });
        bad.play();
        expect(wait_until(bad_errors, 10), "an rtsp:// URI raises Error INVALID_URI");

        mf_webrtc_options options{};
        options.use_data_channels = true;
        WebRtcEndpoint webrtc = pipeline.webrtc_endpoint(&options);
        try {
            webrtc.create_data_channel("chat");
            expect(false, "create_data_channel before negotiation throws");
        } catch (const Error &e) {
            expect(e.code() == MF_RESULT_WRONG_STATE, "create_data_channel before negotiation: MF_RESULT_WRONG_STATE");
        }
        try {
            webrtc.create_data_channel("chat", true, 70000);
            expect(false, "a bound past 65535 throws");
        } catch (const Error &e) {
            expect(e.code() == MF_RESULT_INVALID_ARGUMENT, "a bound past 65535: MF_RESULT_INVALID_ARGUMENT");
        }
        pipeline.release();
        try {
            player.play();
            expect(false, "play after release throws");
        } catch (const Error &e) {
            expect(e.code() == MF_RESULT_ELEMENT_RELEASED || e.code() == MF_RESULT_PIPELINE_RELEASED,
                   "play after release: released");
        }
    }
    std::ifstream f(out, std::ios::binary);
    std::vector<unsigned char> data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    expect(data.size() > 2000 && data[0] == 0x1A && data[1] == 0x45 && data[2] == 0xDF && data[3] == 0xA3,
           "the recorder stored the played media in a WebM");
    unlink(in.c_str());
    unlink(out.c_str());
    if (failures) {
        std::fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    std::printf("player (C++): all checks passed\n");
    return 0;
}
