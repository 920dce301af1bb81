//! WebRTC data channels (RFC 8831) over the session's DTLS: an SCTP association
//! (rtc-sctp's sans-IO `Association`) carried in DTLS application data, and the Data
//! Channel Establishment Protocol (RFC 8832, rtc-datachannel's DCEP messages) on it.
//!
//! Composed here as the transport composes ICE and DTLS: the association takes the
//! bytes DTLS decrypted and the session's time, and is polled for the SCTP packets to
//! encrypt and its timers. Channels are ours (label, state, which stream), so what
//! leaves is one [`DataMessage`] per user message with its channel's label, and
//! everything a peer can make us hold is bounded: channels, message size, bytes queued
//! per channel, messages waiting to be polled. What exceeds a bound is dropped and
//! counted in [`DataChannelStats`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rtc::datachannel::data_channel::DataChannel;
use rtc::datachannel::message::message_channel_ack::DataChannelAck;
use rtc::datachannel::message::message_channel_open::{
    ChannelType, DataChannelOpen, CHANNEL_PRIORITY_NORMAL,
};
use rtc::datachannel::message::Message;
use rtc::sctp::{
    Association, AssociationHandle, ClientConfig, DatagramEvent, Endpoint, EndpointConfig,
    Event as SctpEvent, Payload, PayloadProtocolIdentifier as Ppi, ServerConfig, StreamEvent,
    TransportConfig,
};
use rtc::shared::marshal::{Marshal, Unmarshal};
use rtc::shared::TransportProtocol;

use crate::SessionError;

/// The SCTP port both sides use (`a=sctp-port`, RFC 8841).
pub const SCTP_PORT: u16 = 5000;
/// Largest message sent or received, in bytes; advertised as `a=max-message-size`.
pub const MAX_MESSAGE_SIZE: u32 = 256 * 1024;
/// Most channels open at once on one session, both sides' together.
pub const MAX_CHANNELS: usize = 64;
/// Most bytes a channel may have queued towards the peer (unacknowledged or not yet
/// sent); a message that would exceed it is dropped.
pub const MAX_BUFFERED_PER_CHANNEL: usize = 1024 * 1024;
/// Received messages waiting for `poll_message`: past it, the rest stays in SCTP's
/// receive buffer, whose shrinking window slows the peer down.
const MAX_RECEIVED_QUEUE: usize = 1024;
/// Bytes of received messages waiting for `poll_message`, at most (the SCTP receive
/// window's worth): no message is read from SCTP that could take the queue past it, so
/// a peer is held back by the window (nothing lost) rather than queued without bound.
const MAX_RECEIVED_BYTES: usize = RECEIVE_BUFFER as usize;
/// SCTP streams negotiated each way (channel ids must be below it).
const MAX_STREAMS: u16 = 1024;
/// The association's receive window.
const RECEIVE_BUFFER: u32 = 1024 * 1024;
/// Longest label or protocol accepted in a DATA_CHANNEL_OPEN, in bytes.
const MAX_LABEL_BYTES: usize = 1024;

/// How long a channel we closed waits for the peer's reset of its stream: past it, the
/// channel is closed without (a peer that ignores our reset cannot keep it, and its
/// place among MAX_CHANNELS, forever).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The association is the only one over its DTLS connection: a placeholder address.
const SCTP_PEER: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::new(127, 0, 0, 1),
    SCTP_PORT,
));

/// How a channel delivers (W3C `RTCDataChannelInit`, Kurento's `createDataChannel`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataChannelInit {
    /// In order (the default) or as they arrive.
    pub ordered: bool,
    /// Give a message up after this many milliseconds (partial reliability).
    pub max_packet_life_time: Option<u16>,
    /// Give a message up after this many retransmissions (partial reliability); takes
    /// precedence over `max_packet_life_time`.
    pub max_retransmits: Option<u16>,
    /// The subprotocol name.
    pub protocol: String,
}

impl Default for DataChannelInit {
    fn default() -> Self {
        DataChannelInit {
            ordered: true,
            max_packet_life_time: None,
            max_retransmits: None,
            protocol: String::new(),
        }
    }
}

/// One message received on a channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataMessage {
    /// The channel's SCTP stream id (Kurento's `channelId`).
    pub channel_id: u16,
    /// The channel's label.
    pub label: Arc<str>,
    /// Binary (PPID 53/57) rather than a string (51/56).
    pub binary: bool,
    /// The message (empty for the Empty PPIDs).
    pub data: Bytes,
}

/// What happened to a channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ChannelEvent {
    Opened { id: u16, label: Arc<str> },
    Closed { id: u16 },
}

/// Counters of a session's data channels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DataChannelStats {
    /// Channels opened (ours and the peer's).
    pub channels_opened: u64,
    /// Channels closed.
    pub channels_closed: u64,
    /// Channels the peer opened past [`MAX_CHANNELS`] (or with a bad label), refused.
    pub channels_refused: u64,
    /// Messages received and delivered.
    pub messages_received: u64,
    /// Messages handed to SCTP.
    pub messages_sent: u64,
    /// Received messages dropped: on no channel, too large, of an unknown PPID.
    pub messages_dropped_in: u64,
    /// Messages not sent: no such channel, too large, over the channel's queue bound,
    /// association not up.
    pub messages_dropped_out: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Ours, waiting for the association (no stream yet).
    Pending,
    /// Ours, DATA_CHANNEL_OPEN sent, no ACK yet.
    Connecting,
    Open,
    /// We reset the stream; waiting for the peer's reset.
    Closing,
}

struct Channel {
    label: Arc<str>,
    protocol: String,
    channel_type: ChannelType,
    reliability_parameter: u32,
    state: State,
    /// Closing: closed without the peer's reset at this time.
    close_deadline: Option<Instant>,
}

/// The data channels of one session: the SCTP endpoint, its association, the channels.
pub(crate) struct DataChannels {
    /// We are the DTLS client: the SCTP client too (as RTCPeerConnection does), and our
    /// channels take even stream ids (RFC 8832 §6).
    client: bool,
    /// Most the peer takes in one message (its `a=max-message-size`, 0: no limit).
    remote_max_message_size: u32,
    endpoint: Option<Endpoint>,
    association: Option<(AssociationHandle, Association)>,
    connected: bool,
    channels: BTreeMap<u16, Channel>,
    /// Streams with data SCTP holds for us (its `Readable` is edge-triggered).
    readable: BTreeSet<u16>,
    received: VecDeque<DataMessage>,
    /// The bytes of `received`'s messages.
    received_bytes: usize,
    events: VecDeque<ChannelEvent>,
    /// SCTP packets for DTLS.
    transmits: VecDeque<Bytes>,
    /// Messages were written since the last flush: `flush_pending` bundles them into
    /// as few packets as SCTP can (a burst of small messages is not a datagram each).
    dirty: bool,
    stats: DataChannelStats,
}

/// Why a data-channel call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DataChannelError {
    /// The endpoint was built without data channels, or the peer's SDP has no
    /// data-channel section.
    #[error("no data channels: not enabled, or the peer's SDP has no data-channel section")]
    NotNegotiated,
    /// No channel has this id.
    #[error("no data channel {0}")]
    NoSuchChannel(u16),
    /// No channel is open to send a message of no channel on.
    #[error("no data channel is open")]
    NoneOpen,
    /// The channel waits for the association, or is closing.
    #[error("data channel {0} is not open")]
    NotOpen(u16),
    /// The SCTP association is not up (yet, or any more).
    #[error("the SCTP association is not up")]
    NotConnected,
    /// The message is over ours or the peer's max-message-size.
    #[error("a message of {size} bytes is over the limit of {limit}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: u32,
    },
    /// A label or protocol over `MAX_LABEL_BYTES`.
    #[error("label and protocol are limited to {MAX_LABEL_BYTES} bytes")]
    LabelTooLong,
    /// [`MAX_CHANNELS`] channels are open already.
    #[error("{MAX_CHANNELS} data channels are open already")]
    TooManyChannels,
    /// Every stream id of our parity is taken.
    #[error("no free SCTP stream id")]
    NoStreamId,
    /// The channel has [`MAX_BUFFERED_PER_CHANNEL`] bytes queued already.
    #[error("data channel {id} has {queued} bytes queued already")]
    QueueFull {
        /// The channel.
        id: u16,
        /// Bytes it has queued.
        queued: usize,
    },
    /// rtc-sctp refused the operation.
    #[error("SCTP: {0}")]
    Sctp(String),
}

fn stack(e: impl std::fmt::Display) -> SessionError {
    DataChannelError::Sctp(e.to_string()).into()
}

impl DataChannels {
    pub(crate) fn new(client: bool, remote_max_message_size: u32) -> DataChannels {
        DataChannels {
            client,
            remote_max_message_size,
            endpoint: None,
            association: None,
            connected: false,
            channels: BTreeMap::new(),
            readable: BTreeSet::new(),
            received: VecDeque::new(),
            received_bytes: 0,
            events: VecDeque::new(),
            transmits: VecDeque::new(),
            dirty: false,
            stats: DataChannelStats::default(),
        }
    }

    fn transport_config() -> TransportConfig {
        TransportConfig::default()
            .with_sctp_port(SCTP_PORT)
            .with_max_message_size(MAX_MESSAGE_SIZE)
            .with_max_receive_buffer_size(RECEIVE_BUFFER)
            .with_max_num_inbound_streams(MAX_STREAMS)
            .with_max_num_outbound_streams(MAX_STREAMS)
    }

    /// DTLS is up: the client sends its INIT, the server waits for the peer's.
    pub(crate) fn start(&mut self, now: Instant) {
        if self.endpoint.is_some() {
            return;
        }
        let config = Self::transport_config();
        let server = (!self.client).then(|| Arc::new(ServerConfig::new(config.clone())));
        let mut endpoint = Endpoint::new(
            SCTP_PEER,
            TransportProtocol::UDP,
            Arc::new(EndpointConfig::default()),
            server,
        );
        if self.client {
            match endpoint.connect(now, ClientConfig::new(config), SCTP_PEER) {
                Ok(association) => self.association = Some(association),
                Err(e) => tracing::warn!("SCTP association not started: {e}"),
            }
        }
        self.endpoint = Some(endpoint);
        self.process(now);
    }

    /// An SCTP packet from DTLS application data.
    pub(crate) fn handle_packet(&mut self, now: Instant, packet: BytesMut) {
        let Some(endpoint) = self.endpoint.as_mut() else {
            return;
        };
        match endpoint.handle(now, SCTP_PEER, None, packet.freeze()) {
            // One association per DTLS connection; a second INIT is not ours to accept.
            Some((handle, DatagramEvent::NewAssociation(a))) if self.association.is_none() => {
                endpoint.reject_new_associations();
                self.association = Some((handle, a));
            }
            Some((handle, DatagramEvent::AssociationEvent(event))) => {
                if let Some((_, a)) = self.association.as_mut().filter(|(h, _)| *h == handle) {
                    a.handle_event(event);
                }
            }
            _ => {}
        }
        self.process(now);
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let sctp = self
            .association
            .as_ref()
            .and_then(|(_, a)| a.poll_timeout());
        let closing = self.channels.values().filter_map(|c| c.close_deadline);
        sctp.into_iter().chain(closing).min()
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if let Some((_, a)) = self.association.as_mut() {
            if a.poll_timeout().is_some_and(|t| t <= now) {
                a.handle_timeout(now);
            }
        }
        self.process(now);
        let expired: Vec<u16> = self
            .channels
            .iter()
            .filter(|(_, c)| c.close_deadline.is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            tracing::debug!(id, "data channel closed without the peer's stream reset");
            self.closed(id);
        }
    }

    /// The next SCTP packet to send over DTLS.
    pub(crate) fn poll_transmit(&mut self) -> Option<Bytes> {
        self.transmits.pop_front()
    }

    pub(crate) fn poll_event(&mut self) -> Option<ChannelEvent> {
        self.events.pop_front()
    }

    /// The next message received; reading more from SCTP when room was made.
    pub(crate) fn poll_message(&mut self, now: Instant) -> Option<DataMessage> {
        if self.received.is_empty() && !self.readable.is_empty() {
            self.read(now);
            self.flush(now);
        }
        let m = self.received.pop_front()?;
        self.received_bytes -= m.data.len();
        Some(m)
    }

    pub(crate) fn stats(&self) -> DataChannelStats {
        self.stats
    }

    /// Follows the association: its events, what it has for us, what it sends.
    fn process(&mut self, now: Instant) {
        let mut events = Vec::new();
        let mut drained = false;
        let mut failed = false;
        if let Some((handle, a)) = self.association.as_mut() {
            while let Some(e) = a.poll() {
                if matches!(e, SctpEvent::Stream(StreamEvent::Opened { .. })) {
                    // Streams the peer opened queue for `accept_stream`; we track
                    // them by their data instead, so the queue is emptied.
                    while a.accept_stream().is_some() {}
                    continue;
                }
                events.push(e);
            }
            while let Some(e) = a.poll_endpoint_event() {
                drained |= e.is_drained();
                if let Some(endpoint) = self.endpoint.as_mut() {
                    endpoint.handle_event(*handle, e);
                }
            }
        }
        for e in events {
            match e {
                SctpEvent::Connected => {
                    self.connected = true;
                    let pending: Vec<u16> = self
                        .channels
                        .iter()
                        .filter(|(_, c)| c.state == State::Pending)
                        .map(|(id, _)| *id)
                        .collect();
                    for id in pending {
                        self.dial(now, id);
                    }
                }
                SctpEvent::Stream(StreamEvent::Readable { id }) => {
                    self.readable.insert(id);
                }
                SctpEvent::AssociationLost { id, reason } => {
                    tracing::debug!(id, "SCTP stream ended: {reason}");
                    self.closed(id);
                }
                SctpEvent::HandshakeFailed { reason } => {
                    tracing::debug!("SCTP handshake failed: {reason}");
                    failed = true;
                }
                _ => {}
            }
        }
        // A server's association reads Closed until the COOKIE-ECHO: only an
        // established one that closes is over.
        let closed = self.connected
            && self
                .association
                .as_ref()
                .is_some_and(|(_, a)| a.is_closed());
        if closed || drained || failed {
            self.flush(now);
            self.association = None;
            self.connected = false;
            self.readable.clear();
            let ids: Vec<u16> = self.channels.keys().copied().collect();
            ids.into_iter().for_each(|id| self.closed(id));
        }
        self.read(now);
        self.flush(now);
    }

    /// The association's packets, for DTLS.
    fn flush(&mut self, now: Instant) {
        let Some((_, a)) = self.association.as_mut() else {
            return;
        };
        while let Some(t) = a.poll_transmit(now) {
            if let Payload::RawEncode(packets) = t.message {
                self.transmits.extend(packets);
            }
        }
    }

    /// Reads complete messages from readable streams while there is room for them.
    fn read(&mut self, now: Instant) {
        let ids: Vec<u16> = self.readable.iter().copied().collect();
        for id in ids {
            loop {
                // Room for one more message of the largest size, in count and bytes.
                if self.received.len() >= MAX_RECEIVED_QUEUE
                    || self.received_bytes + MAX_MESSAGE_SIZE as usize > MAX_RECEIVED_BYTES
                {
                    return;
                }
                let Some((_, a)) = self.association.as_mut() else {
                    return;
                };
                // Data that came with the end of the handshake waits for Connected.
                if a.is_handshaking() {
                    return;
                }
                let chunks = match a.stream(id).and_then(|mut s| s.read_sctp()) {
                    Ok(Some(chunks)) => chunks,
                    Ok(None) | Err(_) => {
                        self.readable.remove(&id);
                        break;
                    }
                };
                match chunks.to_payload(MAX_MESSAGE_SIZE as usize) {
                    Ok(payload) => self.on_message(now, id, chunks.ppi, payload),
                    Err(_) => {
                        self.stats.messages_dropped_in += 1;
                        tracing::debug!(id, len = chunks.len(), "data channel message too large");
                    }
                }
            }
        }
    }

    fn on_message(&mut self, now: Instant, id: u16, ppi: Ppi, payload: BytesMut) {
        if ppi == Ppi::Dcep {
            match Message::unmarshal(&mut &payload[..]) {
                Ok(Message::DataChannelOpen(open)) => self.accept(now, id, open),
                Ok(Message::DataChannelAck(_)) => self.opened(id),
                Ok(_) | Err(_) => self.stats.messages_dropped_in += 1,
            }
            return;
        }
        let binary = match ppi {
            Ppi::String | Ppi::StringEmpty => false,
            Ppi::Binary | Ppi::BinaryEmpty => true,
            _ => {
                self.stats.messages_dropped_in += 1;
                return;
            }
        };
        let Some(channel) = self.channels.get(&id) else {
            // Data on a stream no channel owns: drop it, and reset the stream so SCTP
            // forgets it.
            self.stats.messages_dropped_in += 1;
            self.reset_stream(now, id);
            return;
        };
        if channel.state == State::Closing {
            self.stats.messages_dropped_in += 1;
            return;
        }
        let label = channel.label.clone();
        // RFC 8832 §6: user data before the ACK means the peer took the OPEN.
        self.opened(id);
        let data = if matches!(ppi, Ppi::StringEmpty | Ppi::BinaryEmpty) {
            Bytes::new()
        } else {
            payload.freeze()
        };
        self.stats.messages_received += 1;
        self.received_bytes += data.len();
        self.received.push_back(DataMessage {
            channel_id: id,
            label,
            binary,
            data,
        });
    }

    /// The peer's DATA_CHANNEL_OPEN on stream `id`: accepted within the bounds, ACKed.
    fn accept(&mut self, now: Instant, id: u16, open: DataChannelOpen) {
        if self.channels.contains_key(&id) {
            self.stats.messages_dropped_in += 1;
            return;
        }
        // RFC 8832 §6: the DTLS client's channels take even ids, the server's odd ones;
        // an OPEN on an id of our parity could take the stream of a channel of ours.
        if id % 2 == self.first_id() {
            self.stats.channels_refused += 1;
            tracing::debug!(id, "data channel refused: the stream id has our parity");
            self.reset_stream(now, id);
            return;
        }
        let text = |b: Vec<u8>| {
            (b.len() <= MAX_LABEL_BYTES)
                .then(|| String::from_utf8(b).ok())
                .flatten()
        };
        let (Some(label), Some(protocol)) = (text(open.label), text(open.protocol)) else {
            self.stats.channels_refused += 1;
            self.reset_stream(now, id);
            return;
        };
        if self.channels.len() >= MAX_CHANNELS {
            self.stats.channels_refused += 1;
            tracing::debug!(id, "data channel refused: {MAX_CHANNELS} channels open");
            self.reset_stream(now, id);
            return;
        }
        let Some((_, a)) = self.association.as_mut() else {
            return;
        };
        let ack = Message::DataChannelAck(DataChannelAck {}).marshal();
        let sent = a.stream(id).and_then(|mut s| {
            // Our side of the stream goes as the peer asked.
            let (unordered, kind) = DataChannel::get_reliability_params(open.channel_type);
            s.set_reliability_params(unordered, kind, open.reliability_parameter)?;
            s.write_with_ppi(now, &ack?, Ppi::Dcep)
        });
        if let Err(e) = sent {
            tracing::debug!(id, "DATA_CHANNEL_ACK not sent: {e}");
            self.stats.channels_refused += 1;
            return;
        }
        let label: Arc<str> = label.into();
        self.channels.insert(
            id,
            Channel {
                label: label.clone(),
                protocol,
                channel_type: open.channel_type,
                reliability_parameter: open.reliability_parameter,
                state: State::Open,
                close_deadline: None,
            },
        );
        self.stats.channels_opened += 1;
        self.events.push_back(ChannelEvent::Opened { id, label });
    }

    /// A channel of ours is acknowledged (or data arrived on it).
    fn opened(&mut self, id: u16) {
        if let Some(c) = self
            .channels
            .get_mut(&id)
            .filter(|c| c.state == State::Connecting)
        {
            c.state = State::Open;
            self.stats.channels_opened += 1;
            self.events.push_back(ChannelEvent::Opened {
                id,
                label: c.label.clone(),
            });
        }
    }

    fn closed(&mut self, id: u16) {
        self.readable.remove(&id);
        if let Some(c) = self.channels.remove(&id) {
            if c.state != State::Pending && c.state != State::Connecting {
                self.stats.channels_closed += 1;
            }
            self.events.push_back(ChannelEvent::Closed { id });
        }
    }

    fn reset_stream(&mut self, now: Instant, id: u16) {
        if let Some((_, a)) = self.association.as_mut() {
            if let Ok(mut s) = a.stream(id) {
                if let Err(e) = s.close(now) {
                    tracing::debug!(id, "stream not reset: {e}");
                }
            }
        }
    }

    /// Sends our DATA_CHANNEL_OPEN for channel `id` on a new stream.
    fn dial(&mut self, now: Instant, id: u16) {
        let (Some((_, a)), Some(c)) = (self.association.as_mut(), self.channels.get_mut(&id))
        else {
            return;
        };
        let open = Message::DataChannelOpen(DataChannelOpen {
            channel_type: c.channel_type,
            priority: CHANNEL_PRIORITY_NORMAL,
            reliability_parameter: c.reliability_parameter,
            label: c.label.as_bytes().to_vec(),
            protocol: c.protocol.as_bytes().to_vec(),
        });
        let sent = a.open_stream(id, Ppi::Dcep).and_then(|mut s| {
            let (unordered, kind) = DataChannel::get_reliability_params(c.channel_type);
            s.set_reliability_params(unordered, kind, c.reliability_parameter)?;
            s.write_with_ppi(now, &open.marshal()?, Ppi::Dcep)
        });
        match sent {
            Ok(_) => c.state = State::Connecting,
            Err(e) => {
                tracing::debug!(id, "DATA_CHANNEL_OPEN not sent: {e}");
                self.closed(id);
            }
        }
    }

    /// Creates a channel of ours (Kurento's `createDataChannel`); returns its id. It
    /// opens once the association is up and the peer acknowledged it.
    pub(crate) fn create(
        &mut self,
        now: Instant,
        label: &str,
        init: &DataChannelInit,
    ) -> Result<u16, SessionError> {
        if label.len() > MAX_LABEL_BYTES || init.protocol.len() > MAX_LABEL_BYTES {
            return Err(DataChannelError::LabelTooLong.into());
        }
        if self.channels.len() >= MAX_CHANNELS {
            return Err(DataChannelError::TooManyChannels.into());
        }
        let id = (self.first_id()..MAX_STREAMS)
            .step_by(2)
            .find(|id| !self.channels.contains_key(id) && !self.stream_in_use(*id))
            .ok_or(DataChannelError::NoStreamId)?;
        let (channel_type, reliability_parameter) =
            DataChannel::get_channel_type_and_reliability_parameter(
                init.ordered,
                init.max_retransmits,
                init.max_packet_life_time,
            );
        self.channels.insert(
            id,
            Channel {
                label: label.into(),
                protocol: init.protocol.clone(),
                channel_type,
                reliability_parameter,
                state: State::Pending,
                close_deadline: None,
            },
        );
        if self.connected {
            self.dial(now, id);
            self.flush(now);
        }
        Ok(id)
    }

    /// The first stream id of our parity: 0 as DTLS client, 1 as server.
    fn first_id(&self) -> u16 {
        if self.client {
            0
        } else {
            1
        }
    }

    fn stream_in_use(&self, id: u16) -> bool {
        self.association
            .as_ref()
            .is_some_and(|(_, a)| a.stream_ids().contains(&id))
    }

    /// Closes channel `id` (Kurento's `closeDataChannel`): its stream is reset, and
    /// DataChannelClosed follows the peer's reset, or CLOSE_TIMEOUT without it.
    pub(crate) fn close(&mut self, now: Instant, id: u16) -> Result<(), SessionError> {
        let Some(c) = self.channels.get_mut(&id) else {
            return Err(DataChannelError::NoSuchChannel(id).into());
        };
        match c.state {
            State::Pending => self.closed(id),
            State::Closing => {}
            State::Connecting | State::Open => {
                c.state = State::Closing;
                c.close_deadline = Some(now + CLOSE_TIMEOUT);
                self.reset_stream(now, id);
                self.flush(now);
            }
        }
        Ok(())
    }

    /// The channel a message for (`id`, `label`) goes on: the channel `id` when it has
    /// that label, else the first with the label; without a label, `id` or the first
    /// open channel.
    pub(crate) fn channel_for(&self, id: Option<u16>, label: Option<&str>) -> Option<u16> {
        let usable = |c: &Channel| c.state != State::Closing;
        let matches = |c: &Channel| label.is_none_or(|l| &*c.label == l) && usable(c);
        if let Some(id) = id.filter(|id| self.channels.get(id).is_some_and(matches)) {
            return Some(id);
        }
        self.channels
            .iter()
            .find(|(_, c)| matches(c))
            .map(|(id, _)| *id)
    }

    /// Sends one message on channel `id`.
    pub(crate) fn send(
        &mut self,
        now: Instant,
        id: u16,
        binary: bool,
        data: &Bytes,
    ) -> Result<(), SessionError> {
        let result = self.write(now, id, binary, data);
        match &result {
            Ok(()) => {
                self.stats.messages_sent += 1;
                self.dirty = true;
            }
            Err(_) => self.stats.messages_dropped_out += 1,
        }
        result
    }

    /// Packs what `send` wrote into SCTP packets (before the session's datagrams are
    /// taken).
    pub(crate) fn flush_pending(&mut self, now: Instant) {
        if std::mem::take(&mut self.dirty) {
            self.flush(now);
        }
    }

    fn write(
        &mut self,
        now: Instant,
        id: u16,
        binary: bool,
        data: &Bytes,
    ) -> Result<(), SessionError> {
        let limit = match self.remote_max_message_size {
            0 => MAX_MESSAGE_SIZE,
            peer => peer.min(MAX_MESSAGE_SIZE),
        };
        if data.len() > limit as usize {
            return Err(DataChannelError::TooLarge {
                size: data.len(),
                limit,
            }
            .into());
        }
        match self.channels.get(&id).map(|c| c.state) {
            Some(State::Connecting | State::Open) => {}
            Some(_) => return Err(DataChannelError::NotOpen(id).into()),
            None => return Err(DataChannelError::NoSuchChannel(id).into()),
        }
        let Some((_, a)) = self.association.as_mut() else {
            return Err(DataChannelError::NotConnected.into());
        };
        let mut stream = a.stream(id).map_err(stack)?;
        let queued = stream.buffered_amount().map_err(stack)?;
        if queued + data.len() > MAX_BUFFERED_PER_CHANNEL {
            return Err(DataChannelError::QueueFull { id, queued }.into());
        }
        // SCTP carries no empty message: the Empty PPIDs and one byte (RFC 8831 §6.6).
        let (ppi, payload) = match (binary, data.is_empty()) {
            (true, false) => (Ppi::Binary, data.clone()),
            (false, false) => (Ppi::String, data.clone()),
            (true, true) => (Ppi::BinaryEmpty, Bytes::from_static(&[0])),
            (false, true) => (Ppi::StringEmpty, Bytes::from_static(&[0])),
        };
        stream
            .write_chunk_with_ppi(now, &payload, ppi)
            .map_err(stack)?;
        Ok(())
    }

    /// Ends the association (W3C `close()`: an ABORT) and every channel with it.
    pub(crate) fn shutdown(&mut self, now: Instant) {
        self.flush(now);
        if let Some((_, a)) = self.association.as_mut() {
            if let Err(e) = a.abort() {
                tracing::debug!("SCTP abort: {e}");
            }
        }
        self.flush(now);
        self.association = None;
        self.connected = false;
        let ids: Vec<u16> = self.channels.keys().copied().collect();
        ids.into_iter().for_each(|id| self.closed(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client and a server association in memory, without DTLS, connected.
    fn pair(now: Instant) -> (DataChannels, DataChannels) {
        let (mut c, mut s) = (DataChannels::new(true, 0), DataChannels::new(false, 0));
        s.start(now);
        c.start(now);
        shuttle(&mut c, &mut s, now);
        assert!(c.connected && s.connected);
        (c, s)
    }

    fn shuttle(a: &mut DataChannels, b: &mut DataChannels, now: Instant) {
        for _ in 0..100 {
            a.flush_pending(now);
            b.flush_pending(now);
            let ab: Vec<Bytes> = std::iter::from_fn(|| a.poll_transmit()).collect();
            let ba: Vec<Bytes> = std::iter::from_fn(|| b.poll_transmit()).collect();
            if ab.is_empty() && ba.is_empty() {
                return;
            }
            ab.into_iter()
                .for_each(|p| b.handle_packet(now, BytesMut::from(&p[..])));
            ba.into_iter()
                .for_each(|p| a.handle_packet(now, BytesMut::from(&p[..])));
        }
    }

    /// Writes raw `payload` with `ppi` on stream `id` of `from`'s association, as a
    /// peer that does not follow DCEP would.
    fn raw(from: &mut DataChannels, now: Instant, id: u16, ppi: Ppi, payload: &[u8]) {
        let (_, a) = from.association.as_mut().unwrap();
        let mut s = match a.stream(id) {
            Ok(s) => s,
            Err(_) => a.open_stream(id, ppi).unwrap(),
        };
        s.write_with_ppi(now, payload, ppi).unwrap();
        from.flush(now);
    }

    #[test]
    fn garbage_and_protocol_violations_are_dropped_and_counted() {
        let now = Instant::now();
        let (mut c, mut s) = pair(now);
        // Not SCTP at all, and truncated SCTP: ignored by the endpoint.
        for junk in [&b""[..], b"\x00", &[0xffu8; 11], &[0x13u8; 1200]] {
            s.handle_packet(now, BytesMut::from(junk));
        }
        // User data on a stream no channel owns: dropped, and the stream reset.
        raw(&mut c, now, 10, Ppi::String, b"who am I");
        // A DATA_CHANNEL_OPEN whose label is not UTF-8: refused.
        let open = Message::DataChannelOpen(DataChannelOpen {
            channel_type: ChannelType::Reliable,
            priority: CHANNEL_PRIORITY_NORMAL,
            reliability_parameter: 0,
            label: vec![0xff, 0xfe],
            protocol: Vec::new(),
        })
        .marshal()
        .unwrap();
        raw(&mut c, now, 12, Ppi::Dcep, &open);
        // DCEP that does not parse, and an unknown PPID on a real channel.
        raw(&mut c, now, 14, Ppi::Dcep, &[0x03, 0x00]);
        shuttle(&mut c, &mut s, now);
        let id = c.create(now, "ok", &DataChannelInit::default()).unwrap();
        shuttle(&mut c, &mut s, now);
        while s.poll_message(now).is_some() {}
        raw(&mut c, now, id, Ppi::Unknown, b"?");
        shuttle(&mut c, &mut s, now);
        assert!(s.poll_message(now).is_none());
        let stats = s.stats();
        assert_eq!(stats.channels_refused, 1, "{stats:?}");
        assert_eq!(stats.messages_dropped_in, 3, "{stats:?}");
        assert_eq!(stats.channels_opened, 1);
        // The channel still works.
        c.send(now, id, false, &Bytes::from_static(b"fine"))
            .unwrap();
        shuttle(&mut c, &mut s, now);
        let m = s.poll_message(now).unwrap();
        assert_eq!(
            (m.channel_id, &*m.label, &m.data[..]),
            (id, "ok", &b"fine"[..])
        );
    }

    #[test]
    fn what_a_caller_passes_is_bounded() {
        let now = Instant::now();
        let (mut c, mut s) = pair(now);
        let long = "x".repeat(MAX_LABEL_BYTES + 1);
        assert!(c.create(now, &long, &DataChannelInit::default()).is_err());
        assert!(c.close(now, 7).is_err());
        assert!(c.send(now, 7, true, &Bytes::from_static(b"x")).is_err());
        let id = c.create(now, "big", &DataChannelInit::default()).unwrap();
        shuttle(&mut c, &mut s, now);
        // Past the queue bound: refused while the first ones are unacknowledged.
        let chunk = Bytes::from(vec![7u8; MAX_MESSAGE_SIZE as usize]);
        let mut accepted = 0;
        for _ in 0..8 {
            if c.send(now, id, true, &chunk).is_ok() {
                accepted += 1;
            }
        }
        assert!(
            accepted * chunk.len() <= MAX_BUFFERED_PER_CHANNEL,
            "{accepted}"
        );
        assert!(c.stats().messages_dropped_out >= 4, "{:?}", c.stats());
        // Too large for one message.
        let huge = Bytes::from(vec![0u8; MAX_MESSAGE_SIZE as usize + 1]);
        assert!(c.send(now, id, true, &huge).is_err());
    }

    fn open_message(label: &str) -> Vec<u8> {
        Message::DataChannelOpen(DataChannelOpen {
            channel_type: ChannelType::Reliable,
            priority: CHANNEL_PRIORITY_NORMAL,
            reliability_parameter: 0,
            label: label.as_bytes().to_vec(),
            protocol: Vec::new(),
        })
        .marshal()
        .unwrap()
        .to_vec()
    }

    /// RFC 8832 §6: the client (`c`) opens channels on even ids, the server (`s`) on
    /// odd ones. A DATA_CHANNEL_OPEN on an id of the receiver's own parity is refused
    /// (counted, its stream reset), one of the sender's parity accepted; each side's
    /// own channels keep their parity.
    #[test]
    fn an_open_on_a_stream_id_of_our_parity_is_refused() {
        let now = Instant::now();
        let (mut c, mut s) = pair(now);
        // c opens on 7, odd: s's parity. And s on 4, even: c's.
        raw(
            &mut c,
            now,
            7,
            Ppi::Dcep,
            &open_message("odd from the client"),
        );
        raw(
            &mut s,
            now,
            4,
            Ppi::Dcep,
            &open_message("even from the server"),
        );
        shuttle(&mut c, &mut s, now);
        assert_eq!(s.stats().channels_refused, 1, "{:?}", s.stats());
        assert_eq!(c.stats().channels_refused, 1, "{:?}", c.stats());
        assert!(s.channels.is_empty() && c.channels.is_empty());
        assert!(s.poll_event().is_none() && c.poll_event().is_none());
        // The right parity is accepted.
        raw(
            &mut c,
            now,
            8,
            Ppi::Dcep,
            &open_message("even from the client"),
        );
        raw(
            &mut s,
            now,
            9,
            Ppi::Dcep,
            &open_message("odd from the server"),
        );
        shuttle(&mut c, &mut s, now);
        assert!(matches!(
            s.poll_event(),
            Some(ChannelEvent::Opened { id: 8, .. })
        ));
        assert!(matches!(
            c.poll_event(),
            Some(ChannelEvent::Opened { id: 9, .. })
        ));
        let init = DataChannelInit::default();
        assert_eq!(c.create(now, "mine", &init).unwrap() % 2, 0);
        assert_eq!(s.create(now, "mine", &init).unwrap() % 2, 1);
    }

    /// An SCTP packet with a RE-CONFIG chunk (type 130) in it: a stream reset.
    fn has_reconfig(packet: &[u8]) -> bool {
        let mut at = 12;
        while at + 4 <= packet.len() {
            if packet[at] == 130 {
                return true;
            }
            let len = u16::from_be_bytes([packet[at + 2], packet[at + 3]]) as usize;
            at += len.max(4).div_ceil(4) * 4;
        }
        false
    }

    /// A peer that ignores our stream resets (none of its RE-CONFIG chunks reach us)
    /// cannot keep our closed channels Closing, and taking MAX_CHANNELS places, for
    /// ever: they close after CLOSE_TIMEOUT.
    #[test]
    fn channels_whose_reset_the_peer_ignores_close_after_a_timeout() {
        let mut now = Instant::now();
        let (mut c, mut s) = pair(now);
        let init = DataChannelInit::default();
        let ids: Vec<u16> = (0..MAX_CHANNELS)
            .map(|i| c.create(now, &format!("c{i}"), &init).unwrap())
            .collect();
        shuttle(&mut c, &mut s, now);
        let opened = std::iter::from_fn(|| c.poll_event())
            .filter(|e| matches!(e, ChannelEvent::Opened { .. }))
            .count();
        assert_eq!(opened, MAX_CHANNELS);
        for id in &ids {
            c.close(now, *id).unwrap();
        }
        let end = now + CLOSE_TIMEOUT + Duration::from_secs(1);
        let mut full_while_closing = false;
        while now < end {
            c.flush_pending(now);
            let cs: Vec<Bytes> = std::iter::from_fn(|| c.poll_transmit()).collect();
            cs.into_iter()
                .for_each(|p| s.handle_packet(now, BytesMut::from(&p[..])));
            let sc: Vec<Bytes> = std::iter::from_fn(|| s.poll_transmit()).collect();
            sc.into_iter()
                .filter(|p| !has_reconfig(p))
                .for_each(|p| c.handle_packet(now, BytesMut::from(&p[..])));
            if now + CLOSE_TIMEOUT / 2 < end && !full_while_closing {
                full_while_closing = true;
                assert!(c.channels.values().all(|ch| ch.state == State::Closing));
                assert!(c.create(now, "full", &init).is_err());
            }
            now += Duration::from_millis(100);
            c.handle_timeout(now);
            s.handle_timeout(now);
        }
        let closed: Vec<u16> = std::iter::from_fn(|| c.poll_event())
            .filter_map(|e| match e {
                ChannelEvent::Closed { id } => Some(id),
                _ => None,
            })
            .collect();
        assert_eq!(closed, ids);
        assert!(c.channels.is_empty());
        assert_eq!(c.stats().channels_closed, MAX_CHANNELS as u64);
        // Room again, on a stream the closed ones no longer hold.
        let id = c.create(now, "again", &init).unwrap();
        shuttle(&mut c, &mut s, now);
        assert!(matches!(c.poll_event(), Some(ChannelEvent::Opened { id: i, .. }) if i == id));
    }

    /// Moves packets both ways, then advances to the next timer of either side.
    fn step(c: &mut DataChannels, s: &mut DataChannels, now: &mut Instant) {
        shuttle(c, s, *now);
        let next = [c.poll_timeout(), s.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(*now + Duration::from_millis(20));
        *now = next.clamp(
            *now + Duration::from_millis(1),
            *now + Duration::from_millis(200),
        );
        c.handle_timeout(*now);
        s.handle_timeout(*now);
    }

    /// A burst of the largest messages while nobody polls: what waits to be polled stays
    /// within MAX_RECEIVED_BYTES (the rest is held back by SCTP's window, the sender's
    /// queue full), and once polled every message arrives, in order.
    #[test]
    fn received_messages_are_held_up_to_a_byte_bound_then_all_arrive() {
        let mut now = Instant::now();
        let (mut c, mut s) = pair(now);
        let id = c.create(now, "bulk", &DataChannelInit::default()).unwrap();
        shuttle(&mut c, &mut s, now);
        assert!(s.poll_message(now).is_none());
        let total = 24;
        let message = |i: usize| Bytes::from(vec![i as u8; MAX_MESSAGE_SIZE as usize]);
        let (mut sent, mut got, mut most_held) = (0, Vec::new(), 0);
        let start = now;
        for _ in 0..5000 {
            while sent < total && c.send(now, id, true, &message(sent)).is_ok() {
                sent += 1;
            }
            step(&mut c, &mut s, &mut now);
            let held: usize = s.received.iter().map(|m| m.data.len()).sum();
            assert_eq!(held, s.received_bytes);
            assert!(held <= MAX_RECEIVED_BYTES, "{held} bytes held");
            most_held = most_held.max(held);
            // Nobody polls for 2 s, then everything is. (Not much longer: SCTP counts
            // the zero-window probes it drops as losses, and after 6 T3-rtx in a row,
            // about a minute, gives the association up.)
            if now - start >= Duration::from_secs(2) {
                got.extend(std::iter::from_fn(|| s.poll_message(now)));
            }
            if got.len() == total {
                break;
            }
        }
        assert!(most_held > MAX_RECEIVED_BYTES / 2, "{most_held}");
        assert_eq!(got.len(), total, "sent {sent}, {:?}", s.stats());
        for (i, m) in got.iter().enumerate() {
            assert_eq!(m.data, message(i));
        }
        assert_eq!(s.stats().messages_dropped_in, 0);
        assert_eq!(s.received_bytes, 0);
    }
}
