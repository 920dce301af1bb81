//! An interceptor that lets the session see the RTCP it reports on.
//!
//! The stack's interceptor chain ends inbound RTCP unless an interceptor marks a packet
//! for the application. We need keyframe requests (PLI, FIR) to relay them upstream
//! through the graph, and sender/receiver reports for Kurento's MediaStateChanged.

use std::collections::VecDeque;
use std::time::Instant;

use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;

/// Where the tap sits: after every stock interceptor, so they all still see the packet.
pub(crate) const SLOT: usize = 14_000;

/// Marks inbound RTCP holding PLI, FIR, REMB, SR or RR for delivery to the session.
#[derive(Default)]
pub(crate) struct FeedbackTap {
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

/// True for the RTCP packets the session acts on.
pub(crate) fn wanted(p: &dyn rtc::rtcp::Packet) -> bool {
    let any = p.as_any();
    any.is::<PictureLossIndication>()
        || any.is::<FullIntraRequest>()
        || any.is::<ReceiverEstimatedMaximumBitrate>()
        || any.is::<SenderReport>()
        || any.is::<ReceiverReport>()
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for FeedbackTap {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        let deliver = matches!(
            &msg.message.packet,
            Packet::Rtcp(packets) if packets.iter().any(|p| wanted(p.as_ref()))
        );
        let msg = if deliver {
            TaggedPacket {
                now: msg.now,
                transport: msg.transport,
                message: msg.message.with(Attribute::DeliverToApplication),
            }
        } else {
            msg
        };
        self.reads.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.reads.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        self.writes.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.writes.pop_front()
    }
}

impl Interceptor for FeedbackTap {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}
