#define _GNU_SOURCE
/*
 * PlayerEndpoint and data channels through the C ABI. A real play: Debian's ffmpeg makes
 * a 1.2 s VP8 + Opus WebM, a PlayerEndpoint plays it into an AppSink, which must receive
 * video and audio RTP, and the player must raise EndOfStream (within 10 s). Then the
 * new calls' misuse answers (NULL, wrong element type, bad integers, released handles)
 * and the data-channel calls on an endpoint that negotiated none. Every wait is
 * bounded.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mediaflow.h"

static int failures;

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

#define EXPECT(call, want)                                                           \
    do {                                                                             \
        enum mf_result got_ = (call);                                                \
        if (got_ != (want)) {                                                        \
            fprintf(stderr, "FAIL %s: got %s, want %s\n", #call,                     \
                    mf_result_message(got_), mf_result_message(want));               \
            failures++;                                                              \
        } else {                                                                     \
            printf("ok   %-72s -> %s\n", #call, mf_result_message(got_));            \
        }                                                                            \
    } while (0)

struct seen {
    atomic_int end_of_stream, errors;
};

static void on_player_event(const mf_event *event, void *user_data) {
    struct seen *seen = user_data;
    switch (mf_event_get_type(event)) {
    case MF_EVENT_END_OF_STREAM: atomic_fetch_add(&seen->end_of_stream, 1); break;
    case MF_EVENT_ERROR: {
        const char *type, *description;
        int32_t code;
        if (mf_event_error(event, &type, &description, &code) == MF_RESULT_OK)
            fprintf(stderr, "player error %s: %s\n", type, description);
        atomic_fetch_add(&seen->errors, 1);
        break;
    }
    default: break;
    }
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

int main(void) {
    char dir[] = "/tmp/mf-c-player.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char path[256], cmd[768], uri[300];
    snprintf(path, sizeof path, "%s/in.webm", dir);
    snprintf(cmd, sizeof cmd,
             "timeout 60 ffmpeg -v error -y -f lavfi -i testsrc=size=160x120:rate=15 "
             "-f lavfi -i sine=frequency=440:sample_rate=48000 -t 1.2 -c:v libvpx "
             "-b:v 100k -g 5 -deadline realtime -c:a libopus %s",
             path);
    if (system(cmd) != 0) {
        fprintf(stderr, "ffmpeg could not make %s\n", path);
        return 1;
    }
    snprintf(uri, sizeof uri, "file://%s", path);

    mf_pipeline *pipeline = NULL;
    CHECK(mf_pipeline_new(&pipeline));
    mf_element *player = NULL, *sink = NULL;
    CHECK(mf_player_endpoint_new(pipeline, uri, &player));
    CHECK(mf_app_sink_new(pipeline, 4096, &sink));
    CHECK(mf_element_connect(player, sink, MF_MEDIA_ALL));
    struct seen seen = {0};
    CHECK(mf_element_subscribe(player, on_player_event, &seen, NULL));

    uint64_t position = 12345;
    CHECK(mf_player_get_position(player, &position));
    if (position != 0) {
        fprintf(stderr, "FAIL position before play: %llu\n", (unsigned long long)position);
        failures++;
    }
    CHECK(mf_player_play(player));
    /* Media reaches the sink: count video and audio RTP until EndOfStream (10 s). */
    int video = 0, audio = 0;
    uint8_t buf[2048];
    double deadline = now_s() + 10;
    while (now_s() < deadline) {
        size_t len = 0;
        enum mf_media_type media;
        enum mf_result r = mf_app_sink_pull(sink, 100, buf, sizeof buf, &len, &media, NULL);
        if (r == MF_RESULT_OK) {
            if (media == MF_MEDIA_VIDEO) video++;
            if (media == MF_MEDIA_AUDIO) audio++;
        } else if (r != MF_RESULT_TIMEOUT) {
            CHECK(r);
        }
        if (atomic_load(&seen.end_of_stream) > 0 && r == MF_RESULT_TIMEOUT) break;
    }
    printf("played: %d video and %d audio packets, EndOfStream %d, errors %d\n", video,
           audio, atomic_load(&seen.end_of_stream), atomic_load(&seen.errors));
    if (video < 10 || audio < 30 || atomic_load(&seen.end_of_stream) != 1 ||
        atomic_load(&seen.errors) != 0) {
        fprintf(stderr, "FAIL the file did not play through (want >= 10 video, >= 30 audio, "
                        "one EndOfStream, no Error)\n");
        failures++;
    }
    /* Play again, pause, seek, read the position back, stop. */
    CHECK(mf_player_play(player));
    sleep_ms(300);
    CHECK(mf_player_pause(player));
    CHECK(mf_player_set_position(player, 600));
    CHECK(mf_player_get_position(player, &position));
    if (position > 600) {
        fprintf(stderr, "FAIL position after seeking to 600 ms: %llu\n",
                (unsigned long long)position);
        failures++;
    }
    CHECK(mf_player_stop(player));
    CHECK(mf_player_get_position(player, &position));
    if (position != 0) {
        fprintf(stderr, "FAIL position after stop: %llu\n", (unsigned long long)position);
        failures++;
    }

    /* Misuse of the player calls. */
    mf_element *none = NULL;
    EXPECT(mf_player_endpoint_new(NULL, uri, &none), MF_RESULT_NULL_ARGUMENT);
    EXPECT(mf_player_endpoint_new(pipeline, NULL, &none), MF_RESULT_NULL_ARGUMENT);
    EXPECT(mf_player_endpoint_new(pipeline, uri, NULL), MF_RESULT_NULL_ARGUMENT);
    EXPECT(mf_player_endpoint_new(pipeline, "file:///\xff\xfe", &none), MF_RESULT_INVALID_UTF8);
    EXPECT(mf_player_play(NULL), MF_RESULT_NULL_ARGUMENT);
    EXPECT(mf_player_pause(NULL), MF_RESULT_NULL_ARGUMENT);
    EXPECT(mf_player_stop(NULL), MF_RESULT_NULL_ARGUMENT);
    EXPECT(mf_player_set_position(NULL, 0), MF_RESULT_NULL_ARGUMENT);
    EXPECT(mf_player_get_position(NULL, &position), MF_RESULT_NULL_ARGUMENT);
    EXPECT(mf_player_get_position(player, NULL), MF_RESULT_NULL_ARGUMENT);
    EXPECT(mf_player_play(sink), MF_RESULT_WRONG_ELEMENT_TYPE);
    EXPECT(mf_player_get_position(sink, &position), MF_RESULT_WRONG_ELEMENT_TYPE);
    EXPECT(mf_recorder_record(player), MF_RESULT_WRONG_ELEMENT_TYPE);
    /* A URI it cannot play: the call answers, an Error event follows. */
    mf_element *bad = NULL;
    struct seen bad_seen = {0};
    CHECK(mf_player_endpoint_new(pipeline, "rtsp://127.0.0.1/x", &bad));
    CHECK(mf_element_subscribe(bad, on_player_event, &bad_seen, NULL));
    EXPECT(mf_player_play(bad), MF_RESULT_OK);
    deadline = now_s() + 10;
    while (atomic_load(&bad_seen.errors) == 0 && now_s() < deadline) sleep_ms(20);
    if (atomic_load(&bad_seen.errors) != 1) {
        fprintf(stderr, "FAIL no Error event for an rtsp:// URI\n");
        failures++;
    }

    /* Data channels: the calls' checks, on an endpoint that negotiated nothing. */
    mf_webrtc_options options = {0};
    options.use_data_channels = true;
    mf_element *webrtc = NULL;
    CHECK(mf_webrtc_endpoint_new(pipeline, &options, &webrtc));
    uint16_t channel = 777;
    EXPECT(mf_webrtc_create_data_channel(webrtc, "chat", true, -1, -1, NULL, &channel),
           MF_RESULT_WRONG_STATE);
    EXPECT(mf_webrtc_create_data_channel(webrtc, NULL, true, -1, -1, NULL, &channel),
           MF_RESULT_NULL_ARGUMENT);
    EXPECT(mf_webrtc_create_data_channel(webrtc, "chat", true, -1, -1, NULL, NULL),
           MF_RESULT_NULL_ARGUMENT);
    EXPECT(mf_webrtc_create_data_channel(webrtc, "chat", true, -2, -1, NULL, &channel),
           MF_RESULT_INVALID_ARGUMENT);
    EXPECT(mf_webrtc_create_data_channel(webrtc, "chat", true, -1, 65536, "p", &channel),
           MF_RESULT_INVALID_ARGUMENT);
    EXPECT(mf_webrtc_create_data_channel(webrtc, "\xff", true, -1, -1, NULL, &channel),
           MF_RESULT_INVALID_UTF8);
    EXPECT(mf_webrtc_create_data_channel(player, "chat", true, -1, -1, NULL, &channel),
           MF_RESULT_WRONG_ELEMENT_TYPE);
    EXPECT(mf_webrtc_create_data_channel(NULL, "chat", true, -1, -1, NULL, &channel),
           MF_RESULT_NULL_ARGUMENT);
    if (channel != 777) {
        fprintf(stderr, "FAIL a failed create_data_channel wrote the id\n");
        failures++;
    }
    EXPECT(mf_webrtc_close_data_channel(webrtc, 0), MF_RESULT_WRONG_STATE);
    EXPECT(mf_webrtc_close_data_channel(player, 0), MF_RESULT_WRONG_ELEMENT_TYPE);
    EXPECT(mf_webrtc_close_data_channel(NULL, 0), MF_RESULT_NULL_ARGUMENT);

    /* Released handles. */
    CHECK(mf_element_release(player));
    EXPECT(mf_player_play(player), MF_RESULT_ELEMENT_RELEASED);
    EXPECT(mf_player_get_position(player, &position), MF_RESULT_ELEMENT_RELEASED);
    CHECK(mf_pipeline_release(pipeline));
    EXPECT(mf_player_endpoint_new(pipeline, uri, &none), MF_RESULT_PIPELINE_RELEASED);
    EXPECT(mf_webrtc_create_data_channel(webrtc, "chat", true, -1, -1, NULL, &channel),
           MF_RESULT_PIPELINE_RELEASED);

    mf_element_free(player);
    mf_element_free(bad);
    mf_element_free(sink);
    mf_element_free(webrtc);
    mf_pipeline_free(pipeline);
    unlink(path);
    rmdir(dir);
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("player: all checks passed\n");
    return 0;
}
