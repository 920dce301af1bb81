//! Kurento's view of a session: the ICE component, DTLS, connection and media states,
//! and the events their changes raise, in the order Kurento raises them.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::types::{ConnectionState, DtlsConnectionState, IceComponentState, MediaState};
use crate::SessionEvent;

/// The states and the events not yet polled.
pub(crate) struct States {
    pub(crate) events: VecDeque<SessionEvent>,
    pub(crate) ice: IceComponentState,
    pub(crate) connection: ConnectionState,
    pub(crate) media: MediaState,
    pub(crate) dtls: DtlsConnectionState,
    /// Connectivity checks run (or the peer's candidates are there to check).
    pub(crate) checking: bool,
    /// ICE connected while DTLS was not up yet: the handshake deadline runs from here.
    pub(crate) ice_connected_at: Option<Instant>,
    /// When the last RTCP report arrived (MediaState).
    pub(crate) last_rtcp: Option<Instant>,
    /// NewCandidatePairSelected was raised (ICE connected at least once).
    pub(crate) pair_announced: bool,
    /// The connection was up once.
    pub(crate) connection_seen: bool,
}

impl States {
    pub(crate) fn new() -> States {
        States {
            events: VecDeque::new(),
            ice: IceComponentState::Disconnected,
            connection: ConnectionState::Disconnected,
            media: MediaState::Disconnected,
            dtls: DtlsConnectionState::New,
            checking: false,
            ice_connected_at: None,
            last_rtcp: None,
            pair_announced: false,
            connection_seen: false,
        }
    }

    pub(crate) fn push(&mut self, event: SessionEvent) {
        self.events.push_back(event);
    }

    pub(crate) fn set_ice(&mut self, state: IceComponentState) {
        if self.ice != state {
            self.ice = state;
            self.push(SessionEvent::IceComponentStateChanged {
                stream_id: 1,
                component_id: 1,
                state,
            });
        }
    }

    /// libnice's order: GATHERING, then CONNECTING once checks run. Checks may start
    /// before our gathering; Connecting is reported when both happened.
    pub(crate) fn maybe_connecting(&mut self) {
        if self.checking && self.ice == IceComponentState::Gathering {
            self.set_ice(IceComponentState::Connecting);
        }
    }

    pub(crate) fn set_connection(&mut self, new: ConnectionState) {
        let old = std::mem::replace(&mut self.connection, new);
        if old != new {
            self.push(SessionEvent::ConnectionStateChanged { old, new });
        }
    }

    pub(crate) fn set_media(&mut self, new: MediaState) {
        let old = std::mem::replace(&mut self.media, new);
        if old != new {
            self.push(SessionEvent::MediaStateChanged { old, new });
        }
    }

    pub(crate) fn set_dtls(&mut self, state: DtlsConnectionState) {
        if self.dtls != state {
            self.dtls = state;
            self.push(SessionEvent::DtlsConnectionStateChange(state));
        }
    }

    /// An RTCP report arrived: media is connected.
    pub(crate) fn rtcp_report_seen(&mut self, now: Instant) {
        self.last_rtcp = Some(now);
        self.set_media(MediaState::Connected);
    }

    /// When MediaState turns Disconnected unless RTCP arrives first.
    pub(crate) fn media_deadline(&self, timeout: Duration) -> Option<Instant> {
        match (self.media, self.last_rtcp) {
            (MediaState::Connected, Some(t)) => Some(t + timeout),
            _ => None,
        }
    }

    /// MediaState turns Disconnected after `timeout` without RTCP.
    pub(crate) fn check_media_timeout(&mut self, now: Instant, timeout: Duration) {
        if self.media_deadline(timeout).is_some_and(|t| t <= now) {
            self.set_media(MediaState::Disconnected);
        }
    }

    /// The session failed for good (DTLS or ICE), once.
    pub(crate) fn fail(&mut self, reason: &str) {
        if self.dtls == DtlsConnectionState::Failed {
            return;
        }
        self.ice_connected_at = None;
        self.set_dtls(DtlsConnectionState::Failed);
        self.set_connection(ConnectionState::Disconnected);
        self.push(SessionEvent::Failed(reason.to_owned()));
    }
}
