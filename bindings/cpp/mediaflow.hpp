// mediaflow for C++17: a header-only RAII wrapper over the C ABI (include/mediaflow.h).
//
// Error handling: every failing call throws mediaflow::Error, which carries the
// mf_result code and the detail text. Handles are move-only and free themselves;
// elements keep their pipeline's handle alive. Event handlers are std::function,
// called on the pipeline's event thread; they may call back into the API. An Element
// owns its handlers: destroying it unsubscribes them first.
#ifndef MEDIAFLOW_HPP
#define MEDIAFLOW_HPP

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "mediaflow.h"

namespace mediaflow {

/// A failed call: the C result code and its detail.
class Error : public std::runtime_error {
public:
    Error(mf_result code, const std::string &what) : std::runtime_error(what), code_(code) {}
    mf_result code() const noexcept { return code_; }

private:
    mf_result code_;
};

namespace detail {
inline void check(mf_result r) {
    if (r == MF_RESULT_OK) return;
    char buf[1024];
    mf_last_error(buf, sizeof buf);
    throw Error(r, std::string(mf_result_message(r)) + ": " + buf);
}

/// Takes ownership of a string returned by the C API.
inline std::string take(char *s) {
    std::string out = s ? s : "";
    mf_string_free(s);
    return out;
}

struct PipelineDeleter {
    void operator()(mf_pipeline *p) const noexcept { mf_pipeline_free(p); }
};
struct ElementDeleter {
    void operator()(mf_element *e) const noexcept { mf_element_free(e); }
};
}  // namespace detail

/// A view of an event, valid only inside the handler that received it (copy what you
/// keep: the getters return owned values). Every field of Kurento's events has a getter;
/// those an event kind does not have return std::nullopt.
class Event {
public:
    explicit Event(const mf_event *e) : e_(e) {}

    // Fields every event has.
    mf_event_type type() const { return mf_event_get_type(e_); }
    /// Kurento's `type`: the event's name ("IceCandidateFound"...).
    std::string type_name() const { return mf_event_type_name(e_); }
    /// Object id of the element (or pipeline) that raised it.
    std::string source() const { return mf_event_source(e_); }
    /// Milliseconds since the Unix epoch.
    uint64_t timestamp_millis() const { return mf_event_timestamp_millis(e_); }
    /// The source's tags (key, value) when it sends tags in events; else empty.
    std::vector<std::pair<std::string, std::string>> tags() const {
        std::vector<std::pair<std::string, std::string>> out;
        size_t n = mf_event_tag_count(e_);
        for (size_t i = 0; i < n; i++) {
            const char *k = nullptr, *v = nullptr;
            if (mf_event_tag(e_, i, &k, &v) == MF_RESULT_OK) out.emplace_back(k, v);
        }
        return out;
    }

    /// MediaFlowIn/Out, MediaTranscoding, ElementConnected/Disconnected.
    std::optional<mf_media_type> media_type() const {
        mf_media_type m;
        return mf_event_media_type(e_, &m) == MF_RESULT_OK ? std::optional(m) : std::nullopt;
    }

    // MediaFlowInStateChanged, MediaFlowOutStateChanged: state, pad_name, media_type.
    std::optional<mf_media_flow_state> flow_state() const {
        mf_media_flow_state s;
        return mf_event_flow_state(e_, &s) == MF_RESULT_OK ? std::optional(s) : std::nullopt;
    }
    std::optional<std::string> pad_name() const { return text(mf_event_pad_name); }

    // MediaTranscodingStateChanged: state, bin_name, media_type.
    std::optional<mf_transcoding_state> transcoding_state() const {
        mf_transcoding_state s;
        return mf_event_transcoding_state(e_, &s, nullptr) == MF_RESULT_OK ? std::optional(s) : std::nullopt;
    }
    std::optional<std::string> bin_name() const {
        mf_transcoding_state s;
        const char *name = nullptr;
        if (mf_event_transcoding_state(e_, &s, &name) != MF_RESULT_OK) return std::nullopt;
        return std::string(name);
    }

    // MediaStateChanged, ConnectionStateChanged: old_state, new_state.
    std::optional<mf_connection_state> old_state() const {
        mf_connection_state s;
        return mf_event_connection_state(e_, &s, nullptr) == MF_RESULT_OK ? std::optional(s) : std::nullopt;
    }
    std::optional<mf_connection_state> new_state() const {
        mf_connection_state s;
        return mf_event_connection_state(e_, nullptr, &s) == MF_RESULT_OK ? std::optional(s) : std::nullopt;
    }

    // IceCandidateFound: candidate.
    /// Kurento's IceCandidate.
    struct Candidate {
        std::string candidate, sdp_mid;
        uint32_t sdp_m_line_index;
    };
    std::optional<Candidate> candidate() const {
        const char *c = nullptr, *mid = nullptr;
        uint32_t index = 0;
        if (mf_event_candidate(e_, &c, &mid, &index) != MF_RESULT_OK) return std::nullopt;
        return Candidate{c, mid, index};
    }

    // IceComponentStateChanged: state, stream_id, component_id.
    std::optional<mf_ice_component_state> ice_state() const {
        mf_ice_component_state s;
        return mf_event_ice_component_state(e_, &s) == MF_RESULT_OK ? std::optional(s) : std::nullopt;
    }
    /// The ICE stream and component of an IceComponentStateChanged event (integers).
    struct IceComponent {
        uint32_t stream_id, component_id;
    };
    std::optional<IceComponent> ice_component() const {
        IceComponent c{};
        if (mf_event_ice_component_ids(e_, &c.stream_id, &c.component_id) != MF_RESULT_OK) return std::nullopt;
        return c;
    }

    // NewCandidatePairSelected: candidate_pair.
    /// Kurento's IceCandidatePair (candidates as SDP `candidate:` lines).
    struct CandidatePair {
        std::string stream_id;
        uint32_t component_id;
        std::string local_candidate, remote_candidate;
    };
    std::optional<CandidatePair> candidate_pair() const {
        const char *l = nullptr, *r = nullptr, *stream = nullptr;
        uint32_t component = 0;
        if (mf_event_candidate_pair(e_, &l, &r) != MF_RESULT_OK ||
            mf_event_candidate_pair_ids(e_, &stream, &component) != MF_RESULT_OK)
            return std::nullopt;
        return CandidatePair{stream, component, l, r};
    }

    // DtlsConnectionStateChange: state, stream_id, component_id, connection_id.
    std::optional<mf_dtls_state> dtls_state() const {
        mf_dtls_state s;
        return mf_event_dtls_state(e_, &s) == MF_RESULT_OK ? std::optional(s) : std::nullopt;
    }
    struct DtlsConnection {
        std::string stream_id;
        uint32_t component_id;
        std::string connection_id;
    };
    std::optional<DtlsConnection> dtls_connection() const {
        const char *stream = nullptr, *connection = nullptr;
        uint32_t component = 0;
        if (mf_event_dtls_ids(e_, &stream, &component, &connection) != MF_RESULT_OK) return std::nullopt;
        return DtlsConnection{stream, component, connection};
    }

    // ElementConnected, ElementDisconnected: sink, media_type, source/sink media descriptions.
    /// Object id of the sink element.
    std::optional<std::string> sink() const { return text(mf_event_sink); }
    std::optional<std::string> source_media_description() const {
        const char *d = nullptr;
        if (mf_event_media_descriptions(e_, &d, nullptr) != MF_RESULT_OK) return std::nullopt;
        return std::string(d);
    }
    std::optional<std::string> sink_media_description() const {
        const char *d = nullptr;
        if (mf_event_media_descriptions(e_, nullptr, &d) != MF_RESULT_OK) return std::nullopt;
        return std::string(d);
    }

    // Error: description, error_code, type.
    struct ErrorInfo {
        std::string description;
        int32_t error_code;
        mf_error_type error_type;
        /// Kurento's `type` string ("UNEXPECTED_ELEMENT_ERROR"...).
        std::string type_string;
    };
    std::optional<ErrorInfo> error() const {
        const char *t = nullptr, *d = nullptr;
        int32_t code = 0;
        mf_error_type kind;
        if (mf_event_error(e_, &t, &d, &code) != MF_RESULT_OK || mf_event_error_type(e_, &kind) != MF_RESULT_OK)
            return std::nullopt;
        return ErrorInfo{d, code, kind, t};
    }

    // DataChannelOpened, DataChannelClosed: channel_id (the SCTP stream id).
    std::optional<uint16_t> channel_id() const {
        uint16_t id = 0;
        return mf_event_channel_id(e_, &id) == MF_RESULT_OK ? std::optional(id) : std::nullopt;
    }

private:
    std::optional<std::string> text(mf_result (*get)(const mf_event *, const char **)) const {
        const char *s = nullptr;
        if (get(e_, &s) != MF_RESULT_OK) return std::nullopt;
        return std::string(s);
    }

    const mf_event *e_;
};

using Handler = std::function<void(const Event &)>;

class Pipeline;

/// Any element; WebRtcEndpoint and AppSource add their own calls.
class Element {
public:
    Element(Element &&) noexcept = default;
    Element &operator=(Element &&) noexcept = default;
    ~Element() {
        if (!e_) return;
        for (auto &h : handlers_) mf_element_unsubscribe(e_.get(), h.first);
    }

    mf_element *raw() const noexcept { return e_.get(); }
    std::string id() const {
        char *s = nullptr;
        detail::check(mf_element_id(raw(), &s));
        return detail::take(s);
    }
    void connect(const Element &sink, mf_media_type media = MF_MEDIA_ALL) const {
        detail::check(mf_element_connect(raw(), sink.raw(), media));
    }
    void disconnect(const Element &sink, mf_media_type media = MF_MEDIA_ALL) const {
        detail::check(mf_element_disconnect(raw(), sink.raw(), media));
    }
    void release() const { detail::check(mf_element_release(raw())); }
    /// Sets a tag (Kurento's addTag); an existing key is replaced.
    void add_tag(const std::string &key, const std::string &value) const {
        detail::check(mf_element_add_tag(raw(), key.c_str(), value.c_str()));
    }
    /// Whether this element's events carry its tags (Kurento's sendTagsInEvents).
    void set_send_tags_in_events(bool send) const { detail::check(mf_element_set_send_tags_in_events(raw(), send)); }

    /// Calls `handler` for every event of this element until the Element is destroyed.
    void on_event(Handler handler) {
        auto boxed = std::make_unique<Handler>(std::move(handler));
        uint64_t id = 0;
        detail::check(mf_element_subscribe(raw(), &Element::trampoline, boxed.get(), &id));
        handlers_.emplace_back(id, std::move(boxed));
    }

protected:
    Element(std::shared_ptr<mf_pipeline> pipeline, mf_element *e) : pipeline_(std::move(pipeline)), e_(e) {}
    /// A counter read through one of the C ABI's `mf_*_frames`-style getters.
    uint64_t counter(mf_result (*get)(const mf_element *, uint64_t *)) const {
        uint64_t n = 0;
        detail::check(get(raw(), &n));
        return n;
    }

private:
    static void trampoline(const mf_event *event, void *user_data) {
        try {
            (*static_cast<Handler *>(user_data))(Event(event));
        } catch (...) {
            // An exception must not cross into the C library's thread.
        }
    }

    std::shared_ptr<mf_pipeline> pipeline_;
    std::unique_ptr<mf_element, detail::ElementDeleter> e_;
    std::vector<std::pair<uint64_t, std::unique_ptr<Handler>>> handlers_;
    friend class Pipeline;
};

class PassThrough : public Element {
    using Element::Element;
    friend class Pipeline;
};

class AppSource : public Element {
public:
    /// Pushes one buffer (copied); `codec` is an SDP mime type like "video/VP8".
    void push(mf_media_type media, const std::string &codec, const uint8_t *data, size_t len, bool keyframe) const {
        detail::check(mf_app_source_push(raw(), media, codec.empty() ? nullptr : codec.c_str(), data, len, keyframe));
    }

private:
    using Element::Element;
    friend class Pipeline;
};

/// What every SdpEndpoint (WebRtcEndpoint, RtpEndpoint) negotiates with.
class SdpEndpoint : public Element {
public:
    std::string process_offer(const std::string &offer) const {
        char *answer = nullptr;
        detail::check(mf_sdp_endpoint_process_offer(raw(), offer.c_str(), &answer));
        return detail::take(answer);
    }
    /// Kurento's OfferOptions: a kind not asked to receive is offered sendonly.
    std::string generate_offer(bool offer_to_receive_audio = true,
                               bool offer_to_receive_video = true) const {
        char *offer = nullptr;
        detail::check(mf_sdp_endpoint_generate_offer_with(raw(), offer_to_receive_audio,
                                                          offer_to_receive_video, &offer));
        return detail::take(offer);
    }
    void process_answer(const std::string &answer) const {
        detail::check(mf_sdp_endpoint_process_answer(raw(), answer.c_str()));
    }
    /// Our SDP; empty before any offer or answer.
    std::optional<std::string> local_session_descriptor() const {
        char *sdp = nullptr;
        detail::check(mf_sdp_endpoint_get_local_session_descriptor(raw(), &sdp));
        return sdp ? std::optional(detail::take(sdp)) : std::nullopt;
    }
    /// The peer's SDP; empty before it came.
    std::optional<std::string> remote_session_descriptor() const {
        char *sdp = nullptr;
        detail::check(mf_sdp_endpoint_get_remote_session_descriptor(raw(), &sdp));
        return sdp ? std::optional(detail::take(sdp)) : std::nullopt;
    }

protected:
    using Element::Element;
};

class WebRtcEndpoint : public SdpEndpoint {
public:
    void gather_candidates() const { detail::check(mf_webrtc_gather_candidates(raw())); }
    void add_ice_candidate(const std::string &candidate, const std::string &sdp_mid, uint32_t index) const {
        detail::check(mf_webrtc_add_ice_candidate(raw(), candidate.c_str(), sdp_mid.c_str(), index));
    }
    /// RTP statistics as JSON text.
    std::string stats() const {
        char *json = nullptr;
        detail::check(mf_webrtc_get_stats(raw(), &json));
        return detail::take(json);
    }
    /// Creates a data channel (needs `use_data_channels` in the options and a negotiated
    /// data-channel section) and returns its id; DataChannelOpened follows. -1 bounds
    /// mean none (reliable); an empty protocol is none.
    uint16_t create_data_channel(const std::string &label, bool ordered = true,
                                 int32_t max_packet_life_time = -1, int32_t max_retransmits = -1,
                                 const std::string &protocol = std::string()) const {
        uint16_t id = 0;
        detail::check(mf_webrtc_create_data_channel(raw(), label.c_str(), ordered, max_packet_life_time,
                                                    max_retransmits, protocol.c_str(), &id));
        return id;
    }
    /// Closes data channel `channel_id`; DataChannelClosed follows.
    void close_data_channel(uint16_t channel_id) const { detail::check(mf_webrtc_close_data_channel(raw(), channel_id)); }

private:
    using SdpEndpoint::SdpEndpoint;
    friend class Pipeline;
};

/// Kurento's RtpEndpoint: plain RTP/AVP(F) or SDES-SRTP, negotiated with SDP.
class RtpEndpoint : public SdpEndpoint {
private:
    using SdpEndpoint::SdpEndpoint;
    friend class Pipeline;
};

/// Kurento's RecorderEndpoint: stores what reaches it in a WebM or Matroska file.
class RecorderEndpoint : public Element {
public:
    void record() const { detail::check(mf_recorder_record(raw())); }
    void pause() const { detail::check(mf_recorder_pause(raw())); }
    void stop() const { detail::check(mf_recorder_stop(raw())); }
    /// Stops and waits until the file is finalised (throws with MF_RESULT_TIMEOUT past
    /// `timeout_ms`).
    void stop_and_wait(uint32_t timeout_ms = 10000) const { detail::check(mf_recorder_stop_and_wait(raw(), timeout_ms)); }
    /// Frames dropped because the writer fell behind (a slow disk) or could not store them.
    uint64_t dropped_frames() const { return counter(mf_recorder_dropped_frames); }
    /// Video frames not stored while waiting for a keyframe (start, resume, loss).
    uint64_t skipped_frames() const { return counter(mf_recorder_skipped_frames); }

private:
    using Element::Element;
    friend class Pipeline;
};

/// Kurento's PlayerEndpoint: plays a WebM or Matroska file as RTP in real time.
/// EndOfStream follows the end of the file; a URI it cannot play is an Error event after
/// `play()`.
class PlayerEndpoint : public Element {
public:
    void play() const { detail::check(mf_player_play(raw())); }
    void pause() const { detail::check(mf_player_pause(raw())); }
    void stop() const { detail::check(mf_player_stop(raw())); }
    /// The position in the file, in milliseconds.
    uint64_t position() const {
        uint64_t ms = 0;
        detail::check(mf_player_get_position(raw(), &ms));
        return ms;
    }
    /// Seeks (to the video keyframe at or before `ms`) while playing or paused.
    void set_position(uint64_t ms) const { detail::check(mf_player_set_position(raw(), ms)); }
    /// Frames skipped for being larger than a frame can be (a corrupt or hostile file).
    uint64_t dropped_frames() const { return counter(mf_player_dropped_frames); }
    /// Keyframe requests from consumers (counted: a file cannot make a keyframe).
    uint64_t keyframe_requests() const { return counter(mf_player_keyframe_requests); }

private:
    using Element::Element;
    friend class Pipeline;
};

/// A media pipeline; elements are created from it.
class Pipeline {
public:
    Pipeline() {
        mf_pipeline *p = nullptr;
        detail::check(mf_pipeline_new(&p));
        p_ = std::shared_ptr<mf_pipeline>(p, detail::PipelineDeleter{});
    }
    mf_pipeline *raw() const noexcept { return p_.get(); }
    void release() const { detail::check(mf_pipeline_release(raw())); }

    PassThrough pass_through() const {
        mf_element *e = nullptr;
        detail::check(mf_passthrough_new(raw(), &e));
        return PassThrough(p_, e);
    }
    AppSource app_source() const {
        mf_element *e = nullptr;
        detail::check(mf_app_source_new(raw(), &e));
        return AppSource(p_, e);
    }
    WebRtcEndpoint webrtc_endpoint(const mf_webrtc_options *options = nullptr) const {
        mf_element *e = nullptr;
        detail::check(mf_webrtc_endpoint_new(raw(), options, &e));
        return WebRtcEndpoint(p_, e);
    }
    /// An RtpEndpoint; `options` may be null for the defaults.
    RtpEndpoint rtp_endpoint(const mf_rtp_options *options = nullptr) const {
        mf_element *e = nullptr;
        detail::check(mf_rtp_endpoint_new(raw(), options, &e));
        return RtpEndpoint(p_, e);
    }
    /// A RecorderEndpoint writing to `uri` (`file:///absolute/path.webm`).
    RecorderEndpoint recorder_endpoint(const std::string &uri, mf_media_profile profile = MF_MEDIA_PROFILE_WEBM) const {
        mf_element *e = nullptr;
        detail::check(mf_recorder_endpoint_new(raw(), uri.c_str(), profile, &e));
        return RecorderEndpoint(p_, e);
    }
    /// A PlayerEndpoint of `uri` (`file:///absolute/path.webm`, `http(s)://...`).
    PlayerEndpoint player_endpoint(const std::string &uri) const {
        mf_element *e = nullptr;
        detail::check(mf_player_endpoint_new(raw(), uri.c_str(), &e));
        return PlayerEndpoint(p_, e);
    }

private:
    std::shared_ptr<mf_pipeline> p_;
};

}  // namespace mediaflow

#endif  // MEDIAFLOW_HPP
