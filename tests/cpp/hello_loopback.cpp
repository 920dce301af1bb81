// The Hello World loopback through the C++ wrapper: an endpoint connected to itself
// answers another endpoint's offer; candidates trickle from the handlers; the video the
// offerer sends must come back. Also checks that misuse throws mediaflow::Error.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "mediaflow.hpp"

int main() {
    using namespace mediaflow;
    std::atomic<bool> flowed_back{false};
    Pipeline pipeline;
    mf_webrtc_options options{};
    options.network_interfaces = "lo";
    auto offerer = pipeline.webrtc_endpoint(&options);
    auto loopback = pipeline.webrtc_endpoint(&options);
    auto camera = pipeline.app_source();
    auto screen = pipeline.pass_through();
    loopback.connect(loopback);
    camera.connect(offerer, MF_MEDIA_VIDEO);
    offerer.connect(screen, MF_MEDIA_VIDEO);
    offerer.on_event([&](const Event &e) {
        if (auto c = e.candidate()) loopback.add_ice_candidate(c->candidate, c->sdp_mid, c->sdp_m_line_index);
        if (e.type() == MF_EVENT_MEDIA_FLOW_OUT_STATE_CHANGED && e.media_type() == MF_MEDIA_VIDEO &&
            e.flow_state() == MF_FLOWING)
            flowed_back = true;
    });
    loopback.on_event([&](const Event &e) {
        if (auto c = e.candidate()) offerer.add_ice_candidate(c->candidate, c->sdp_mid, c->sdp_m_line_index);
    });
    offerer.process_answer(loopback.process_offer(offerer.generate_offer()));
    loopback.gather_candidates();
    offerer.gather_candidates();

    uint8_t packet[128] = {0x80, 96};
    for (uint16_t seq = 0; seq < 3000 && !flowed_back; seq++) {
        uint32_t ts = seq * 3000u;
        packet[2] = seq >> 8;
        packet[3] = seq & 0xff;
        for (int i = 0; i < 4; i++) packet[4 + i] = (ts >> (24 - 8 * i)) & 0xff;
        packet[8] = 0x0b;
        packet[12] = 0x10;
        packet[13] = seq % 30 == 0 ? 0x00 : 0x01;
        camera.push(MF_MEDIA_VIDEO, "video/VP8", packet, sizeof packet, seq % 30 == 0);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::printf("loopback stats: %s\n", loopback.stats().c_str());

    // Misuse throws with the C code.
    int failures = 0;
    try {
        screen.release();
        screen.connect(offerer);
        failures++;
    } catch (const Error &e) {
        if (e.code() != MF_RESULT_ELEMENT_RELEASED) failures++;
        std::printf("expected error: %s\n", e.what());
    }
    try {
        loopback.process_answer("v=0\r\n");
        failures++;
    } catch (const Error &e) {
        if (e.code() != MF_RESULT_WRONG_STATE) failures++;
    }
    pipeline.release();
    bool ok = flowed_back && failures == 0;
    std::printf("%s: media %s, %d misuse failures\n", ok ? "PASS" : "FAIL", flowed_back ? "came back" : "did not come back",
                failures);
    return ok ? 0 : 1;
}
