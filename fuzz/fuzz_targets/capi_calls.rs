//! Any bytes as a program of C API calls: pipelines and elements made, connected,
//! released and freed in any order, with NULL handles, NULL out-pointers, released
//! handles, out-of-range enum values, strings of any bytes and buffers of any size.
//! Every call must return a result code (never panic, hang or touch freed memory), and
//! every string the API hands out is a NUL-terminated UTF-8 string we free.
#![no_main]

use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr::{null, null_mut};

use libfuzzer_sys::fuzz_target;
use mediaflow_capi::*;

/// Handles a program may hold at once.
const SLOTS: usize = 4;

/// The URIs recorders get: a writable file, a missing directory, a scheme we refuse.
const RECORDER_URIS: [&CStr; 3] = [
    c"file:///tmp/mediaflow-fuzz-capi-calls.webm",
    c"file:///nonexistent-mediaflow-dir/x.mkv",
    c"http://127.0.0.1:9/x.webm",
];

struct Program<'a> {
    bytes: &'a [u8],
    pipelines: [*mut mf_pipeline; SLOTS],
    elements: [*mut mf_element; SLOTS],
}

impl Program<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&b, rest)) = self.bytes.split_first() else {
            return 0;
        };
        self.bytes = rest;
        b
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    /// A length byte, then that many bytes (fewer at the end of the input).
    fn chunk(&mut self) -> &[u8] {
        let n = usize::from(self.byte()).min(self.bytes.len());
        let (chunk, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        chunk
    }

    /// A C string of the next chunk (cut at its first NUL, as C would see it).
    fn string(&mut self) -> CString {
        let chunk = self.chunk();
        let end = chunk.iter().position(|&b| b == 0).unwrap_or(chunk.len());
        CString::new(&chunk[..end]).expect("no NUL")
    }

    /// A pipeline slot's handle, or NULL one time in eight.
    fn pipeline(&mut self) -> *mut mf_pipeline {
        let b = self.byte();
        if b & 7 == 7 {
            null_mut()
        } else {
            self.pipelines[usize::from(b) % SLOTS]
        }
    }

    fn element(&mut self) -> *mut mf_element {
        let b = self.byte();
        if b & 7 == 7 {
            null_mut()
        } else {
            self.elements[usize::from(b) % SLOTS]
        }
    }

    /// Stores a new element in a free slot, or frees it if there is none.
    fn keep_element(&mut self, e: *mut mf_element) {
        match self.elements.iter_mut().find(|s| s.is_null()) {
            Some(slot) => *slot = e,
            None => mf_element_free(e),
        }
    }

    fn step(&mut self) {
        match self.byte() % 22 {
            0 => {
                let mut p = null_mut();
                if mf_pipeline_new(&mut p) == mf_result::MF_RESULT_OK {
                    match self.pipelines.iter_mut().find(|s| s.is_null()) {
                        Some(slot) => *slot = p,
                        None => mf_pipeline_free(p),
                    }
                }
            }
            1 => {
                let _ = mf_pipeline_release(self.pipeline());
            }
            2 => {
                let i = usize::from(self.byte()) % SLOTS;
                mf_pipeline_free(std::mem::replace(&mut self.pipelines[i], null_mut()));
            }
            3..=5 => {
                let (kind, p) = (self.byte() % 5, self.pipeline());
                let mut e = null_mut();
                let r = match kind {
                    0 => mf_passthrough_new(p, &mut e),
                    1 => mf_app_source_new(p, &mut e),
                    2 => mf_app_sink_new(p, usize::from(self.byte()), &mut e),
                    3 => {
                        // Fixed URIs only: a fuzzed path could truncate any file.
                        let uri = RECORDER_URIS[usize::from(self.byte()) % RECORDER_URIS.len()];
                        let profile = match self.byte() {
                            b if b & 1 == 0 => u32::from(b >> 1) % 10,
                            _ => self.u32(),
                        };
                        mf_recorder_endpoint_new(p, uri.as_ptr(), profile, &mut e)
                    }
                    _ => {
                        let options = mf_rtp_options {
                            recvonly: self.byte() & 1 == 1,
                            sendonly: self.byte() & 1 == 1,
                            address: c"127.0.0.1".as_ptr(),
                            min_port: 0,
                            max_port: 0,
                            crypto: match self.byte() {
                                b if b & 1 == 0 => u32::from(b >> 1) % 3,
                                _ => self.u32(),
                            },
                            avp: self.byte() & 1 == 1,
                            max_video_recv_bandwidth: self.u32(),
                            max_audio_recv_bandwidth: self.u32(),
                        };
                        let opts = if self.byte() & 1 == 1 {
                            &options as *const _
                        } else {
                            null()
                        };
                        mf_rtp_endpoint_new(p, opts, &mut e)
                    }
                };
                if r == mf_result::MF_RESULT_OK {
                    self.keep_element(e);
                }
            }
            6 => {
                let p = self.pipeline();
                let ifaces = c"lo";
                let options = mf_webrtc_options {
                    recvonly: false,
                    sendonly: false,
                    network_interfaces: ifaces.as_ptr(),
                    min_port: 0,
                    max_port: 0,
                    stun_server_address: null(),
                    stun_server_port: 0,
                    turn_url: null(),
                    ice_tcp: self.byte() & 1 == 1,
                    max_video_recv_bandwidth: self.u32(),
                    relay_only: false,
                    external_address: null(),
                    ipv6: false,
                    use_data_channels: self.byte() & 1 == 1,
                    max_audio_recv_bandwidth: self.u32(),
                    max_playout_delay: self.u32(),
                    no_playout_delay: self.byte() & 1 == 1,
                };
                let with_options = self.byte() & 1 == 1;
                let mut e = null_mut();
                let opts = if with_options {
                    &options as *const _
                } else {
                    null()
                };
                if mf_webrtc_endpoint_new(p, opts, &mut e) == mf_result::MF_RESULT_OK {
                    self.keep_element(e);
                }
            }
            7 => {
                let _ = mf_element_release(self.element());
            }
            8 => {
                let i = usize::from(self.byte()) % SLOTS;
                mf_element_free(std::mem::replace(&mut self.elements[i], null_mut()));
            }
            9 | 10 => {
                let (a, b, media) = (self.element(), self.element(), self.u32());
                let _ = if self.byte() & 1 == 0 {
                    mf_element_connect(a, b, media)
                } else {
                    mf_element_disconnect(a, b, media)
                };
            }
            11 => {
                let (e, key, value) = (self.element(), self.string(), self.string());
                let _ = mf_element_add_tag(e, key.as_ptr(), value.as_ptr());
                let mut id = null_mut();
                if mf_element_id(e, &mut id) == mf_result::MF_RESULT_OK {
                    take_string(id);
                }
            }
            12 => {
                let (e, sdp) = (self.element(), self.string());
                let mut answer = null_mut();
                let out = if self.byte() & 7 == 7 {
                    null_mut()
                } else {
                    &mut answer as *mut _
                };
                if mf_webrtc_process_offer(e, sdp.as_ptr(), out) == mf_result::MF_RESULT_OK {
                    take_string(answer);
                }
            }
            13 => {
                let e = self.element();
                let mut offer = null_mut();
                let flags = self.byte();
                let made = if flags & 1 == 1 {
                    mf_sdp_endpoint_generate_offer_with(
                        e,
                        flags & 2 == 2,
                        flags & 4 == 4,
                        &mut offer,
                    )
                } else {
                    mf_webrtc_generate_offer(e, &mut offer)
                };
                if made == mf_result::MF_RESULT_OK {
                    take_string(offer);
                }
                let answer = self.string();
                let _ = mf_webrtc_process_answer(e, answer.as_ptr());
            }
            14 => {
                let (e, line, mid, index) =
                    (self.element(), self.string(), self.string(), self.u32());
                let mid_ptr = if self.byte() & 1 == 1 {
                    mid.as_ptr()
                } else {
                    null()
                };
                let _ = mf_webrtc_add_ice_candidate(e, line.as_ptr(), mid_ptr, index);
                let _ = mf_webrtc_gather_candidates(e);
            }
            15 => {
                let e = self.element();
                let mut json = null_mut();
                if mf_webrtc_get_stats(e, &mut json) == mf_result::MF_RESULT_OK {
                    let s = take_string(json);
                    assert!(s.starts_with('{'), "stats are a JSON object: {s}");
                }
            }
            16 => {
                let (e, media, codec) = (self.element(), self.u32(), self.string());
                let keyframe = self.byte() & 1 == 1;
                let data = self.chunk().to_vec();
                let ptr = if data.is_empty() && keyframe {
                    null()
                } else {
                    data.as_ptr()
                };
                let _ = mf_app_source_push(e, media, codec.as_ptr(), ptr, data.len(), keyframe);
            }
            17 => {
                let e = self.element();
                let capacity = usize::from(self.byte()) * 8;
                let mut buf = vec![0u8; capacity];
                let (mut len, mut media, mut key) = (0usize, mf_media_type::MF_MEDIA_VIDEO, false);
                let keyframe = if self.byte() & 1 == 1 {
                    &mut key as *mut bool
                } else {
                    null_mut()
                };
                let r = mf_app_sink_pull(
                    e,
                    0,
                    buf.as_mut_ptr(),
                    capacity,
                    &mut len,
                    &mut media,
                    keyframe,
                );
                if r == mf_result::MF_RESULT_OK {
                    assert!(len <= capacity, "pulled {len} bytes into {capacity}");
                }
            }
            18 => {
                let e = self.element();
                let mut sub = 0u64;
                if mf_element_subscribe(e, Some(on_event), null_mut(), &mut sub)
                    == mf_result::MF_RESULT_OK
                    && self.byte() & 1 == 1
                {
                    let _ = mf_element_unsubscribe(e, sub);
                }
                let _ = mf_element_unsubscribe(e, u64::from(self.u32()));
            }
            19 => {
                let e = self.element();
                let _ = match self.byte() % 4 {
                    0 => mf_recorder_record(e),
                    1 => mf_recorder_pause(e),
                    2 => mf_recorder_stop(e),
                    _ => mf_recorder_stop_and_wait(e, u32::from(self.byte() % 50)),
                };
            }
            20 => {
                let (e, sdp) = (self.element(), self.string());
                let mut out = null_mut();
                let r = match self.byte() % 3 {
                    0 => mf_sdp_endpoint_get_local_session_descriptor(e, &mut out),
                    1 => mf_sdp_endpoint_get_remote_session_descriptor(e, &mut out),
                    _ => mf_sdp_endpoint_process_offer(e, sdp.as_ptr(), &mut out),
                };
                if r == mf_result::MF_RESULT_OK && !out.is_null() {
                    take_string(out);
                }
            }
            _ => {
                let code = self.u32() as i32;
                // SAFETY: mf_result_message returns a static NUL-terminated string.
                let text = unsafe { CStr::from_ptr(mf_result_message(code)) };
                assert!(text.to_str().is_ok());
                let mut buf = [0 as c_char; 8];
                let len = usize::from(self.byte()) % (buf.len() + 1);
                let _ = mf_last_error(buf.as_mut_ptr(), len);
            }
        }
    }
}

/// Reads one of the API's strings (it must be UTF-8) and frees it.
fn take_string(s: *mut c_char) -> String {
    assert!(!s.is_null(), "an OK result with a NULL string");
    // SAFETY: the API returned it: a NUL-terminated string we own.
    let text = unsafe { CStr::from_ptr(s) }
        .to_str()
        .expect("the API's strings are UTF-8")
        .to_owned();
    mf_string_free(s);
    text
}

extern "C" fn on_event(event: *const mf_event, _: *mut c_void) {
    // SAFETY: the event is valid while the callback runs; its strings are static or its own.
    let name = unsafe { CStr::from_ptr(mf_event_type_name(event)) };
    assert!(name.to_str().is_ok_and(|n| !n.is_empty()));
    let _ = mf_event_get_type(event);
}

fuzz_target!(|data: &[u8]| {
    let mut program = Program {
        bytes: data,
        pipelines: [null_mut(); SLOTS],
        elements: [null_mut(); SLOTS],
    };
    for _ in 0..64 {
        if program.bytes.is_empty() {
            break;
        }
        program.step();
    }
    for e in program.elements {
        mf_element_free(e);
    }
    for p in program.pipelines {
        if !p.is_null() {
            let _ = mf_pipeline_release(p);
        }
        mf_pipeline_free(p);
    }
});
