#define _POSIX_C_SOURCE 200809L
/*
 * Every field of every event through the C accessors, over one Hello World (an
 * endpoint connected to itself answering a second endpoint, both on 127.0.0.1) plus an
 * ElementDisconnected and, from a second call whose answer carries a wrong DTLS
 * fingerprint, an Error. Each event is checked as it arrives (its own fields, typed and
 * plausible; the others answer MF_RESULT_NO_SUCH_FIELD) and the pairs are checked at
 * the end against the candidates announced: the local one must be an IceCandidateFound
 * line of the same endpoint, the remote one a line the peer announced (or a prflx with
 * a non-zero priority). Exits 0 when all 13 kinds were seen and nothing failed.
 */
#include <pthread.h>
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

#define KINDS 13
#define MAX_LINES 64

static const char *const NAMES[KINDS] = {
    "Error", "ElementConnected", "ElementDisconnected", "MediaFlowInStateChanged",
    "MediaFlowOutStateChanged", "MediaTranscodingStateChanged", "MediaStateChanged",
    "ConnectionStateChanged", "IceCandidateFound", "IceGatheringDone",
    "IceComponentStateChanged", "NewCandidatePairSelected", "DtlsConnectionStateChange",
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int failures;
static atomic_int seen[KINDS];
static uint64_t started_ms;

#define EXPECT(cond, ...)                                                            \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "FAILED %s:%d: %s: ", __FILE__, __LINE__, #cond);         \
            fprintf(stderr, __VA_ARGS__);                                            \
            fprintf(stderr, "\n");                                                   \
            atomic_fetch_add(&failures, 1);                                          \
        }                                                                            \
    } while (0)

struct lines {
    char *line[MAX_LINES];
    int n;
};

static void keep(struct lines *l, const char *s) {
    pthread_mutex_lock(&lock);
    if (l->n < MAX_LINES) l->line[l->n++] = strdup(s);
    pthread_mutex_unlock(&lock);
}

static int contains(struct lines *l, const char *s) {
    int found = 0;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < l->n && !found; i++) found = strcmp(l->line[i], s) == 0;
    pthread_mutex_unlock(&lock);
    return found;
}

static void drop(struct lines *l) {
    for (int i = 0; i < l->n; i++) free(l->line[i]);
    l->n = 0;
}

/* One subscribed element: what it is, what it announced and what it reached. */
struct peer {
    const char *name;
    char *id;
    mf_element *self;
    mf_element *other;     /* where its candidates go (endpoints), else NULL */
    const char *tag_value; /* its tag "room" when it sends tags in events, else NULL */
    struct lines found;    /* IceCandidateFound lines */
    struct lines locals, remotes; /* NewCandidatePairSelected's candidates */
    struct peer *peer;     /* the other endpoint of its call */
    struct peer *sink;     /* the one element it links to, if any */
    const char *error_says; /* what its Error's description must mention, if any */
    atomic_int ice_connected, ice_after_pair_ok, pair_seen, dtls_connected, dtls_failed,
        connected, media_connected, flow_in, flow_out, not_transcoding, disconnected, errors;
};

static uint64_t now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

static int valid_media(enum mf_media_type m) {
    return m == MF_MEDIA_AUDIO || m == MF_MEDIA_VIDEO || m == MF_MEDIA_DATA;
}

/* The accessors of kinds an event is not answer MF_RESULT_NO_SUCH_FIELD. */
static void expect_no_other_fields(const mf_event *event, enum mf_event_type type) {
    const char *s;
    uint32_t u;
    int i;
    enum mf_result none = MF_RESULT_NO_SUCH_FIELD;
    if (type != MF_EVENT_ICE_CANDIDATE_FOUND) EXPECT(mf_event_candidate(event, &s, &s, &u) == none, "candidate");
    if (type != MF_EVENT_NEW_CANDIDATE_PAIR_SELECTED) {
        EXPECT(mf_event_candidate_pair(event, &s, &s) == none, "candidate_pair");
        EXPECT(mf_event_candidate_pair_ids(event, &s, &u) == none, "candidate_pair_ids");
    }
    if (type != MF_EVENT_ICE_COMPONENT_STATE_CHANGED) {
        enum mf_ice_component_state st;
        EXPECT(mf_event_ice_component_state(event, &st) == none, "ice state");
        EXPECT(mf_event_ice_component_ids(event, &u, &u) == none, "ice ids");
    }
    if (type != MF_EVENT_DTLS_CONNECTION_STATE_CHANGE) {
        enum mf_dtls_state st;
        EXPECT(mf_event_dtls_state(event, &st) == none, "dtls state");
        EXPECT(mf_event_dtls_ids(event, &s, &u, &s) == none, "dtls ids");
    }
    if (type != MF_EVENT_ERROR) {
        enum mf_error_type et;
        EXPECT(mf_event_error(event, &s, &s, &i) == none, "error");
        EXPECT(mf_event_error_type(event, &et) == none, "error type");
    }
    if (type != MF_EVENT_ELEMENT_CONNECTED && type != MF_EVENT_ELEMENT_DISCONNECTED) {
        EXPECT(mf_event_sink(event, &s) == none, "sink");
        EXPECT(mf_event_media_descriptions(event, &s, &s) == none, "descriptions");
    }
    if (type != MF_EVENT_MEDIA_FLOW_IN_STATE_CHANGED && type != MF_EVENT_MEDIA_FLOW_OUT_STATE_CHANGED) {
        enum mf_media_flow_state st;
        EXPECT(mf_event_flow_state(event, &st) == none, "flow state");
        EXPECT(mf_event_pad_name(event, &s) == none, "pad name");
    }
    if (type != MF_EVENT_MEDIA_TRANSCODING_STATE_CHANGED) {
        enum mf_transcoding_state st;
        EXPECT(mf_event_transcoding_state(event, &st, &s) == none, "transcoding");
    }
    if (type != MF_EVENT_MEDIA_STATE_CHANGED && type != MF_EVENT_CONNECTION_STATE_CHANGED) {
        enum mf_connection_state a, b;
        EXPECT(mf_event_connection_state(event, &a, &b) == none, "connection state");
    }
    int has_media = type == MF_EVENT_MEDIA_FLOW_IN_STATE_CHANGED || type == MF_EVENT_MEDIA_FLOW_OUT_STATE_CHANGED ||
                    type == MF_EVENT_MEDIA_TRANSCODING_STATE_CHANGED || type == MF_EVENT_ELEMENT_CONNECTED ||
                    type == MF_EVENT_ELEMENT_DISCONNECTED;
    if (!has_media) {
        enum mf_media_type m;
        EXPECT(mf_event_media_type(event, &m) == none, "media type");
    }
}

static void on_event(const mf_event *event, void *user_data) {
    struct peer *p = user_data;
    enum mf_event_type type = mf_event_get_type(event);
    EXPECT((int)type >= 0 && (int)type < KINDS, "type %d", (int)type);
    if ((int)type < 0 || (int)type >= KINDS) return;
    atomic_fetch_add(&seen[type], 1);
    const char *name = mf_event_type_name(event);

    /* Common fields: type, source, timestampMillis, tags. */
    EXPECT(strcmp(name, NAMES[type]) == 0, "%s for type %d", name, (int)type);
    EXPECT(strcmp(mf_event_source(event), p->id) == 0, "%s source %s, not %s", name, mf_event_source(event), p->id);
    uint64_t ts = mf_event_timestamp_millis(event);
    EXPECT(ts + 2000 >= started_ms && ts <= now_ms() + 2000, "%s timestamp %llu", name, (unsigned long long)ts);
    size_t tags = mf_event_tag_count(event);
    if (p->tag_value) {
        const char *key = NULL, *value = NULL;
        EXPECT(tags == 1, "%s on %s carries %zu tags", name, p->name, tags);
        if (tags == 1) {
            CHECK(mf_event_tag(event, 0, &key, &value));
            EXPECT(strcmp(key, "room") == 0 && strcmp(value, p->tag_value) == 0, "tag %s=%s", key, value);
        }
    } else {
        EXPECT(tags == 0, "%s on %s (no send-tags) carries %zu tags", name, p->name, tags);
    }
    const char *k, *v;
    EXPECT(mf_event_tag(event, tags, &k, &v) == MF_RESULT_INVALID_ARGUMENT, "tag past the end");
    expect_no_other_fields(event, type);
    printf("[%s] %s", p->name, name);

    switch (type) {
    case MF_EVENT_ICE_CANDIDATE_FOUND: {
        const char *candidate = NULL, *mid = NULL;
        uint32_t index = 99;
        CHECK(mf_event_candidate(event, &candidate, &mid, &index));
        printf(" %s mid=%s index=%u", candidate, mid, index);
        EXPECT(strncmp(candidate, "candidate:", 10) == 0 && strstr(candidate, " 127.0.0.1 "), "%s", candidate);
        EXPECT(mid[0] != '\0' && index < 2, "mid %s index %u", mid, index);
        keep(&p->found, candidate);
        CHECK(mf_webrtc_add_ice_candidate(p->other, candidate, mid, index));
        break;
    }
    case MF_EVENT_ICE_GATHERING_DONE:
        break;
    case MF_EVENT_ICE_COMPONENT_STATE_CHANGED: {
        enum mf_ice_component_state state;
        uint32_t stream = 0, component = 0;
        CHECK(mf_event_ice_component_state(event, &state));
        CHECK(mf_event_ice_component_ids(event, &stream, &component));
        printf(" state=%d stream=%u component=%u", (int)state, stream, component);
        EXPECT(state >= MF_ICE_DISCONNECTED && state <= MF_ICE_FAILED, "ice state %d", (int)state);
        EXPECT(stream == 1 && component == 1, "stream %u component %u", stream, component);
        if (state == MF_ICE_CONNECTED && !atomic_exchange(&p->ice_connected, 1))
            atomic_store(&p->ice_after_pair_ok, atomic_load(&p->pair_seen)); /* the seed's order */
        break;
    }
    case MF_EVENT_NEW_CANDIDATE_PAIR_SELECTED: {
        const char *local = NULL, *remote = NULL, *stream = NULL;
        uint32_t component = 0;
        CHECK(mf_event_candidate_pair(event, &local, &remote));
        CHECK(mf_event_candidate_pair_ids(event, &stream, &component));
        printf(" stream=%s component=%u local=%s remote=%s", stream, component, local, remote);
        EXPECT(strcmp(stream, "1") == 0 && component == 1, "stream %s component %u", stream, component);
        keep(&p->locals, local);
        keep(&p->remotes, remote);
        atomic_store(&p->pair_seen, 1);
        break;
    }
    case MF_EVENT_DTLS_CONNECTION_STATE_CHANGE: {
        enum mf_dtls_state state;
        const char *stream = NULL, *connection = NULL;
        uint32_t component = 0;
        CHECK(mf_event_dtls_state(event, &state));
        CHECK(mf_event_dtls_ids(event, &stream, &component, &connection));
        printf(" state=%d stream=%s component=%u connection=%s", (int)state, stream, component, connection);
        EXPECT(state >= MF_DTLS_NEW && state <= MF_DTLS_FAILED, "dtls state %d", (int)state);
        EXPECT(strcmp(stream, "1") == 0 && component == 1 && connection[0] != '\0', "dtls ids");
        if (state == MF_DTLS_CONNECTED) atomic_store(&p->dtls_connected, 1);
        if (state == MF_DTLS_FAILED) atomic_store(&p->dtls_failed, 1);
        break;
    }
    case MF_EVENT_CONNECTION_STATE_CHANGED:
    case MF_EVENT_MEDIA_STATE_CHANGED: {
        enum mf_connection_state old_state = 9, new_state = 9;
        CHECK(mf_event_connection_state(event, &old_state, &new_state));
        printf(" old=%d new=%d", (int)old_state, (int)new_state);
        EXPECT((old_state == MF_DISCONNECTED || old_state == MF_CONNECTED) &&
                   (new_state == MF_DISCONNECTED || new_state == MF_CONNECTED) && old_state != new_state,
               "old %d new %d", (int)old_state, (int)new_state);
        if (new_state == MF_CONNECTED)
            atomic_store(type == MF_EVENT_CONNECTION_STATE_CHANGED ? &p->connected : &p->media_connected, 1);
        break;
    }
    case MF_EVENT_MEDIA_FLOW_IN_STATE_CHANGED:
    case MF_EVENT_MEDIA_FLOW_OUT_STATE_CHANGED: {
        enum mf_media_flow_state state = 9;
        enum mf_media_type media = 9;
        const char *pad = NULL;
        CHECK(mf_event_flow_state(event, &state));
        CHECK(mf_event_media_type(event, &media));
        CHECK(mf_event_pad_name(event, &pad));
        printf(" state=%d media=%d pad=%s", (int)state, (int)media, pad);
        EXPECT(state == MF_FLOWING || state == MF_NOT_FLOWING, "flow state %d", (int)state);
        EXPECT(valid_media(media) && pad[0] != '\0', "media %d pad %s", (int)media, pad);
        if (state == MF_FLOWING && media == MF_MEDIA_VIDEO)
            atomic_store(type == MF_EVENT_MEDIA_FLOW_IN_STATE_CHANGED ? &p->flow_in : &p->flow_out, 1);
        break;
    }
    case MF_EVENT_MEDIA_TRANSCODING_STATE_CHANGED: {
        enum mf_transcoding_state state = 9;
        enum mf_media_type media = 9;
        const char *bin = NULL;
        CHECK(mf_event_transcoding_state(event, &state, &bin));
        CHECK(mf_event_media_type(event, &media));
        printf(" state=%d media=%d bin=%s", (int)state, (int)media, bin);
        EXPECT(state == MF_TRANSCODING || state == MF_NOT_TRANSCODING, "transcoding state %d", (int)state);
        EXPECT(valid_media(media) && bin[0] != '\0', "media %d bin %s", (int)media, bin);
        /* VP8 in, VP8 negotiated: nothing to convert in a Hello World. */
        EXPECT(state == MF_NOT_TRANSCODING, "transcoding in a VP8 Hello World");
        atomic_store(&p->not_transcoding, 1);
        break;
    }
    case MF_EVENT_ELEMENT_CONNECTED:
    case MF_EVENT_ELEMENT_DISCONNECTED: {
        const char *sink = NULL, *source_desc = NULL, *sink_desc = NULL;
        enum mf_media_type media = 9;
        CHECK(mf_event_sink(event, &sink));
        CHECK(mf_event_media_type(event, &media));
        CHECK(mf_event_media_descriptions(event, &source_desc, &sink_desc));
        printf(" sink=%s media=%d source_desc=%s sink_desc=%s", sink, (int)media, source_desc, sink_desc);
        EXPECT(valid_media(media), "media %d", (int)media);
        EXPECT(source_desc[0] != '\0' && sink_desc[0] != '\0', "descriptions");
        /* Each element here links to exactly one sink. */
        EXPECT(p->sink && strcmp(sink, p->sink->id) == 0, "%s's sink %s", p->name, sink);
        if (type == MF_EVENT_ELEMENT_DISCONNECTED) atomic_store(&p->disconnected, 1);
        break;
    }
    case MF_EVENT_RECORDING:
    case MF_EVENT_PAUSED:
    case MF_EVENT_STOPPED:
        /* A RecorderEndpoint's (tests/recorder.rs checks them): none in a Hello World. */
        EXPECT(0, "recorder event %d in a Hello World", (int)type);
        break;
    case MF_EVENT_DATA_CHANNEL_OPENED:
    case MF_EVENT_DATA_CHANNEL_CLOSED: {
        /* Endpoints without use_data_channels (browser.rs checks them): none here. */
        uint16_t channel_id = 0;
        CHECK(mf_event_channel_id(event, &channel_id));
        EXPECT(0, "data channel event %d (channel %u) in a Hello World", (int)type, (unsigned)channel_id);
        break;
    }
    case MF_EVENT_END_OF_STREAM:
        /* A PlayerEndpoint's (tests/player.rs checks it): none in a Hello World. */
        EXPECT(0, "player event %d in a Hello World", (int)type);
        break;
    case MF_EVENT_ERROR: {
        const char *kind = NULL, *description = NULL;
        int32_t code = -1;
        enum mf_error_type error_type = 99;
        CHECK(mf_event_error(event, &kind, &description, &code));
        CHECK(mf_event_error_type(event, &error_type));
        printf(" type=%s (%d) code=%d description=%s", kind, (int)error_type, code, description);
        EXPECT(strcmp(kind, "UNEXPECTED_ELEMENT_ERROR") == 0 && error_type == MF_ERROR_UNEXPECTED_ELEMENT_ERROR,
               "error type %s %d", kind, (int)error_type);
        EXPECT(description[0] != '\0', "empty description");
        EXPECT(!p->error_says || strstr(description, p->error_says), "%s: %s", p->name, description);
        EXPECT(code >= 0, "code %d", code);
        atomic_store(&p->errors, 1);
        break;
    }
    }
    printf("\n");
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

static void subscribe(struct peer *p, uint64_t *sub) {
    CHECK(mf_element_id(p->self, &p->id));
    CHECK(mf_element_subscribe(p->self, on_event, p, sub));
}

/* The priority of a `candidate:` line (its fourth token), 0 if unreadable. */
static unsigned long priority(const char *line) {
    char foundation[64], transport[16];
    unsigned component;
    unsigned long prio = 0;
    return sscanf(line, "candidate:%63s %u %15s %lu", foundation, &component, transport, &prio) == 4 ? prio : 0;
}

/* Each selected pair: local announced by this endpoint, remote by its peer (or prflx). */
static void check_pairs(struct peer *p) {
    EXPECT(p->locals.n > 0, "%s selected no pair", p->name);
    for (int i = 0; i < p->locals.n; i++) {
        const char *local = p->locals.line[i], *remote = p->remotes.line[i];
        EXPECT(contains(&p->found, local), "%s's pair local %s is no IceCandidateFound line", p->name, local);
        EXPECT(contains(&p->peer->found, remote) || (strstr(remote, " typ prflx") && priority(remote) > 0),
               "%s's pair remote %s was not announced by the peer", p->name, remote);
    }
    EXPECT(atomic_load(&p->ice_after_pair_ok), "%s: ICE Connected before NewCandidatePairSelected", p->name);
}

int main(void) {
    printf("mediaflow %s\n", MEDIAFLOW_VERSION);
    started_ms = now_ms();
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

    /* Each element's one link: the loopback to itself, the camera into the offerer,
     * the offerer out to the screen. */
    static struct peer o = {.name = "offerer"}, l = {.name = "loopback", .tag_value = "hello"},
                       c = {.name = "camera"}, s = {.name = "screen"};
    o.self = offerer, o.other = loopback, o.peer = &l, o.sink = &s;
    l.self = loopback, l.other = offerer, l.peer = &o, l.sink = &l;
    c.self = camera, c.sink = &o;
    s.self = screen;
    uint64_t subs[4];
    subscribe(&o, &subs[0]);
    subscribe(&l, &subs[1]);
    subscribe(&c, &subs[2]);
    subscribe(&s, &subs[3]);

    /* The Hello World pipeline, subscribed first so ElementConnected is seen. */
    CHECK(mf_element_connect(loopback, loopback, MF_MEDIA_ALL));
    CHECK(mf_element_connect(camera, offerer, MF_MEDIA_VIDEO));
    CHECK(mf_element_connect(offerer, screen, MF_MEDIA_VIDEO));

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
    int walked = 0;
    uint64_t deadline = now_ms() + 150 * 1000; /* valgrind is slow */
    for (uint16_t seq = 0; now_ms() < deadline; seq++) {
        size_t len = vp8_packet(packet, seq);
        CHECK(mf_app_source_push(camera, MF_MEDIA_VIDEO, "video/VP8", packet, len, seq % 30 == 0));
        walked = atomic_load(&o.flow_out) && atomic_load(&l.flow_in) && atomic_load(&l.flow_out) &&
                 atomic_load(&l.media_connected) && atomic_load(&l.connected) && atomic_load(&l.dtls_connected) &&
                 atomic_load(&l.ice_connected) && atomic_load(&o.ice_connected) && atomic_load(&c.not_transcoding) &&
                 atomic_load(&seen[MF_EVENT_ICE_GATHERING_DONE]) >= 2 && atomic_load(&s.flow_in);
        if (walked) break;
        nanosleep(&tick, NULL);
    }
    EXPECT(walked, "the Hello World did not raise every event (offerer flow out %d, loopback media %d)",
           atomic_load(&o.flow_out), atomic_load(&l.media_connected));

    /* ElementDisconnected: the camera leaves the offerer. */
    CHECK(mf_element_disconnect(camera, offerer, MF_MEDIA_VIDEO));

    /* An Error: a second call whose answer names another certificate. */
    mf_element *bad_offerer = NULL, *bad_answerer = NULL;
    CHECK(mf_webrtc_endpoint_new(pipeline, &options, &bad_offerer));
    CHECK(mf_webrtc_endpoint_new(pipeline, &options, &bad_answerer));
    /* The offerer checks the answerer's certificate against the tampered answer. */
    static struct peer bo = {.name = "bad-offerer", .error_says = "fingerprint"}, ba = {.name = "bad-answerer"};
    bo.self = bad_offerer, bo.other = bad_answerer, bo.peer = &ba;
    ba.self = bad_answerer, ba.other = bad_offerer, ba.peer = &bo;
    uint64_t bad_subs[2];
    subscribe(&bo, &bad_subs[0]);
    subscribe(&ba, &bad_subs[1]);
    CHECK(mf_webrtc_generate_offer(bad_offerer, &offer));
    CHECK(mf_webrtc_process_offer(bad_answerer, offer, &answer));
    char *at = strstr(answer, "a=fingerprint:sha-256 ");
    if (!at) {
        fprintf(stderr, "no fingerprint in the answer\n");
        return 1;
    }
    at += strlen("a=fingerprint:sha-256 ");
    *at = *at == 'A' ? 'B' : 'A';
    CHECK(mf_webrtc_process_answer(bad_offerer, answer));
    mf_string_free(offer);
    mf_string_free(answer);
    CHECK(mf_webrtc_gather_candidates(bad_answerer));
    CHECK(mf_webrtc_gather_candidates(bad_offerer));
    deadline = now_ms() + 120 * 1000;
    while (now_ms() < deadline &&
           !(atomic_load(&bo.errors) && atomic_load(&bo.dtls_failed) && atomic_load(&c.disconnected)))
        nanosleep(&tick, NULL);
    EXPECT(atomic_load(&bo.errors), "no Error event from the wrong fingerprint");
    EXPECT(atomic_load(&bo.dtls_failed), "no DTLS Failed from the wrong fingerprint");
    EXPECT(atomic_load(&c.disconnected), "no ElementDisconnected from the camera");

    /* NULL events: accessors refuse them, the plain getters give neutral values. */
    const char *str;
    EXPECT(mf_event_pad_name(NULL, &str) == MF_RESULT_NULL_ARGUMENT, "NULL event");
    EXPECT(mf_event_dtls_ids(NULL, &str, NULL, NULL) == MF_RESULT_NULL_ARGUMENT, "NULL event");
    EXPECT(mf_event_timestamp_millis(NULL) == 0 && mf_event_tag_count(NULL) == 0, "NULL event");

    for (int i = 0; i < 4; i++)
        CHECK(mf_element_unsubscribe((mf_element *[]){offerer, loopback, camera, screen}[i], subs[i]));
    CHECK(mf_element_unsubscribe(bad_offerer, bad_subs[0]));
    CHECK(mf_element_unsubscribe(bad_answerer, bad_subs[1]));
    /* No callback runs any more: the pairs against the candidates announced. */
    check_pairs(&o);
    check_pairs(&l);
    CHECK(mf_pipeline_release(pipeline));
    mf_element *all[] = {offerer, loopback, camera, screen, bad_offerer, bad_answerer};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) mf_element_free(all[i]);
    mf_pipeline_free(pipeline);

    int kinds = 0;
    for (int i = 0; i < KINDS; i++) {
        if (atomic_load(&seen[i]) > 0) kinds++;
        else fprintf(stderr, "no %s event\n", NAMES[i]);
    }
    struct peer *peers[] = {&o, &l, &c, &s, &bo, &ba};
    for (size_t i = 0; i < sizeof peers / sizeof *peers; i++) {
        drop(&peers[i]->found);
        drop(&peers[i]->locals);
        drop(&peers[i]->remotes);
        mf_string_free(peers[i]->id);
    }
    int ok = kinds == KINDS && atomic_load(&failures) == 0;
    printf("%s: %d of %d event kinds seen, every field read; %d failed checks\n", ok ? "PASS" : "FAIL", kinds, KINDS,
           atomic_load(&failures));
    return ok ? 0 : 1;
}
