#define _POSIX_C_SOURCE 200809L
/*
 * Kurento's Hello World through the C ABI: a WebRtcEndpoint connected to itself
 * answers the offer of a second endpoint (also created through the C API); candidates
 * trickle both ways from the event callbacks; video pushed into the offerer must come
 * back through the loop. Exits 0 only after MediaFlowOut(VIDEO) Flowing on the offerer,
 * i.e. media came back from the network into the offerer's pipeline.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mediaflow.h"

#define CHECK(call)                                                                  \
    do {                                                                             \
        enum mf_result r_ = (call);                                                  \
        if (r_ != MF_RESULT_OK) {                                                    \
            char detail_[512];                                                       \
            mf_last_error(detail_, sizeof detail_);                                  \
            fprintf(stderr, "%s:%d: %s: %s (%s)\n", __FILE__, __LINE__, #call,        \
                    mf_result_message(r_), detail_);                                 \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)

struct peer {
    const char *name;
    mf_element *self;
    mf_element *other; /* where this peer's candidates go */
    atomic_int events_seen[13];
};

static atomic_int flowed_back;
static atomic_int tagged_events;

static void on_event(const mf_event *event, void *user_data) {
    struct peer *peer = user_data;
    enum mf_event_type type = mf_event_get_type(event);
    if ((int)type >= 0 && (int)type < 13) atomic_fetch_add(&peer->events_seen[type], 1);
    for (size_t i = 0; i < mf_event_tag_count(event); i++) {
        const char *key, *value;
        CHECK(mf_event_tag(event, i, &key, &value));
        if (strcmp(key, "room") == 0 && strcmp(value, "hello") == 0) atomic_fetch_add(&tagged_events, 1);
    }
    printf("[%s] %s from %s\n", peer->name, mf_event_type_name(event), mf_event_source(event));

    if (type == MF_EVENT_ICE_CANDIDATE_FOUND) {
        const char *candidate, *mid;
        uint32_t index;
        CHECK(mf_event_candidate(event, &candidate, &mid, &index));
        /* Calling back into the API from the event thread is allowed. */
        CHECK(mf_webrtc_add_ice_candidate(peer->other, candidate, mid, index));
    } else if (type == MF_EVENT_MEDIA_FLOW_OUT_STATE_CHANGED && strcmp(peer->name, "offerer") == 0) {
        enum mf_media_type media;
        enum mf_media_flow_state state;
        CHECK(mf_event_media_type(event, &media));
        CHECK(mf_event_flow_state(event, &state));
        if (media == MF_MEDIA_VIDEO && state == MF_FLOWING) atomic_store(&flowed_back, 1);
    } else if (type == MF_EVENT_ICE_COMPONENT_STATE_CHANGED) {
        enum mf_ice_component_state state;
        CHECK(mf_event_ice_component_state(event, &state));
        printf("[%s]   ice state %d\n", peer->name, (int)state);
    } else if (type == MF_EVENT_NEW_CANDIDATE_PAIR_SELECTED) {
        const char *local, *remote;
        CHECK(mf_event_candidate_pair(event, &local, &remote));
        printf("[%s]   pair %s <-> %s\n", peer->name, local, remote);
    } else if (type == MF_EVENT_ERROR) {
        const char *kind, *description;
        int32_t code;
        CHECK(mf_event_error(event, &kind, &description, &code));
        fprintf(stderr, "[%s] error %s: %s\n", peer->name, kind, description);
    }
}

/* A VP8 RTP packet: payload type 96, a keyframe every 30. */
static size_t vp8_packet(uint8_t *p, uint16_t seq) {
    uint32_t ts = (uint32_t)seq * 3000u, ssrc = 0x0badcafe;
    size_t n = 0;
    p[n++] = 0x80;
    p[n++] = 96;
    p[n++] = seq >> 8;
    p[n++] = seq & 0xff;
    for (int i = 3; i >= 0; i--) p[n++] = (ts >> (8 * i)) & 0xff;
    for (int i = 3; i >= 0; i--) p[n++] = (ssrc >> (8 * i)) & 0xff;
    p[n++] = 0x10;
    p[n++] = (seq % 30 == 0) ? 0x00 : 0x01;
    p[n++] = 0x9d;
    p[n++] = 0x01;
    p[n++] = 0x2a;
    memset(p + n, 0xab, 100);
    return n + 100;
}

int main(void) {
    printf("mediaflow %s\n", MEDIAFLOW_VERSION);
    mf_pipeline *pipeline = NULL;
    CHECK(mf_pipeline_new(&pipeline));

    mf_webrtc_options options = {0};
    options.network_interfaces = "lo";
    mf_element *offerer = NULL, *loopback = NULL, *camera = NULL, *screen = NULL;
    CHECK(mf_webrtc_endpoint_new(pipeline, &options, &offerer));
    CHECK(mf_webrtc_endpoint_new(pipeline, &options, &loopback));
    CHECK(mf_app_source_new(pipeline, &camera));
    CHECK(mf_app_sink_new(pipeline, 0, &screen));
    CHECK(mf_element_add_tag(loopback, "room", "hello"));
    CHECK(mf_element_set_send_tags_in_events(loopback, true));

    /* The Hello World pipeline: the answering endpoint connected to itself. */
    CHECK(mf_element_connect(loopback, loopback, MF_MEDIA_ALL));
    CHECK(mf_element_connect(camera, offerer, MF_MEDIA_VIDEO));
    CHECK(mf_element_connect(offerer, screen, MF_MEDIA_VIDEO)); /* what comes back */

    static struct peer offer_side = {.name = "offerer"}, answer_side = {.name = "loopback"};
    offer_side.self = offerer;
    offer_side.other = loopback;
    answer_side.self = loopback;
    answer_side.other = offerer;
    uint64_t sub_offer, sub_answer;
    CHECK(mf_element_subscribe(offerer, on_event, &offer_side, &sub_offer));
    CHECK(mf_element_subscribe(loopback, on_event, &answer_side, &sub_answer));

    char *offer = NULL, *answer = NULL;
    CHECK(mf_webrtc_generate_offer(offerer, &offer));
    CHECK(mf_webrtc_process_offer(loopback, offer, &answer));
    CHECK(mf_webrtc_process_answer(offerer, answer));
    mf_string_free(offer);
    mf_string_free(answer);
    CHECK(mf_webrtc_gather_candidates(loopback));
    CHECK(mf_webrtc_gather_candidates(offerer));

    uint8_t packet[256];
    struct timespec tick = {0, 10 * 1000 * 1000};
    int ok = 0;
    for (uint16_t seq = 0; seq < 3000; seq++) { /* at most 30 s */
        size_t len = vp8_packet(packet, seq);
        CHECK(mf_app_source_push(camera, MF_MEDIA_VIDEO, "video/VP8", packet, len, seq % 30 == 0));
        if (atomic_load(&flowed_back)) {
            ok = 1;
            break;
        }
        nanosleep(&tick, NULL);
    }

    /* The looped packets are in the AppSink: VP8 RTP with our payload. */
    uint8_t got[2048];
    size_t got_len = 0;
    enum mf_media_type got_media;
    bool got_key;
    CHECK(mf_app_sink_pull(screen, 5000, got, sizeof got, &got_len, &got_media, &got_key));
    if (got_media != MF_MEDIA_VIDEO || got_len < 20 || (got[0] >> 6) != 2 || got[got_len - 1] != 0xab) {
        fprintf(stderr, "the looped buffer is not our VP8 packet (%zu bytes)\n", got_len);
        ok = 0;
    }
    if (atomic_load(&tagged_events) == 0) {
        fprintf(stderr, "no event carried the loopback's tag\n");
        ok = 0;
    }

    char *stats = NULL;
    CHECK(mf_webrtc_get_stats(loopback, &stats));
    printf("loopback stats: %s\n", stats);
    mf_string_free(stats);

    CHECK(mf_element_unsubscribe(offerer, sub_offer));
    CHECK(mf_pipeline_release(pipeline));
    mf_element_free(camera);
    mf_element_free(screen);
    mf_element_free(offerer);
    mf_element_free(loopback);
    mf_pipeline_free(pipeline);

    int kinds = 0;
    for (int i = 0; i < 13; i++) kinds += atomic_load(&answer_side.events_seen[i]) > 0;
    printf("%s: media %s; the loopback endpoint raised %d kinds of events\n", ok ? "PASS" : "FAIL",
           ok ? "came back" : "did not come back", kinds);
    return ok ? 0 : 1;
}
