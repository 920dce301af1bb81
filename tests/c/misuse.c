/* Misuse of the C ABI: each mistake gets its mf_result and a message, never a crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mediaflow.h"

static int failures;

#define EXPECT(call, want)                                                                \
    do {                                                                                  \
        enum mf_result got_ = (call);                                                     \
        char detail_[256];                                                                \
        mf_last_error(detail_, sizeof detail_);                                           \
        if (got_ != (want)) {                                                             \
            fprintf(stderr, "FAIL %s: got %s, want %s (%s)\n", #call,                     \
                    mf_result_message(got_), mf_result_message(want), detail_);            \
            failures++;                                                                   \
        } else {                                                                          \
            printf("ok   %-70s -> %s: %s\n", #call, mf_result_message(got_), detail_);     \
        }                                                                                 \
    } while (0)

int main(void) {
    mf_pipeline *pipeline = NULL;
    mf_element *endpoint = NULL, *pass = NULL, *other = NULL;
    char *text = NULL;

    /* NULL handles and outputs. */
    EXPECT(mf_pipeline_new(NULL), MF_RESULT_NULL_ARGUMENT);
    EXPECT(mf_passthrough_new(NULL, &pass), MF_RESULT_NULL_ARGUMENT);
    EXPECT(mf_element_connect(NULL, NULL, MF_MEDIA_ALL), MF_RESULT_NULL_ARGUMENT);
    EXPECT(mf_webrtc_generate_offer(NULL, &text), MF_RESULT_NULL_ARGUMENT);
    EXPECT(mf_element_subscribe(NULL, NULL, NULL, NULL), MF_RESULT_NULL_ARGUMENT);

    EXPECT(mf_pipeline_new(&pipeline), MF_RESULT_OK);
    EXPECT(mf_webrtc_endpoint_new(pipeline, NULL, &endpoint), MF_RESULT_OK);
    EXPECT(mf_passthrough_new(pipeline, &pass), MF_RESULT_OK);
    EXPECT(mf_webrtc_generate_offer(endpoint, NULL), MF_RESULT_NULL_ARGUMENT);
    EXPECT(mf_element_subscribe(endpoint, NULL, NULL, NULL), MF_RESULT_NULL_ARGUMENT);

    /* Bad strings and states. */
    const char bad_utf8[] = {'v', '=', '0', (char)0xff, (char)0xfe, 0};
    EXPECT(mf_webrtc_process_offer(endpoint, bad_utf8, &text), MF_RESULT_INVALID_UTF8);
    EXPECT(mf_webrtc_process_offer(endpoint, "v=0\r\nnot sdp", &text), MF_RESULT_INVALID_SDP);
    EXPECT(mf_webrtc_process_answer(endpoint, "v=0\r\n"), MF_RESULT_WRONG_STATE);
    EXPECT(mf_webrtc_add_ice_candidate(endpoint, "candidate:garbage", NULL, 0), MF_RESULT_INVALID_CANDIDATE);
    EXPECT(mf_webrtc_gather_candidates(pass), MF_RESULT_WRONG_ELEMENT_TYPE);
    EXPECT(mf_app_source_push(pass, MF_MEDIA_VIDEO, NULL, NULL, 0, false), MF_RESULT_WRONG_ELEMENT_TYPE);
    EXPECT(mf_element_disconnect(pass, endpoint, MF_MEDIA_AUDIO), MF_RESULT_NOT_CONNECTED);
    EXPECT(mf_pipeline_unsubscribe(pipeline, 12345), MF_RESULT_INVALID_ARGUMENT);
    size_t len = 0;
    EXPECT(mf_app_sink_pull(pass, 0, NULL, 0, &len, NULL, NULL), MF_RESULT_WRONG_ELEMENT_TYPE);
    mf_element *sink = NULL;
    EXPECT(mf_app_sink_new(pipeline, 4, &sink), MF_RESULT_OK);
    EXPECT(mf_app_sink_pull(sink, 10, NULL, 0, &len, NULL, NULL), MF_RESULT_TIMEOUT);
    EXPECT(mf_app_sink_pull(sink, 10, NULL, 0, NULL, NULL, NULL), MF_RESULT_NULL_ARGUMENT);
    mf_webrtc_options bad_ip = {0};
    bad_ip.external_address = "not-an-ip";
    mf_element *nope = NULL;
    EXPECT(mf_webrtc_endpoint_new(pipeline, &bad_ip, &nope), MF_RESULT_INVALID_ARGUMENT);
    EXPECT(mf_element_add_tag(pass, NULL, "v"), MF_RESULT_NULL_ARGUMENT);
    /* Integers C may pass where an enum is meant: refused, never undefined behaviour. */
    EXPECT(mf_element_connect(pass, sink, 7), MF_RESULT_INVALID_ARGUMENT);
    EXPECT(mf_element_disconnect(pass, sink, 0xffffffffu), MF_RESULT_INVALID_ARGUMENT);
    mf_element *src = NULL;
    EXPECT(mf_app_source_new(pipeline, &src), MF_RESULT_OK);
    EXPECT(mf_app_source_push(src, 42, "video/VP8", (const uint8_t *)"x", 1, false), MF_RESULT_INVALID_ARGUMENT);
    mf_element_free(src);
    if (strcmp(mf_result_message(-1), "unknown result code") != 0 ||
        strcmp(mf_result_message(999), "unknown result code") != 0 ||
        strcmp(mf_result_message(MF_RESULT_TIMEOUT), "the pipeline did not answer in time") != 0) {
        printf("FAIL mf_result_message of out-of-range codes\n");
        failures++;
    } else {
        printf("ok   mf_result_message(-1), (999): \"unknown result code\"\n");
    }
    mf_element_free(sink);

    /* Elements of different pipelines. */
    mf_pipeline *second = NULL;
    EXPECT(mf_pipeline_new(&second), MF_RESULT_OK);
    EXPECT(mf_passthrough_new(second, &other), MF_RESULT_OK);
    EXPECT(mf_element_connect(pass, other, MF_MEDIA_ALL), MF_RESULT_DIFFERENT_PIPELINES);

    /* Released element, released pipeline: the handles stay valid to call. */
    EXPECT(mf_element_release(pass), MF_RESULT_OK);
    EXPECT(mf_element_release(pass), MF_RESULT_ELEMENT_RELEASED);
    EXPECT(mf_element_connect(endpoint, pass, MF_MEDIA_ALL), MF_RESULT_ELEMENT_RELEASED);
    EXPECT(mf_pipeline_release(pipeline), MF_RESULT_OK);
    EXPECT(mf_pipeline_release(pipeline), MF_RESULT_PIPELINE_RELEASED);
    EXPECT(mf_webrtc_generate_offer(endpoint, &text), MF_RESULT_PIPELINE_RELEASED);
    EXPECT(mf_passthrough_new(pipeline, &other), MF_RESULT_PIPELINE_RELEASED);

    if (strlen(mf_result_message(MF_RESULT_PANIC)) == 0) failures++;
    mf_element_free(endpoint);
    mf_element_free(pass);
    mf_element_free(other);
    mf_element_free(NULL);
    mf_pipeline_free(pipeline);
    mf_pipeline_free(second);
    mf_pipeline_free(NULL);

    /* A runtime of the host's own: a fixed set of threads for its pipelines. */
    mf_runtime *runtime = NULL;
    EXPECT(mf_runtime_new(1, 1, 0, NULL), MF_RESULT_NULL_ARGUMENT);
    EXPECT(mf_pipeline_new_on(NULL, &second), MF_RESULT_NULL_ARGUMENT);
    EXPECT(mf_runtime_new(1, 1, 0, &runtime), MF_RESULT_OK);
    mf_pipeline *on_runtime[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) {
        EXPECT(mf_pipeline_new_on(runtime, &on_runtime[i]), MF_RESULT_OK);
        EXPECT(mf_webrtc_endpoint_new(on_runtime[i], NULL, &other), MF_RESULT_OK);
        mf_element_free(other);
        other = NULL;
    }
    uint32_t threads = 0;
    EXPECT(mf_runtime_thread_count(runtime, &threads), MF_RESULT_OK);
    if (threads != 2) {
        fprintf(stderr, "FAIL a 1-worker, 1-dispatcher runtime runs %u threads\n", threads);
        failures++;
    }
    mf_runtime_free(runtime);
    for (int i = 0; i < 3; i++) {
        EXPECT(mf_pipeline_release(on_runtime[i]), MF_RESULT_OK);
        mf_pipeline_free(on_runtime[i]);
    }
    mf_runtime_free(NULL);
    mf_string_free(NULL);
    printf("%d passed, %d failed\n", failures ? 0 : 1, failures ? 1 : 0);
    return failures ? 1 : 0;
}
