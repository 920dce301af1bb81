// Every field of every event through the C++ wrapper, over one Hello World (an endpoint
// connected to itself answering a second one, both on 127.0.0.1), an ElementDisconnected
// and, from a second call whose answer carries a wrong DTLS fingerprint, an Error. Each
// event's fields are checked as they arrive (typed, plausible; the getters of other
// kinds give std::nullopt), the selected pairs at the end against the candidates announced.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "mediaflow.hpp"

using namespace mediaflow;
using Clock = std::chrono::steady_clock;

namespace {

std::mutex lock;
std::vector<std::string> failures;
std::map<mf_event_type, int> seen;

#define EXPECT(cond, what)                                                         \
    do {                                                                           \
        if (!(cond)) {                                                             \
            std::lock_guard<std::mutex> g_(lock);                                  \
            failures.push_back(std::string(#cond) + ": " + (what));                \
        }                                                                          \
    } while (0)

uint64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

const char *const NAMES[] = {
    "Error", "ElementConnected", "ElementDisconnected", "MediaFlowInStateChanged",
    "MediaFlowOutStateChanged", "MediaTranscodingStateChanged", "MediaStateChanged",
    "ConnectionStateChanged", "IceCandidateFound", "IceGatheringDone",
    "IceComponentStateChanged", "NewCandidatePairSelected", "DtlsConnectionStateChange",
};

bool valid_media(mf_media_type m) { return m == MF_MEDIA_AUDIO || m == MF_MEDIA_VIDEO || m == MF_MEDIA_DATA; }

// What one subscribed element announced and reached.
struct Watch {
    std::string name, id, sink_id, tag, error_says;
    WebRtcEndpoint *other = nullptr;  // where its candidates go
    std::set<std::string> found;
    std::vector<Event::CandidatePair> pairs;
    bool pair_before_connected = false;
    std::atomic<bool> ice_connected{false}, dtls_connected{false}, dtls_failed{false}, connected{false},
        media_connected{false}, flow_in{false}, flow_out{false}, not_transcoding{false}, disconnected{false},
        error{false}, gathered{false};
};

uint64_t started;

void check(Watch &w, const Event &e) {
    const auto type = e.type();
    const std::string name = e.type_name();
    {
        std::lock_guard<std::mutex> g(lock);
        seen[type]++;
    }
    // Common fields.
    EXPECT(static_cast<int>(type) >= 0 && static_cast<int>(type) < 13 && name == NAMES[type], name);
    EXPECT(e.source() == w.id, name + " from " + e.source());
    EXPECT(e.timestamp_millis() + 2000 >= started && e.timestamp_millis() <= now_ms() + 2000, name + " timestamp");
    auto tags = e.tags();
    if (w.tag.empty())
        EXPECT(tags.empty(), name + " carries tags");
    else
        EXPECT(tags.size() == 1 && tags[0].first == "room" && tags[0].second == w.tag, name + " tags");

    // Each kind's own fields; the others' getters answer nullopt.
    bool flow = type == MF_EVENT_MEDIA_FLOW_IN_STATE_CHANGED || type == MF_EVENT_MEDIA_FLOW_OUT_STATE_CHANGED;
    bool link = type == MF_EVENT_ELEMENT_CONNECTED || type == MF_EVENT_ELEMENT_DISCONNECTED;
    bool states = type == MF_EVENT_MEDIA_STATE_CHANGED || type == MF_EVENT_CONNECTION_STATE_CHANGED;
    bool transcoding = type == MF_EVENT_MEDIA_TRANSCODING_STATE_CHANGED;
    EXPECT(e.media_type().has_value() == (flow || link || transcoding), name + " media_type");
    EXPECT(e.flow_state().has_value() == flow && e.pad_name().has_value() == flow, name + " flow fields");
    EXPECT(e.transcoding_state().has_value() == transcoding && e.bin_name().has_value() == transcoding,
           name + " transcoding fields");
    EXPECT(e.old_state().has_value() == states && e.new_state().has_value() == states, name + " states");
    EXPECT(e.candidate().has_value() == (type == MF_EVENT_ICE_CANDIDATE_FOUND), name + " candidate");
    bool ice = type == MF_EVENT_ICE_COMPONENT_STATE_CHANGED;
    EXPECT(e.ice_state().has_value() == ice && e.ice_component().has_value() == ice, name + " ice fields");
    EXPECT(e.candidate_pair().has_value() == (type == MF_EVENT_NEW_CANDIDATE_PAIR_SELECTED), name + " pair");
    bool dtls = type == MF_EVENT_DTLS_CONNECTION_STATE_CHANGE;
    EXPECT(e.dtls_state().has_value() == dtls && e.dtls_connection().has_value() == dtls, name + " dtls fields");
    EXPECT(e.sink().has_value() == link && e.source_media_description().has_value() == link &&
               e.sink_media_description().has_value() == link,
           name + " link fields");
    EXPECT(e.error().has_value() == (type == MF_EVENT_ERROR), name + " error");

    switch (type) {
    case MF_EVENT_ICE_CANDIDATE_FOUND: {
        auto c = *e.candidate();
        EXPECT(c.candidate.rfind("candidate:", 0) == 0 && c.candidate.find(" 127.0.0.1 ") != std::string::npos,
               c.candidate);
        EXPECT(!c.sdp_mid.empty() && c.sdp_m_line_index < 2, c.sdp_mid);
        {
            std::lock_guard<std::mutex> g(lock);
            w.found.insert(c.candidate);
        }
        w.other->add_ice_candidate(c.candidate, c.sdp_mid, c.sdp_m_line_index);
        break;
    }
    case MF_EVENT_ICE_GATHERING_DONE:
        w.gathered = true;
        break;
    case MF_EVENT_ICE_COMPONENT_STATE_CHANGED: {
        auto state = *e.ice_state();
        auto ids = *e.ice_component();
        EXPECT(state >= MF_ICE_DISCONNECTED && state <= MF_ICE_FAILED, "ice state");
        EXPECT(ids.stream_id == 1 && ids.component_id == 1, "ice ids");
        if (state == MF_ICE_CONNECTED && !w.ice_connected.exchange(true)) {
            std::lock_guard<std::mutex> g(lock);
            w.pair_before_connected = !w.pairs.empty();
        }
        break;
    }
    case MF_EVENT_NEW_CANDIDATE_PAIR_SELECTED: {
        auto p = *e.candidate_pair();
        EXPECT(p.stream_id == "1" && p.component_id == 1, "pair ids");
        std::lock_guard<std::mutex> g(lock);
        w.pairs.push_back(p);
        break;
    }
    case MF_EVENT_DTLS_CONNECTION_STATE_CHANGE: {
        auto state = *e.dtls_state();
        auto c = *e.dtls_connection();
        EXPECT(state >= MF_DTLS_NEW && state <= MF_DTLS_FAILED, "dtls state");
        EXPECT(c.stream_id == "1" && c.component_id == 1 && !c.connection_id.empty(), "dtls ids");
        if (state == MF_DTLS_CONNECTED) w.dtls_connected = true;
        if (state == MF_DTLS_FAILED) w.dtls_failed = true;
        break;
    }
    case MF_EVENT_CONNECTION_STATE_CHANGED:
    case MF_EVENT_MEDIA_STATE_CHANGED: {
        auto old_state = *e.old_state(), new_state = *e.new_state();
        EXPECT((old_state == MF_CONNECTED || old_state == MF_DISCONNECTED) &&
                   (new_state == MF_CONNECTED || new_state == MF_DISCONNECTED) && old_state != new_state,
               name + " old/new");
        if (new_state == MF_CONNECTED) (type == MF_EVENT_CONNECTION_STATE_CHANGED ? w.connected : w.media_connected) = true;
        break;
    }
    case MF_EVENT_MEDIA_FLOW_IN_STATE_CHANGED:
    case MF_EVENT_MEDIA_FLOW_OUT_STATE_CHANGED: {
        auto state = *e.flow_state();
        auto media = *e.media_type();
        EXPECT(state == MF_FLOWING || state == MF_NOT_FLOWING, "flow state");
        EXPECT(valid_media(media) && !e.pad_name()->empty(), "flow media/pad");
        if (state == MF_FLOWING && media == MF_MEDIA_VIDEO)
            (type == MF_EVENT_MEDIA_FLOW_IN_STATE_CHANGED ? w.flow_in : w.flow_out) = true;
        break;
    }
    case MF_EVENT_MEDIA_TRANSCODING_STATE_CHANGED: {
        EXPECT(*e.transcoding_state() == MF_NOT_TRANSCODING, "transcoding in a VP8 Hello World");
        EXPECT(valid_media(*e.media_type()) && !e.bin_name()->empty(), "transcoding media/bin");
        w.not_transcoding = true;
        break;
    }
    case MF_EVENT_ELEMENT_CONNECTED:
    case MF_EVENT_ELEMENT_DISCONNECTED:
        EXPECT(*e.sink() == w.sink_id, w.name + "'s sink " + *e.sink());
        EXPECT(valid_media(*e.media_type()), "link media");
        EXPECT(!e.source_media_description()->empty() && !e.sink_media_description()->empty(), "descriptions");
        if (type == MF_EVENT_ELEMENT_DISCONNECTED) w.disconnected = true;
        break;
    case MF_EVENT_RECORDING:
    case MF_EVENT_PAUSED:
    case MF_EVENT_STOPPED:
        // A RecorderEndpoint's (tests/recorder.rs checks them): none in a Hello World.
        EXPECT(false, name + " in a Hello World");
        break;
    case MF_EVENT_DATA_CHANNEL_OPENED:
    case MF_EVENT_DATA_CHANNEL_CLOSED:
        // Endpoints without use_data_channels (browser.rs checks them): none here.
        EXPECT(false, name + " (channel " + std::to_string(e.channel_id().value_or(0)) + ") in a Hello World");
        break;
    case MF_EVENT_END_OF_STREAM:
        // A PlayerEndpoint's (tests/player.rs checks it): none in a Hello World.
        EXPECT(false, name + " in a Hello World");
        break;
    case MF_EVENT_ERROR: {
        auto err = *e.error();
        EXPECT(err.error_type == MF_ERROR_UNEXPECTED_ELEMENT_ERROR && err.type_string == "UNEXPECTED_ELEMENT_ERROR",
               err.type_string);
        EXPECT(!err.description.empty() &&
                   (w.error_says.empty() || err.description.find(w.error_says) != std::string::npos),
               err.description);
        EXPECT(err.error_code >= 0, "error code");
        w.error = true;
        break;
    }
    }
}

void watch(Element &element, Watch &w) {
    w.id = element.id();
    element.on_event([&w](const Event &e) { check(w, e); });
}

bool wait_for(std::function<bool()> done, int seconds, AppSource *camera) {
    auto deadline = Clock::now() + std::chrono::seconds(seconds);
    uint8_t packet[128] = {0x80, 96};
    for (uint16_t seq = 0; Clock::now() < deadline; seq++) {
        if (done()) return true;
        if (camera) {
            uint32_t ts = seq * 3000u;
            packet[2] = seq >> 8;
            packet[3] = seq & 0xff;
            for (int i = 0; i < 4; i++) packet[4 + i] = (ts >> (24 - 8 * i)) & 0xff;
            packet[8] = 0x0b;
            packet[12] = 0x10;
            packet[13] = seq % 30 == 0 ? 0x00 : 0x01;
            camera->push(MF_MEDIA_VIDEO, "video/VP8", packet, sizeof packet, seq % 30 == 0);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return done();
}

unsigned long priority(const std::string &line) {
    char foundation[64], transport[16];
    unsigned component;
    unsigned long prio = 0;
    return std::sscanf(line.c_str(), "candidate:%63s %u %15s %lu", foundation, &component, transport, &prio) == 4
               ? prio
               : 0;
}

void check_pairs(Watch &w, Watch &peer) {
    std::lock_guard<std::mutex> g(lock);
    if (w.pairs.empty()) failures.push_back(w.name + " selected no pair");
    for (auto &p : w.pairs) {
        if (!w.found.count(p.local_candidate))
            failures.push_back(w.name + "'s local " + p.local_candidate + " is no IceCandidateFound line");
        bool prflx = p.remote_candidate.find(" typ prflx") != std::string::npos && priority(p.remote_candidate) > 0;
        if (!peer.found.count(p.remote_candidate) && !prflx)
            failures.push_back(w.name + "'s remote " + p.remote_candidate + " was not announced");
    }
    if (!w.pair_before_connected) failures.push_back(w.name + ": ICE Connected before NewCandidatePairSelected");
}

}  // namespace

int main() {
    started = now_ms();
    // The watches outlive the elements, whose destructors unsubscribe their handlers.
    Watch o, l, c, s, bo, ba;
    Pipeline pipeline;
    mf_webrtc_options options{};
    options.network_interfaces = "lo";
    auto offerer = pipeline.webrtc_endpoint(&options);
    auto loopback = pipeline.webrtc_endpoint(&options);
    auto camera = pipeline.app_source();
    auto screen = pipeline.pass_through();
    loopback.add_tag("room", "hello");
    loopback.set_send_tags_in_events(true);

    o.name = "offerer", l.name = "loopback", c.name = "camera", s.name = "screen";
    o.other = &loopback, l.other = &offerer;
    l.tag = "hello";
    watch(offerer, o);
    watch(loopback, l);
    watch(camera, c);
    watch(screen, s);
    o.sink_id = s.id, l.sink_id = l.id, c.sink_id = o.id;

    loopback.connect(loopback);
    camera.connect(offerer, MF_MEDIA_VIDEO);
    offerer.connect(screen, MF_MEDIA_VIDEO);
    offerer.process_answer(loopback.process_offer(offerer.generate_offer()));
    loopback.gather_candidates();
    offerer.gather_candidates();
    bool walked = wait_for(
        [&] {
            return o.flow_out && l.flow_in && l.flow_out && l.media_connected && l.connected && l.dtls_connected &&
                   l.ice_connected && o.ice_connected && c.not_transcoding && o.gathered && l.gathered && s.flow_in;
        },
        60, &camera);
    EXPECT(walked, "the Hello World did not raise every event");

    camera.disconnect(offerer, MF_MEDIA_VIDEO);

    // An Error: a second call whose answer names another certificate.
    auto bad_offerer = pipeline.webrtc_endpoint(&options);
    auto bad_answerer = pipeline.webrtc_endpoint(&options);
    bo.name = "bad-offerer", ba.name = "bad-answerer";
    bo.error_says = "fingerprint";
    bo.other = &bad_answerer, ba.other = &bad_offerer;
    watch(bad_offerer, bo);
    watch(bad_answerer, ba);
    std::string answer = bad_answerer.process_offer(bad_offerer.generate_offer());
    auto at = answer.find("a=fingerprint:sha-256 ") + std::string("a=fingerprint:sha-256 ").size();
    answer[at] = answer[at] == 'A' ? 'B' : 'A';
    bad_offerer.process_answer(answer);
    bad_answerer.gather_candidates();
    bad_offerer.gather_candidates();
    bool failed = wait_for([&] { return bo.error && bo.dtls_failed && c.disconnected; }, 60, nullptr);
    EXPECT(failed, "no Error, DTLS Failed or ElementDisconnected");

    pipeline.release();
    // Handlers may run until the Elements are destroyed: everything is read under the lock.
    check_pairs(o, l);
    check_pairs(l, o);

    std::unique_lock<std::mutex> g(lock);
    int kinds = 0;
    for (int t = 0; t < 13; t++) {
        if (seen[static_cast<mf_event_type>(t)] > 0)
            kinds++;
        else
            failures.push_back(std::string("no ") + NAMES[t] + " event");
    }
    for (auto &f : failures) std::fprintf(stderr, "FAILED %s\n", f.c_str());
    bool ok = kinds == 13 && failures.empty();
    std::printf("%s: %d of 13 event kinds seen, every field read; %zu failed checks\n", ok ? "PASS" : "FAIL", kinds,
                failures.size());
    g.unlock();  // the Elements' destructors wait for a handler that may want it
    return ok ? 0 : 1;
}
