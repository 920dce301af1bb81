#define _GNU_SOURCE
/*
 * RtpEndpoint and RecorderEndpoint through the C ABI, with a real media path: Debian's
 * ffmpeg sends VP8 over plain RTP to an RtpEndpoint (our offer, ffmpeg's SDP as the
 * answer), which feeds a RecorderEndpoint (WEBM_VIDEO_ONLY) for about 4 s; after
 * stop_and_wait, ffprobe must read a VP8 track of about that duration. Also checks the
 * new calls' misuse answers. Every wait is bounded; ffmpeg is killed by its PID (and
 * dies with this process: PR_SET_PDEATHSIG). Exits 77 (skipped) without ffmpeg.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mediaflow.h"

static int failures;
static pid_t ffmpeg_pid;

static void stop_ffmpeg(void) {
    if (ffmpeg_pid > 0) {
        kill(ffmpeg_pid, SIGKILL);
        waitpid(ffmpeg_pid, NULL, 0);
        ffmpeg_pid = 0;
    }
}

#define CHECK(call)                                                                  \
    do {                                                                             \
        enum mf_result r_ = (call);                                                  \
        if (r_ != MF_RESULT_OK) {                                                    \
            char detail_[512];                                                       \
            mf_last_error(detail_, sizeof detail_);                                  \
            fprintf(stderr, "%s:%d: %s: %s (%s)\n", __FILE__, __LINE__, #call,        \
                    mf_result_message(r_), detail_);                                 \
            stop_ffmpeg();                                                           \
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

/* What one recorder's events said (each recorder's callback gets its own). */
struct seen {
    atomic_int recording, stopped, errors;
};

static void on_recorder_event(const mf_event *event, void *user_data) {
    struct seen *seen = user_data;
    switch (mf_event_get_type(event)) {
    case MF_EVENT_RECORDING: atomic_fetch_add(&seen->recording, 1); break;
    case MF_EVENT_STOPPED: atomic_fetch_add(&seen->stopped, 1); break;
    case MF_EVENT_ERROR: {
        const char *type, *description;
        int32_t code;
        if (mf_event_error(event, &type, &description, &code) == MF_RESULT_OK)
            fprintf(stderr, "recorder error %s: %s\n", type, description);
        atomic_fetch_add(&seen->errors, 1);
        break;
    }
    default: break;
    }
    printf("[recorder] %s\n", mf_event_type_name(event));
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

/* Waits (at most `seconds`) until *counter > 0. */
static int wait_for(atomic_int *counter, double seconds) {
    double deadline = now_s() + seconds;
    while (atomic_load(counter) == 0 && now_s() < deadline) sleep_ms(20);
    return atomic_load(counter) > 0;
}

static int have(const char *tool) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "command -v %s > /dev/null 2>&1", tool);
    return system(cmd) == 0;
}

/* An even UDP port whose odd neighbour was free too a moment ago (ffmpeg binds both). */
static int free_port_pair(void) {
    for (int attempt = 0; attempt < 50; attempt++) {
        int a = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof addr;
        if (bind(a, (struct sockaddr *)&addr, sizeof addr) != 0 ||
            getsockname(a, (struct sockaddr *)&addr, &len) != 0) {
            close(a);
            continue;
        }
        int port = ntohs(addr.sin_port) & ~1;
        close(a);
        int ok = 1;
        for (int p = port; p <= port + 1 && ok; p++) {
            int s = socket(AF_INET, SOCK_DGRAM, 0);
            struct sockaddr_in q = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p),
                                    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
            ok = bind(s, (struct sockaddr *)&q, sizeof q) == 0;
            close(s);
        }
        if (ok && port > 1024) return port;
    }
    return 0;
}

/* The port of the first `m=video` line of an SDP, or 0. */
static int video_port(const char *sdp) {
    const char *m = strstr(sdp, "m=video ");
    return m ? atoi(m + 8) : 0;
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

static pid_t spawn_ffmpeg(char *const argv[], const char *log) {
    pid_t pid = fork();
    if (pid == 0) {
        /* Only async-signal-safe calls between fork and exec. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static void misuse(mf_pipeline *pipeline) {
    mf_element *e = NULL, *pass = NULL;
    CHECK(mf_passthrough_new(pipeline, &pass));
    EXPECT(mf_recorder_endpoint_new(pipeline, "file:///tmp/x.webm", 9, &e), MF_RESULT_INVALID_ARGUMENT);
    CHECK(mf_recorder_endpoint_new(pipeline, "file:///tmp/x.mp4", MF_MEDIA_PROFILE_MP4_VIDEO_ONLY, &e));
    mf_element_free(e);
    e = NULL;
    EXPECT(mf_recorder_endpoint_new(pipeline, "file:///tmp/x.webm", 0xffffffffu, &e), MF_RESULT_INVALID_ARGUMENT);
    EXPECT(mf_recorder_endpoint_new(pipeline, "http://example.com/x.webm", MF_MEDIA_PROFILE_WEBM, &e),
           MF_RESULT_INVALID_ARGUMENT);
    EXPECT(mf_recorder_endpoint_new(pipeline, NULL, MF_MEDIA_PROFILE_WEBM, &e), MF_RESULT_NULL_ARGUMENT);
    EXPECT(mf_recorder_endpoint_new(NULL, "file:///tmp/x.webm", MF_MEDIA_PROFILE_WEBM, &e), MF_RESULT_NULL_ARGUMENT);
    EXPECT(mf_recorder_endpoint_new(pipeline, "file:///tmp/x.webm", MF_MEDIA_PROFILE_WEBM, NULL), MF_RESULT_NULL_ARGUMENT);
    EXPECT(mf_recorder_record(pass), MF_RESULT_WRONG_ELEMENT_TYPE);
    EXPECT(mf_recorder_stop_and_wait(NULL, 10), MF_RESULT_NULL_ARGUMENT);
    mf_rtp_options bad = {0};
    bad.crypto = 9;
    EXPECT(mf_rtp_endpoint_new(pipeline, &bad, &e), MF_RESULT_INVALID_ARGUMENT);
    bad.crypto = MF_CRYPTO_SUITE_NONE;
    bad.address = "not-an-ip";
    EXPECT(mf_rtp_endpoint_new(pipeline, &bad, &e), MF_RESULT_INVALID_ARGUMENT);
    bad.address = "127.0.0.1";
    bad.recvonly = bad.sendonly = true;
    EXPECT(mf_rtp_endpoint_new(pipeline, &bad, &e), MF_RESULT_INVALID_ARGUMENT);
    char *text = NULL;
    EXPECT(mf_sdp_endpoint_generate_offer(pass, &text), MF_RESULT_WRONG_ELEMENT_TYPE);

    /* An SDES-SRTP endpoint offers RTP/SAVPF with a key; no SDP yet gives NULL. */
    mf_rtp_options srtp = {0};
    srtp.address = "127.0.0.1";
    srtp.crypto = MF_CRYPTO_SUITE_AES_128_CM_HMAC_SHA1_80;
    mf_element *secure = NULL;
    CHECK(mf_rtp_endpoint_new(pipeline, &srtp, &secure));
    char *remote = (char *)"unset";
    CHECK(mf_sdp_endpoint_get_remote_session_descriptor(secure, &remote));
    EXPECT(remote == NULL ? MF_RESULT_OK : MF_RESULT_INTERNAL, MF_RESULT_OK);
    EXPECT(mf_sdp_endpoint_process_answer(secure, "v=0\r\n"), MF_RESULT_WRONG_STATE);
    EXPECT(mf_sdp_endpoint_process_offer(secure, "v=0\r\ngarbage", &text), MF_RESULT_INVALID_SDP);
    CHECK(mf_webrtc_generate_offer(secure, &text)); /* the old name takes both kinds */
    int savpf = strstr(text, "RTP/SAVPF") != NULL && strstr(text, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:") != NULL;
    EXPECT(savpf ? MF_RESULT_OK : MF_RESULT_INVALID_SDP, MF_RESULT_OK);
    mf_string_free(text);
    /* OfferOptions: no audio asked for, so the audio m-line is sendonly. */
    CHECK(mf_sdp_endpoint_generate_offer_with(secure, false, true, &text));
    const char *video_line = strstr(text, "m=video");
    const char *sendonly = strstr(text, "a=sendonly");
    EXPECT(video_line && sendonly && sendonly < video_line ? MF_RESULT_OK : MF_RESULT_INVALID_SDP, MF_RESULT_OK);
    mf_string_free(text);
    EXPECT(mf_recorder_pause(secure), MF_RESULT_WRONG_ELEMENT_TYPE);
    CHECK(mf_element_release(secure));
    EXPECT(mf_sdp_endpoint_generate_offer(secure, &text), MF_RESULT_ELEMENT_RELEASED);
    mf_element_free(secure);

    /* A recorder whose file cannot be created: record succeeds, an Error event follows. */
    static struct seen nowhere_seen;
    mf_element *nowhere = NULL;
    CHECK(mf_recorder_endpoint_new(pipeline, "file:///nonexistent-dir/x.webm", MF_MEDIA_PROFILE_MKV, &nowhere));
    CHECK(mf_element_subscribe(nowhere, on_recorder_event, &nowhere_seen, NULL));
    CHECK(mf_recorder_record(nowhere));
    EXPECT(wait_for(&nowhere_seen.errors, 5) ? MF_RESULT_OK : MF_RESULT_TIMEOUT, MF_RESULT_OK);
    CHECK(mf_recorder_stop(nowhere));
    EXPECT(mf_recorder_record(nowhere), MF_RESULT_WRONG_STATE);
    mf_element_free(nowhere);
    mf_element_free(pass);
}

int main(void) {
    if (!have("ffmpeg") || !have("ffprobe")) {
        printf("skipped: ffmpeg/ffprobe not found (apt-get install ffmpeg)\n");
        return 77;
    }
    atexit(stop_ffmpeg);
    char dir[] = "/tmp/mf-c-rtp-recorder-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char file[256], uri[300], sdp_path[256], log_path[256];
    snprintf(file, sizeof file, "%s/out.webm", dir);
    snprintf(uri, sizeof uri, "file://%s", file);
    snprintf(sdp_path, sizeof sdp_path, "%s/ffmpeg.sdp", dir);
    snprintf(log_path, sizeof log_path, "%s/ffmpeg.log", dir);

    mf_pipeline *pipeline = NULL;
    CHECK(mf_pipeline_new(&pipeline));
    misuse(pipeline);
    static struct seen seen;

    mf_rtp_options options = {0};
    options.recvonly = true;
    options.address = "127.0.0.1";
    mf_element *rtp = NULL, *recorder = NULL;
    CHECK(mf_rtp_endpoint_new(pipeline, &options, &rtp));
    CHECK(mf_recorder_endpoint_new(pipeline, uri, MF_MEDIA_PROFILE_WEBM_VIDEO_ONLY, &recorder));
    CHECK(mf_element_subscribe(recorder, on_recorder_event, &seen, NULL));
    CHECK(mf_element_connect(rtp, recorder, MF_MEDIA_ALL));

    char *offer = NULL;
    CHECK(mf_sdp_endpoint_generate_offer(rtp, &offer));
    int port = video_port(offer);
    mf_string_free(offer);
    int ffmpeg_port = free_port_pair();
    if (port == 0 || ffmpeg_port == 0) {
        fprintf(stderr, "FAIL no video port in our offer (%d) or no free pair (%d)\n", port, ffmpeg_port);
        return 1;
    }
    char url[256];
    snprintf(url, sizeof url, "rtp://127.0.0.1:%d?localrtpport=%d&localrtcpport=%d&pkt_size=1200", port,
             ffmpeg_port, ffmpeg_port + 1);
    char *argv[] = {"ffmpeg", "-hide_banner", "-nostdin", "-re", "-f", "lavfi", "-i",
                    "testsrc=size=320x240:rate=30", "-t", "10", "-an", "-c:v", "libvpx", "-deadline",
                    "realtime", "-g", "30", "-b:v", "400k", "-payload_type", "96", "-strict",
                    "experimental", "-f", "rtp", "-sdp_file", sdp_path, url, NULL};
    ffmpeg_pid = spawn_ffmpeg(argv, log_path);
    if (ffmpeg_pid < 0) {
        perror("fork");
        return 1;
    }

    /* ffmpeg writes its SDP as it starts: that is our answer, with the port it listens
     * on for our RTCP in place of ours. */
    char *ffmpeg_sdp = NULL;
    double deadline = now_s() + 10;
    while (now_s() < deadline) {
        ffmpeg_sdp = read_file(sdp_path);
        if (ffmpeg_sdp && strstr(ffmpeg_sdp, "m=video")) break;
        ffmpeg_sdp = NULL;
        sleep_ms(20);
    }
    if (!ffmpeg_sdp) {
        fprintf(stderr, "FAIL ffmpeg wrote no SDP within 10 s: %s\n", read_file(log_path));
        return 1;
    }
    char answer[8192];
    const char *m = strstr(ffmpeg_sdp, "m=video ");
    const char *rest = strchr(m + 8, ' ');
    snprintf(answer, sizeof answer, "%.*sm=video %d%s", (int)(m - ffmpeg_sdp), ffmpeg_sdp, ffmpeg_port, rest);
    CHECK(mf_sdp_endpoint_process_answer(rtp, answer));
    char *remote = NULL;
    CHECK(mf_sdp_endpoint_get_remote_session_descriptor(rtp, &remote));
    EXPECT(remote && strstr(remote, "VP8") ? MF_RESULT_OK : MF_RESULT_INVALID_SDP, MF_RESULT_OK);
    mf_string_free(remote);

    /* The file's timeline starts at record(): time it from there (the Recording event
     * may reach us later, under valgrind notably). */
    double started = now_s();
    CHECK(mf_recorder_record(recorder));
    EXPECT(wait_for(&seen.recording, 5) ? MF_RESULT_OK : MF_RESULT_TIMEOUT, MF_RESULT_OK);
    sleep_ms(4000);
    double recorded = now_s() - started;
    CHECK(mf_recorder_stop_and_wait(recorder, 10000));
    EXPECT(wait_for(&seen.stopped, 5) ? MF_RESULT_OK : MF_RESULT_TIMEOUT, MF_RESULT_OK);
    /* Its counters: nothing dropped by a writer on a local disk; frames before the first
     * keyframe may be skipped. Misuse: NULL out, another kind of element. */
    uint64_t dropped = 99, skipped = 99;
    CHECK(mf_recorder_dropped_frames(recorder, &dropped));
    CHECK(mf_recorder_skipped_frames(recorder, &skipped));
    printf("recorder: %llu frames dropped, %llu skipped\n", (unsigned long long)dropped,
           (unsigned long long)skipped);
    EXPECT(dropped == 0 ? MF_RESULT_OK : MF_RESULT_INTERNAL, MF_RESULT_OK);
    EXPECT(mf_recorder_dropped_frames(recorder, NULL), MF_RESULT_NULL_ARGUMENT);
    EXPECT(mf_recorder_skipped_frames(NULL, &skipped), MF_RESULT_NULL_ARGUMENT);
    EXPECT(mf_player_dropped_frames(recorder, &dropped), MF_RESULT_WRONG_ELEMENT_TYPE);
    stop_ffmpeg();
    EXPECT(atomic_load(&seen.errors) == 0 ? MF_RESULT_OK : MF_RESULT_INTERNAL, MF_RESULT_OK);

    /* ffprobe reads what was written. */
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "timeout 20 ffprobe -v error -show_entries stream=codec_name:format=duration "
             "-of default=noprint_wrappers=1 '%s' 2>&1",
             file);
    FILE *probe = popen(cmd, "r");
    char line[256], codec[64] = "", probed[512] = "";
    double duration = -1;
    while (probe && fgets(line, sizeof line, probe)) {
        strncat(probed, line, sizeof probed - strlen(probed) - 1);
        sscanf(line, "codec_name=%63s", codec);
        sscanf(line, "duration=%lf", &duration);
    }
    int probe_status = probe ? pclose(probe) : -1;
    printf("ffprobe (exit %d): %s", probe_status, probed);
    printf("recorded %.2f s of ffmpeg's VP8; the file lasts %.2f s (%s)\n", recorded, duration, codec);
    /* At most what was recorded (plus the last frame's span); at least half of it (the
     * file starts at the first keyframe, up to 1 s in; valgrind is slow). */
    if (probe_status != 0 || strcmp(codec, "vp8") != 0 || duration < recorded / 2 || duration > recorded + 0.5) {
        fprintf(stderr, "FAIL ffprobe: codec %s, duration %.2f for %.2f s recorded\n", codec, duration, recorded);
        failures++;
    }

    CHECK(mf_pipeline_release(pipeline));
    EXPECT(mf_recorder_record(recorder), MF_RESULT_PIPELINE_RELEASED);
    mf_element_free(recorder);
    mf_element_free(rtp);
    mf_pipeline_free(pipeline);
    unlink(file);
    unlink(sdp_path);
    unlink(log_path);
    rmdir(dir);
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("rtp_recorder: ffmpeg -> RtpEndpoint -> RecorderEndpoint -> ffprobe ok\n");
    return 0;
}
