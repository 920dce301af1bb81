//! The protocol core: no sockets and no threads of its own.
//!
//! A transport hands it each text message of a connection together with that
//! connection's [`Connection`] context and the time ([`Core::handle`]), and sends the
//! response text it returns; notifications (`onEvent`) queue on the connection's
//! session and leave through [`Connection::take_notifications`]. The core holds the
//! object registry (ids → mediaflow handles), the sessions, the subscriptions, the
//! duplicate-request cache and the limits. Time only enters as arguments, so expiry
//! (sessions past their grace period, cached responses past 20 s) runs when the
//! transport calls [`Core::tick`].
//!
//! Media work is mediaflow's: the core calls its API (which waits for the pipeline's
//! worker, bounded by mediaflow's call timeout) without holding its own lock.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use mediaflow::{
    Event, ListenerId, MediaElement, MediaPipeline, PassThrough, PlayerEndpoint, RecorderEndpoint,
    RtpEndpoint, Runtime, WebRtcEndpoint,
};
use serde_json::{json, Map, Value};

use crate::elements::{StopOnEndOfStream, UriState};
use crate::invoke::{self, EndpointInfo, EndpointSettings, Target};
use crate::kurento::{self, Class, SERVER_MANAGER};
use crate::rpc::{self, Params, Request, RpcError};

/// How long a response stays in the duplicate-request cache (KMS: 20 s).
pub const CACHE_LIFETIME: Duration = Duration::from_secs(20);
/// Most responses cached at once; the oldest go first past it.
const MAX_CACHED: usize = 4096;
/// Notifications a session holds for its connection; more are dropped (and logged).
const OUTBOX_CAPACITY: usize = 4096;
/// Elements one pipeline may hold.
const MAX_ELEMENTS_PER_PIPELINE: usize = 256;
/// Longest session id a client may choose (ours are 36-byte UUIDs).
const MAX_SESSION_ID: usize = 256;
/// Subscriptions one object (or the ServerManager) may have.
const MAX_SUBSCRIPTIONS: usize = 256;
/// Released ids remembered for events still in flight (an ElementDisconnected's sink).
const GRAVEYARD: usize = 1024;

/// Settings every WebRtcEndpoint is built with (Kurento keeps these in
/// `WebRtcEndpoint.conf.ini`; here they are server options).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointOptions {
    /// Interfaces to gather host candidates on (all when empty).
    pub interfaces: Vec<String>,
    /// UDP port range for media.
    pub port_range: Option<(u16, u16)>,
    /// STUN server (host, port).
    pub stun: Option<(String, u16)>,
    /// TURN server as `user:password@host:port`.
    pub turn_url: Option<String>,
    /// Public IPv4 address announced for host candidates.
    pub external_ipv4: Option<Ipv4Addr>,
    /// Public IPv6 address announced for host candidates.
    pub external_ipv6: Option<Ipv6Addr>,
    /// Largest playout delay asked of a peer's receiver, in ms (0: never; `None`:
    /// mediaflow's default).
    pub max_playout_delay: Option<u32>,
}

/// Limits and settings of a [`Core`].
#[derive(Clone, Debug)]
pub struct Config {
    /// Sessions alive at once; creating one more answers 40009.
    pub max_sessions: usize,
    /// Pipelines alive at once; creating one more answers 40009.
    pub max_pipelines: usize,
    /// How long the objects of a session whose last connection dropped are kept for a
    /// reconnect (`connect {sessionId}`) before they are released.
    pub session_grace: Duration,
    /// Settings of every WebRtcEndpoint.
    pub endpoint: EndpointOptions,
    /// The runtime pipelines run on (mediaflow's global one when `None`).
    pub runtime: Option<Runtime>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_sessions: 1000,
            max_pipelines: 1000,
            session_grace: Duration::from_secs(60),
            endpoint: EndpointOptions::default(),
            runtime: None,
        }
    }
}

/// A session's queue of notifications. Its receiver goes to whichever connection is
/// attached to the session, so events raised while no connection was there are
/// delivered after a reconnect.
#[derive(Clone)]
pub(crate) struct Outbox {
    tx: Sender<String>,
    rx: Receiver<String>,
}

impl Outbox {
    fn new() -> Outbox {
        let (tx, rx) = bounded(OUTBOX_CAPACITY);
        Outbox { tx, rx }
    }

    /// Queues a notification; drops it when the session's queue is full.
    pub(crate) fn push(&self, notification: Value) {
        if let Err(TrySendError::Full(_)) = self.tx.try_send(notification.to_string()) {
            tracing::warn!("a session's notification queue is full: event dropped");
        }
    }
}

struct Session {
    outbox: Outbox,
    connections: usize,
    detached_since: Option<Instant>,
}

/// The mediaflow handle behind an object.
#[derive(Clone)]
pub(crate) enum Media {
    Pipeline(MediaPipeline),
    WebRtc(WebRtcEndpoint),
    PassThrough(PassThrough),
    Recorder(RecorderEndpoint),
    Player(PlayerEndpoint),
    Rtp(RtpEndpoint),
}

impl Media {
    pub(crate) fn element(&self) -> Option<&MediaElement> {
        match self {
            Media::Pipeline(_) => None,
            Media::WebRtc(e) => Some(e),
            Media::PassThrough(e) => Some(e),
            Media::Recorder(e) => Some(e),
            Media::Player(e) => Some(e),
            Media::Rtp(e) => Some(e),
        }
    }

    fn mediaflow_id(&self) -> &str {
        match self {
            Media::Pipeline(p) => p.id(),
            other => other.element().map_or("", MediaElement::id),
        }
    }

    fn remove_listener(&self, id: ListenerId) {
        match self {
            Media::Pipeline(p) => p.remove_listener(id),
            other => other.element().is_some_and(|e| e.remove_listener(id)),
        };
    }
}

struct Subscription {
    session: String,
    listener: Option<ListenerId>,
    event_type: String,
}

pub(crate) struct Object {
    pub(crate) class: Class,
    pub(crate) media: Media,
    /// The pipeline's id (its own for a pipeline).
    pub(crate) pipeline: String,
    pub(crate) children: Vec<String>,
    pub(crate) name: String,
    pub(crate) creation_time: u64,
    /// Tags of a pipeline (elements keep theirs in mediaflow).
    pub(crate) tags: Vec<(String, String)>,
    pub(crate) send_tags_in_events: bool,
    pub(crate) latency_stats: bool,
    pub(crate) endpoint: Option<Arc<EndpointInfo>>,
    /// A RecorderEndpoint's or PlayerEndpoint's Kurento `UriEndpointState` (STOP, START,
    /// PAUSE), as its calls (and a player's end of file) left it.
    pub(crate) uri_state: UriState,
    sessions: HashSet<String>,
    subscriptions: HashMap<String, Subscription>,
}

#[derive(Default)]
pub(crate) struct State {
    sessions: HashMap<String, Session>,
    pub(crate) objects: HashMap<String, Object>,
    /// (session, request id) → (when, the request's fingerprint, the response).
    cache: HashMap<(String, String), (Instant, u64, String)>,
    cache_order: VecDeque<(Instant, (String, String))>,
    manager_subscriptions: HashMap<String, Subscription>,
}

/// mediaflow's ids of live (and recently released) objects → Kurento ids, for the
/// event handlers, which run on mediaflow's dispatcher threads.
#[derive(Default)]
pub(crate) struct IdMap {
    live: RwLock<HashMap<String, String>>,
    released: Mutex<VecDeque<(String, String)>>,
}

impl IdMap {
    pub(crate) fn kurento_id(&self, mediaflow_id: &str) -> String {
        if let Some(id) = read(&self.live).get(mediaflow_id) {
            return id.clone();
        }
        lock(&self.released)
            .iter()
            .find(|(m, _)| m == mediaflow_id)
            .map_or_else(|| mediaflow_id.to_owned(), |(_, k)| k.clone())
    }

    fn insert(&self, mediaflow_id: &str, kurento_id: &str) {
        write(&self.live).insert(mediaflow_id.to_owned(), kurento_id.to_owned());
    }

    fn remove(&self, mediaflow_id: &str) {
        if let Some(k) = write(&self.live).remove(mediaflow_id) {
            let mut released = lock(&self.released);
            if released.len() >= GRAVEYARD {
                released.pop_front();
            }
            released.push_back((mediaflow_id.to_owned(), k));
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|p| p.into_inner())
}

/// What a connection carries between its messages: the session it is attached to and
/// that session's notification queue.
#[derive(Default)]
pub struct Connection {
    session: Option<String>,
    notifications: Option<Receiver<String>>,
}

impl Connection {
    /// The session this connection is attached to, once a request made or named one.
    pub fn session_id(&self) -> Option<&str> {
        self.session.as_deref()
    }

    /// Notifications (`onEvent` texts) queued for this connection's session.
    pub fn take_notifications(&self) -> Vec<String> {
        self.notifications
            .as_ref()
            .map(|rx| rx.try_iter().take(OUTBOX_CAPACITY).collect())
            .unwrap_or_default()
    }
}

/// Counts for logs and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    /// Sessions alive.
    pub sessions: usize,
    /// Pipelines alive.
    pub pipelines: usize,
    /// Objects alive (pipelines and elements).
    pub objects: usize,
}

/// The Kurento Protocol server without its transport. Shared by every connection
/// (`&self` methods; it locks internally).
pub struct Core {
    config: Config,
    server_id: String,
    state: Mutex<State>,
    ids: Arc<IdMap>,
    stop_on_eos: StopOnEndOfStream,
}

fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Where a request runs: its connection, its time, and whether it is inside a
/// transaction.
struct Ctx<'a> {
    conn: &'a mut Connection,
    now: Instant,
    in_transaction: bool,
}

impl Core {
    /// A core with `config`'s limits.
    pub fn new(config: Config) -> Core {
        Core {
            config,
            server_id: new_uuid(),
            state: Mutex::new(State::default()),
            ids: Arc::new(IdMap::default()),
            stop_on_eos: StopOnEndOfStream::default(),
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Sessions, pipelines and objects alive now.
    pub fn counts(&self) -> Counts {
        let state = self.state();
        Counts {
            sessions: state.sessions.len(),
            pipelines: state
                .objects
                .values()
                .filter(|o| o.class == Class::MediaPipeline)
                .count(),
            objects: state.objects.len(),
        }
    }

    /// Handles one text message of `conn`; returns the response to send (none for a
    /// JSON-RPC notification). Never panics on any input.
    pub fn handle(&self, conn: &mut Connection, text: &str, now: Instant) -> Option<String> {
        let request = match rpc::parse_request(text) {
            Ok(r) => r,
            Err(rejected) => {
                return Some(rpc::error_response(&rejected.id, &rejected.error).to_string())
            }
        };
        let id = request.id.clone();
        // KMS's duplicate-request cache: a retried id of the same session within 20 s
        // gets the first response, and the request is not executed again. Unlike KMS,
        // only when it is the same request (method and params): another client of the
        // session that counts its ids from 1 again is not answered from the cache.
        let fingerprint = fingerprint(&request);
        let cache_session = request
            .params
            .opt_str("sessionId")
            .ok()
            .flatten()
            .map(str::to_owned)
            .or_else(|| conn.session.clone());
        if let (Some(id), Some(session)) = (&id, &cache_session) {
            let key = (session.clone(), id.to_string());
            let mut state = self.state();
            if let Some((at, print, text)) = state.cache.get(&key) {
                if now.duration_since(*at) < CACHE_LIFETIME && *print == fingerprint {
                    let text = text.clone();
                    if state.sessions.contains_key(session) {
                        Self::attach(&mut state, conn, session, now);
                    }
                    return Some(text);
                }
            }
        }
        let mut ctx = Ctx {
            conn,
            now,
            in_transaction: false,
        };
        let outcome = self.dispatch(&mut ctx, request);
        let id = id?;
        let response = match &outcome {
            Ok(result) => rpc::result_response(&id, result.clone()),
            Err(e) => rpc::error_response(&id, e),
        };
        let text = response.to_string();
        let session = outcome
            .as_ref()
            .ok()
            .and_then(|r| r.get("sessionId"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or(cache_session);
        if let Some(session) = session {
            self.remember(&session, &id, fingerprint, &text, now);
        }
        Some(text)
    }

    fn remember(&self, session: &str, id: &Value, fingerprint: u64, text: &str, now: Instant) {
        let mut state = self.state();
        let key = (session.to_owned(), id.to_string());
        while state.cache_order.len() >= MAX_CACHED {
            if let Some((_, old)) = state.cache_order.pop_front() {
                state.cache.remove(&old);
            }
        }
        state.cache_order.push_back((now, key.clone()));
        state.cache.insert(key, (now, fingerprint, text.to_owned()));
    }

    /// The response to an oversized message (the transport refuses to read it).
    pub fn too_large(max: usize) -> String {
        rpc::error_response(
            &Value::Null,
            &RpcError::invalid_request(format!("message too large: at most {max} bytes")),
        )
        .to_string()
    }

    /// The response to a binary message that is not UTF-8.
    pub fn not_utf8() -> String {
        rpc::error_response(
            &Value::Null,
            &RpcError::parse_error("Parse error: the message is not UTF-8"),
        )
        .to_string()
    }

    /// The connection closed: its session (if no other connection holds it) starts its
    /// grace period.
    pub fn disconnected(&self, conn: &mut Connection, now: Instant) {
        let mut state = self.state();
        Self::detach(&mut state, conn, now);
    }

    /// Expires what is due at `now`: cached responses older than 20 s, and sessions
    /// without a connection for longer than the grace period (their objects are
    /// released).
    pub fn tick(&self, now: Instant) {
        let expired: Vec<String> = {
            let mut state = self.state();
            while let Some((at, _)) = state.cache_order.front() {
                if now.duration_since(*at) < CACHE_LIFETIME {
                    break;
                }
                if let Some((at, key)) = state.cache_order.pop_front() {
                    if state.cache.get(&key).is_some_and(|(t, _, _)| *t == at) {
                        state.cache.remove(&key);
                    }
                }
            }
            state
                .sessions
                .iter()
                .filter(|(_, s)| {
                    s.detached_since
                        .is_some_and(|t| now.duration_since(t) >= self.config.session_grace)
                })
                .map(|(id, _)| id.clone())
                .collect()
        };
        for session in expired {
            tracing::info!(%session, "session expired: releasing its objects");
            self.close_session(&session, false);
        }
    }

    /// Releases every object (server shutdown).
    pub fn shutdown(&self) {
        let pipelines: Vec<String> = self
            .state()
            .objects
            .iter()
            .filter(|(_, o)| o.class == Class::MediaPipeline)
            .map(|(id, _)| id.clone())
            .collect();
        for id in pipelines {
            let _ = self.release_object(&id);
        }
    }

    fn attach(state: &mut State, conn: &mut Connection, session: &str, now: Instant) {
        if conn.session.as_deref() == Some(session) {
            return;
        }
        Self::detach(state, conn, now);
        if let Some(s) = state.sessions.get_mut(session) {
            s.connections += 1;
            s.detached_since = None;
            conn.session = Some(session.to_owned());
            conn.notifications = Some(s.outbox.rx.clone());
        }
    }

    fn detach(state: &mut State, conn: &mut Connection, now: Instant) {
        if let Some(old) = conn.session.take() {
            if let Some(s) = state.sessions.get_mut(&old) {
                s.connections = s.connections.saturating_sub(1);
                if s.connections == 0 {
                    s.detached_since = Some(now);
                }
            }
        }
        conn.notifications = None;
    }

    fn new_session(&self, state: &mut State, id: String) -> Result<String, RpcError> {
        if id.len() > MAX_SESSION_ID {
            return Err(RpcError::invalid_params(format!(
                "a sessionId has at most {MAX_SESSION_ID} bytes"
            )));
        }
        if state.sessions.len() >= self.config.max_sessions {
            return Err(RpcError::not_enough_resources(format!(
                "too many sessions (at most {})",
                self.config.max_sessions
            )));
        }
        state.sessions.insert(
            id.clone(),
            Session {
                outbox: Outbox::new(),
                connections: 0,
                detached_since: None,
            },
        );
        Ok(id)
    }

    /// The session a request runs in: the one it names (created under that id when
    /// unknown, as KMS does), else the connection's, else a new one. The connection is
    /// attached to it.
    fn session(&self, ctx: &mut Ctx<'_>, params: &Map<String, Value>) -> Result<String, RpcError> {
        let named = params.opt_str("sessionId")?.map(str::to_owned);
        let mut state = self.state();
        let id = match named {
            Some(id) if state.sessions.contains_key(&id) => id,
            Some(id) => self.new_session(&mut state, id)?,
            None => match &ctx.conn.session {
                Some(id) if state.sessions.contains_key(id) => id.clone(),
                _ => self.new_session(&mut state, new_uuid())?,
            },
        };
        Self::attach(&mut state, ctx.conn, &id, ctx.now);
        Ok(id)
    }

    fn dispatch(&self, ctx: &mut Ctx<'_>, request: Request) -> Result<Value, RpcError> {
        let params = request.params;
        match request.method.as_str() {
            "ping" => {
                let mut result = json!({"value": "pong"});
                let session = params
                    .opt_str("sessionId")?
                    .map(str::to_owned)
                    .or_else(|| ctx.conn.session.clone());
                if let Some(s) = session {
                    result["sessionId"] = s.into();
                }
                Ok(result)
            }
            "connect" => self.connect(ctx, &params),
            "closeSession" => {
                let session = self.session(ctx, &params)?;
                let release = params.opt_bool("release")?.unwrap_or(false);
                {
                    let mut state = self.state();
                    Self::detach(&mut state, ctx.conn, ctx.now);
                }
                self.close_session(&session, release);
                Ok(json!({"sessionId": session}))
            }
            "keepAlive" => {
                let session = params.str_param("sessionId")?.to_owned();
                let mut state = self.state();
                if !state.sessions.contains_key(&session) {
                    return Err(RpcError::invalid_session(format!(
                        "session {session} is unknown or expired"
                    )));
                }
                Self::attach(&mut state, ctx.conn, &session, ctx.now);
                Ok(json!({"sessionId": session}))
            }
            "transaction" => {
                let session = self.session(ctx, &params)?;
                if ctx.in_transaction {
                    return Err(RpcError::malformed_transaction(
                        "a transaction cannot contain a transaction",
                    ));
                }
                self.transaction(ctx, &session, &params)
            }
            method @ ("describe" | "create" | "invoke" | "subscribe" | "unsubscribe"
            | "release" | "ref" | "unref") => {
                let session = self.session(ctx, &params)?;
                let mut result = match method {
                    "describe" => self.describe(&params)?,
                    "create" => self.create(&session, &params)?,
                    "invoke" => self.invoke(&params)?,
                    "subscribe" => self.subscribe(&session, &params)?,
                    "unsubscribe" => self.unsubscribe(&params)?,
                    "release" => {
                        self.release_object(params.str_param("object")?)?;
                        json!({})
                    }
                    "ref" => self.reference(&session, params.str_param("object")?, true)?,
                    _ => self.reference(&session, params.str_param("object")?, false)?,
                };
                result["sessionId"] = session.into();
                Ok(result)
            }
            other => Err(RpcError::method_not_found(format!(
                "method '{other}' not found"
            ))),
        }
    }

    fn connect(&self, ctx: &mut Ctx<'_>, params: &Map<String, Value>) -> Result<Value, RpcError> {
        let session = match params.opt_str("sessionId")? {
            Some(id) => {
                let mut state = self.state();
                if !state.sessions.contains_key(id) {
                    return Err(RpcError::invalid_session(format!(
                        "session {id} is unknown or expired"
                    )));
                }
                Self::attach(&mut state, ctx.conn, id, ctx.now);
                id.to_owned()
            }
            None => self.session(ctx, params)?,
        };
        Ok(json!({"sessionId": session, "serverId": self.server_id}))
    }

    fn describe(&self, params: &Map<String, Value>) -> Result<Value, RpcError> {
        let object = params.str_param("object")?;
        if object == SERVER_MANAGER {
            return Ok(Class::ServerManager.describe());
        }
        let state = self.state();
        let o = state.objects.get(object).ok_or_else(|| not_found(object))?;
        Ok(o.class.describe())
    }

    fn transaction(
        &self,
        ctx: &mut Ctx<'_>,
        session: &str,
        params: &Map<String, Value>,
    ) -> Result<Value, RpcError> {
        let Some(Value::Array(operations)) = params.get("operations") else {
            return Err(RpcError::invalid_params("'operations' must be an array"));
        };
        let mut responses: Vec<Value> = Vec::with_capacity(operations.len());
        for (i, op) in operations.iter().enumerate() {
            if op.get("id").and_then(Value::as_u64) != Some(i as u64) {
                return Err(RpcError::malformed_transaction(format!(
                    "Id of request '{i}' should be '{i}'"
                )));
            }
            let mut op = op.clone();
            if let Some(p) = op.get_mut("params") {
                inject_refs(p, &responses)?;
            }
            let index = json!(i);
            let outcome =
                rpc::request_from_value(op)
                    .map_err(|r| r.error)
                    .and_then(|mut request| {
                        request.params.insert("sessionId".into(), session.into());
                        let mut inner = Ctx {
                            conn: &mut *ctx.conn,
                            now: ctx.now,
                            in_transaction: true,
                        };
                        self.dispatch(&mut inner, request)
                    });
            let failed = outcome.is_err();
            responses.push(match outcome {
                Ok(result) => rpc::result_response(&index, result),
                Err(e) => rpc::error_response(&index, &e),
            });
            if failed {
                break;
            }
        }
        Ok(json!({"value": responses, "sessionId": session}))
    }

    fn create(&self, session: &str, params: &Map<String, Value>) -> Result<Value, RpcError> {
        let type_name = params.str_param("type")?;
        let class = Class::parse_creatable(type_name).ok_or_else(|| {
            RpcError::type_not_found(format!("type '{type_name}' does not exist"))
        })?;
        let constructor = match params.get("constructorParams") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => {
                return Err(RpcError::type_not_found(
                    "constructorParams must be an object",
                ))
            }
        };
        let id = match class {
            Class::MediaPipeline => self.create_pipeline(session)?,
            _ => self.create_element(session, class, &constructor)?,
        };
        self.notify_manager("ObjectCreated", &id);
        Ok(json!({"value": id}))
    }

    fn create_pipeline(&self, session: &str) -> Result<String, RpcError> {
        let mut state = self.state();
        let pipelines = state
            .objects
            .values()
            .filter(|o| o.class == Class::MediaPipeline)
            .count();
        if pipelines >= self.config.max_pipelines {
            return Err(RpcError::not_enough_resources(format!(
                "too many pipelines (at most {})",
                self.config.max_pipelines
            )));
        }
        let mut builder = MediaPipeline::builder();
        if let Some(rt) = &self.config.runtime {
            builder = builder.runtime(rt);
        }
        let pipeline = builder.build().map_err(media_error)?;
        let id = format!("{}_kurento.MediaPipeline", new_uuid());
        self.ids.insert(pipeline.id(), &id);
        state.objects.insert(
            id.clone(),
            Object::new(
                Class::MediaPipeline,
                Media::Pipeline(pipeline),
                &id,
                session,
            ),
        );
        Ok(id)
    }

    fn create_element(
        &self,
        session: &str,
        class: Class,
        constructor: &Map<String, Value>,
    ) -> Result<String, RpcError> {
        let Some(Value::String(pipeline_id)) = constructor.get("mediaPipeline") else {
            return Err(RpcError::type_not_found(format!(
                "{} needs constructorParams.mediaPipeline (a MediaPipeline id)",
                class.name()
            )));
        };
        let flags = EndpointFlags::from_constructor(constructor)?;
        let pipeline = self.pipeline_with_room(pipeline_id)?;
        // Built without the lock: binding sockets and resolving a STUN host take time.
        let uri_state = UriState::default();
        let (media, endpoint) =
            self.build_media(class, &pipeline, constructor, flags, &uri_state)?;
        let id = format!("{pipeline_id}/{}_kurento.{}", new_uuid(), class.name());
        let mut state = self.state();
        let Some(parent) = state.objects.get_mut(pipeline_id) else {
            // The pipeline was released meanwhile (and the element with it).
            return Err(not_found(pipeline_id));
        };
        parent.children.push(id.clone());
        self.ids.insert(media.mediaflow_id(), &id);
        let mut object = Object::new(class, media, pipeline_id, session);
        object.endpoint = endpoint;
        object.uri_state = uri_state;
        state.objects.insert(id.clone(), object);
        Ok(id)
    }

    /// The pipeline `pipeline_id` names, if it may take one more element.
    fn pipeline_with_room(&self, pipeline_id: &str) -> Result<MediaPipeline, RpcError> {
        let state = self.state();
        let p = state
            .objects
            .get(pipeline_id)
            .ok_or_else(|| not_found(pipeline_id))?;
        let Media::Pipeline(handle) = &p.media else {
            return Err(RpcError::type_not_found(format!(
                "{pipeline_id} is not a MediaPipeline"
            )));
        };
        if p.children.len() >= MAX_ELEMENTS_PER_PIPELINE {
            return Err(RpcError::not_enough_resources(format!(
                "too many elements in one pipeline (at most {MAX_ELEMENTS_PER_PIPELINE})"
            )));
        }
        Ok(handle.clone())
    }

    /// A new element of `class` in `pipeline`, and for a WebRtcEndpoint what the server
    /// keeps of it.
    fn build_media(
        &self,
        class: Class,
        pipeline: &MediaPipeline,
        constructor: &Map<String, Value>,
        flags: EndpointFlags,
        uri_state: &UriState,
    ) -> Result<(Media, Option<Arc<EndpointInfo>>), RpcError> {
        Ok(match class {
            Class::WebRtcEndpoint => {
                let mut settings =
                    EndpointSettings::new(&self.config.endpoint, flags.recvonly, flags.sendonly);
                settings.use_data_channels = flags.data_channels;
                let endpoint = settings.build(pipeline).map_err(media_error)?;
                let info = EndpointInfo::new(settings);
                info.track(&endpoint);
                (Media::WebRtc(endpoint), Some(info))
            }
            Class::RecorderEndpoint => {
                let (recorder, stop_on_eos) =
                    crate::elements::build_recorder(pipeline, constructor)?;
                if stop_on_eos {
                    self.stop_on_eos.add(&recorder, uri_state);
                }
                (Media::Recorder(recorder), None)
            }
            Class::PlayerEndpoint => (
                Media::Player(crate::elements::build_player(
                    pipeline,
                    constructor,
                    uri_state,
                    &self.stop_on_eos,
                )?),
                None,
            ),
            Class::RtpEndpoint => (
                Media::Rtp(crate::elements::build_rtp(
                    pipeline,
                    constructor,
                    &self.config.endpoint,
                )?),
                None,
            ),
            _ => (
                Media::PassThrough(PassThrough::new(pipeline).map_err(media_error)?),
                None,
            ),
        })
    }

    fn invoke(&self, params: &Map<String, Value>) -> Result<Value, RpcError> {
        let object = params.str_param("object")?;
        let operation = params.str_param("operation")?;
        let args = match params.get("operationParams") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => {
                return Err(RpcError::invalid_params(
                    "operationParams must be an object",
                ))
            }
        };
        let value = if object == SERVER_MANAGER {
            invoke::server_manager(self, operation, &args)?
        } else {
            let target = {
                let state = self.state();
                let o = state.objects.get(object).ok_or_else(|| not_found(object))?;
                Target::of(object, o)
            };
            invoke::object(self, &target, operation, &args)?
        };
        Ok(json!({"value": value}))
    }

    /// The mediaflow element of a live object of the same pipeline as `pipeline`.
    pub(crate) fn element_of(&self, id: &str, pipeline: &str) -> Result<MediaElement, RpcError> {
        let state = self.state();
        let o = state.objects.get(id).ok_or_else(|| not_found(id))?;
        let element = o
            .media
            .element()
            .ok_or_else(|| RpcError::illegal_param(format!("{id} is not a MediaElement")))?;
        if o.pipeline != pipeline {
            return Err(RpcError::illegal_param(format!(
                "{id} belongs to another pipeline"
            )));
        }
        Ok(element.clone())
    }

    /// Replaces a WebRtcEndpoint's mediaflow endpoint by one built with `settings` (a
    /// property mediaflow takes only at build time was set before any negotiation):
    /// its links, tags and subscriptions move to the new one, its id stays.
    pub(crate) fn rebuild_endpoint(
        &self,
        id: &str,
        settings: EndpointSettings,
    ) -> Result<(), RpcError> {
        let (pipeline, old, info, send_tags) = {
            let state = self.state();
            let o = state.objects.get(id).ok_or_else(|| not_found(id))?;
            let (Media::WebRtc(old), Some(info)) = (&o.media, &o.endpoint) else {
                return Err(RpcError::operation_not_supported(format!(
                    "{id} is not a WebRtcEndpoint"
                )));
            };
            let Some(Media::Pipeline(p)) = state.objects.get(&o.pipeline).map(|p| &p.media) else {
                return Err(not_found(&o.pipeline));
            };
            (p.clone(), old.clone(), info.clone(), o.send_tags_in_events)
        };
        let sources = old.get_source_connections(None).map_err(media_error)?;
        let sinks = old.get_sink_connections(None).map_err(media_error)?;
        let tags = old.get_tags().map_err(media_error)?;
        let new = settings.build(&pipeline).map_err(media_error)?;
        for (k, v) in &tags {
            new.add_tag(k, v).map_err(media_error)?;
        }
        if send_tags {
            new.set_send_tags_in_events(true).map_err(media_error)?;
        }
        info.replace_settings(settings);
        info.track(&new);
        {
            let mut state = self.state();
            let outboxes: HashMap<String, Outbox> = state
                .sessions
                .iter()
                .map(|(k, s)| (k.clone(), s.outbox.clone()))
                .collect();
            let Some(o) = state.objects.get_mut(id) else {
                let _ = new.release();
                return Err(not_found(id));
            };
            o.media = Media::WebRtc(new.clone());
            o.subscriptions.retain(|_, sub| {
                let Some(outbox) = outboxes.get(&sub.session) else {
                    return false;
                };
                match listen(
                    &o.media,
                    id,
                    &sub.event_type,
                    outbox.clone(),
                    self.ids.clone(),
                ) {
                    Ok(listener) => {
                        sub.listener = listener;
                        true
                    }
                    Err(_) => false,
                }
            });
            self.ids.remove(old.id());
            self.ids.insert(new.id(), id);
        }
        let _ = old.release();
        for c in &sources {
            let source: &MediaElement = if c.source.id() == old.id() {
                &new
            } else {
                &c.source
            };
            source
                .connect_media(&new, c.media_type)
                .map_err(media_error)?;
        }
        for c in sinks.iter().filter(|c| c.sink.id() != old.id()) {
            new.connect_media(&c.sink, c.media_type)
                .map_err(media_error)?;
        }
        Ok(())
    }

    /// Tells the UriEndpointStateChanged subscribers of the object `id` that its state
    /// is now `state` (a PlayerEndpoint's play/pause/stop).
    pub(crate) fn notify_uri_state(&self, id: &str, state: &'static str) {
        let state_now = self.state();
        let Some(o) = state_now.objects.get(id) else {
            return;
        };
        let data = json!({
            "source": id,
            "type": "UriEndpointStateChanged",
            "timestampMillis": kurento::now_millis().to_string(),
            "tags": [],
            "state": state,
        });
        for sub in o.subscriptions.values() {
            if sub.event_type != "UriEndpointStateChanged" {
                continue;
            }
            if let Some(s) = state_now.sessions.get(&sub.session) {
                s.outbox.push(rpc::notification(
                    "onEvent",
                    kurento::on_event(id, "UriEndpointStateChanged", data.clone()),
                ));
            }
        }
    }

    /// Kurento's id of a mediaflow element id.
    pub(crate) fn kurento_id(&self, mediaflow_id: &str) -> String {
        self.ids.kurento_id(mediaflow_id)
    }

    fn subscribe(&self, session: &str, params: &Map<String, Value>) -> Result<Value, RpcError> {
        let object = params.str_param("object")?;
        let event_type = params.str_param("type")?.to_owned();
        let subscription = new_uuid();
        let mut state = self.state();
        let outbox = state
            .sessions
            .get(session)
            .map(|s| s.outbox.clone())
            .ok_or_else(|| RpcError::invalid_session("session expired"))?;
        if object == SERVER_MANAGER {
            if !Class::ServerManager.raises(&event_type) {
                return Err(unsupported(&event_type, Class::ServerManager));
            }
            if state.manager_subscriptions.len() >= MAX_SUBSCRIPTIONS {
                return Err(RpcError::not_enough_resources(format!(
                    "too many ServerManager subscriptions (at most {MAX_SUBSCRIPTIONS})"
                )));
            }
            state.manager_subscriptions.insert(
                subscription.clone(),
                Subscription {
                    session: session.to_owned(),
                    listener: None,
                    event_type,
                },
            );
            return Ok(json!({"value": subscription}));
        }
        let o = state
            .objects
            .get_mut(object)
            .ok_or_else(|| not_found(object))?;
        if !o.class.raises(&event_type) {
            return Err(unsupported(&event_type, o.class));
        }
        if o.subscriptions.len() >= MAX_SUBSCRIPTIONS {
            return Err(RpcError::not_enough_resources(format!(
                "too many subscriptions on one object (at most {MAX_SUBSCRIPTIONS})"
            )));
        }
        let listener =
            listen(&o.media, object, &event_type, outbox, self.ids.clone()).map_err(media_error)?;
        o.subscriptions.insert(
            subscription.clone(),
            Subscription {
                session: session.to_owned(),
                listener,
                event_type,
            },
        );
        Ok(json!({"value": subscription}))
    }

    fn unsubscribe(&self, params: &Map<String, Value>) -> Result<Value, RpcError> {
        let object = params.str_param("object")?;
        let subscription = params.str_param("subscription")?;
        let mut state = self.state();
        if object == SERVER_MANAGER {
            state.manager_subscriptions.remove(subscription);
            return Ok(json!({}));
        }
        // As KMS: unsubscribing from an object already released is no error (the JS
        // client unsubscribes every listener of an object right after releasing it).
        let Some(o) = state.objects.get_mut(object) else {
            return Ok(json!({}));
        };
        if let Some(s) = o.subscriptions.remove(subscription) {
            if let Some(l) = s.listener {
                o.media.remove_listener(l);
            }
        }
        Ok(json!({}))
    }

    fn reference(&self, session: &str, object: &str, add: bool) -> Result<Value, RpcError> {
        let orphan = {
            let mut state = self.state();
            let o = state
                .objects
                .get_mut(object)
                .ok_or_else(|| not_found(object))?;
            if add {
                o.sessions.insert(session.to_owned());
                false
            } else {
                o.sessions.remove(session);
                o.sessions.is_empty()
            }
        };
        if orphan {
            self.release_object(object)?;
        }
        Ok(json!({}))
    }

    /// Releases an object: a pipeline with all its elements, or one element.
    pub(crate) fn release_object(&self, id: &str) -> Result<(), RpcError> {
        if id == SERVER_MANAGER {
            return Err(RpcError::operation_not_supported(
                "the ServerManager cannot be released",
            ));
        }
        let (root, removed) = {
            let mut state = self.state();
            let object = state.objects.remove(id).ok_or_else(|| not_found(id))?;
            let mut removed = vec![id.to_owned()];
            if object.class == Class::MediaPipeline {
                for child in &object.children {
                    if let Some(c) = state.objects.remove(child) {
                        self.ids.remove(c.media.mediaflow_id());
                        removed.push(child.clone());
                    }
                }
            } else if let Some(p) = state.objects.get_mut(&object.pipeline) {
                p.children.retain(|c| c != id);
            }
            (object, removed)
        };
        let result = match &root.media {
            Media::Pipeline(p) => p.release(),
            other => other.element().map_or(Ok(()), MediaElement::release),
        };
        self.ids.remove(root.media.mediaflow_id());
        if let Err(e) = result {
            tracing::debug!(object = %id, "release: {e}");
        }
        for object in &removed {
            self.notify_manager("ObjectDestroyed", object);
        }
        Ok(())
    }

    fn notify_manager(&self, event_type: &str, object: &str) {
        let state = self.state();
        for sub in state.manager_subscriptions.values() {
            if sub.event_type != event_type {
                continue;
            }
            if let Some(s) = state.sessions.get(&sub.session) {
                let data = kurento::object_event_data(event_type, object);
                s.outbox.push(rpc::notification(
                    "onEvent",
                    kurento::on_event(SERVER_MANAGER, event_type, data),
                ));
            }
        }
    }

    /// Ends a session: its objects are released (with `release`, all it holds a
    /// reference to; without, those no other session holds too), its subscriptions
    /// removed.
    fn close_session(&self, session: &str, release: bool) {
        let to_release: Vec<String> = {
            let mut state = self.state();
            state.sessions.remove(session);
            state
                .manager_subscriptions
                .retain(|_, s| s.session != session);
            let mut out = Vec::new();
            for (id, o) in state.objects.iter_mut() {
                o.subscriptions.retain(|_, s| {
                    if s.session != session {
                        return true;
                    }
                    if let Some(l) = s.listener {
                        o.media.remove_listener(l);
                    }
                    false
                });
                if o.sessions.remove(session) && (release || o.sessions.is_empty()) {
                    out.push((o.class != Class::MediaPipeline, id.clone()));
                }
            }
            // Pipelines first: their release takes their elements along.
            out.sort();
            out.into_iter().map(|(_, id)| id).collect()
        };
        for id in to_release {
            // Already gone when its pipeline went first.
            let _ = self.release_object(&id);
        }
    }

    /// Pipeline ids, for `getPipelines`.
    pub(crate) fn pipelines(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .state()
            .objects
            .iter()
            .filter(|(_, o)| o.class == Class::MediaPipeline)
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// How many objects, sessions and cached responses the server holds now (the
    /// transport's housekeeping returns freed memory to the system when they fall).
    pub fn live(&self) -> [usize; 3] {
        let state = self.state();
        [state.objects.len(), state.sessions.len(), state.cache.len()]
    }

    /// Session ids, for `getSessions`.
    pub(crate) fn sessions(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.state().sessions.keys().cloned().collect();
        ids.sort();
        ids
    }
}

impl Object {
    fn new(class: Class, media: Media, pipeline: &str, session: &str) -> Object {
        Object {
            class,
            media,
            pipeline: pipeline.to_owned(),
            children: Vec::new(),
            name: String::new(),
            creation_time: kurento::now_millis() / 1000,
            tags: Vec::new(),
            send_tags_in_events: false,
            latency_stats: false,
            endpoint: None,
            uri_state: UriState::default(),
            sessions: HashSet::from([session.to_owned()]),
            subscriptions: HashMap::new(),
        }
    }
}

/// What tells a retried request from another one with the same id: a hash of its
/// method and params, without the session id (a retry may add it).
fn fingerprint(request: &Request) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    request.method.hash(&mut hasher);
    for (k, v) in request.params.iter().filter(|(k, _)| *k != "sessionId") {
        k.hash(&mut hasher);
        v.to_string().hash(&mut hasher);
    }
    hasher.finish()
}

fn unsupported(event_type: &str, class: Class) -> RpcError {
    RpcError::event_not_supported(format!(
        "Event '{event_type}' not supported by {}",
        class.name()
    ))
}

/// Registers the mediaflow handler that turns `event_type` events of `media` into
/// `onEvent` notifications of `object` in `outbox`.
fn listen(
    media: &Media,
    object: &str,
    event_type: &str,
    outbox: Outbox,
    ids: Arc<IdMap>,
) -> mediaflow::Result<Option<ListenerId>> {
    if let (Media::Recorder(r), "UriEndpointStateChanged") = (media, event_type) {
        // Kurento's UriEndpointStateChanged, told by the recorder's own events.
        let object = object.to_owned();
        return r
            .on_event(move |e| {
                if let Some(data) = kurento::uri_endpoint_state_changed(e, &object) {
                    outbox.push(rpc::notification(
                        "onEvent",
                        kurento::on_event(&object, "UriEndpointStateChanged", data),
                    ));
                }
            })
            .map(Some);
    }
    if let (Media::Player(p), "UriEndpointStateChanged") = (media, event_type) {
        // The calls' changes are told by `Core::notify_uri_state`; the end of the file
        // (STOP) by the player's EndOfStream, a play() that started nothing by its Error.
        let object = object.to_owned();
        return p
            .on_event(move |e| {
                if matches!(e, Event::EndOfStream(_)) || crate::elements::ends_play(e) {
                    let data = json!({
                        "source": object,
                        "type": "UriEndpointStateChanged",
                        "timestampMillis": e.timestamp_millis().to_string(),
                        "tags": kurento::tags(e.tags()),
                        "state": "STOP",
                    });
                    outbox.push(rpc::notification(
                        "onEvent",
                        kurento::on_event(&object, "UriEndpointStateChanged", data),
                    ));
                }
            })
            .map(Some);
    }
    let wanted = event_type.to_owned();
    let object = object.to_owned();
    let event_type = event_type.to_owned();
    let deliver = move |e: &Event| {
        let data = kurento::event_data(e, &object, &|id| ids.kurento_id(id));
        outbox.push(rpc::notification(
            "onEvent",
            kurento::on_event(&object, &event_type, data),
        ));
    };
    match media {
        Media::Pipeline(p) => {
            if wanted != "Error" {
                return Ok(None);
            }
            p.on_error(move |e| deliver(&Event::Error(e.clone())))
                .map(Some)
        }
        other => {
            let Some(element) = other.element() else {
                return Ok(None);
            };
            element
                .on_event(move |e| {
                    if e.type_name() == wanted {
                        deliver(e);
                    }
                })
                .map(Some)
        }
    }
}

/// Replaces every `"newref:N"` in a transaction operation's params with the value of
/// operation N's result.
fn inject_refs(params: &mut Value, responses: &[Value]) -> Result<(), RpcError> {
    match params {
        Value::Object(m) => m.values_mut().try_for_each(|v| inject_refs(v, responses)),
        Value::Array(a) => a.iter_mut().try_for_each(|v| inject_refs(v, responses)),
        Value::String(s) => {
            let Some(index) = s.strip_prefix("newref:") else {
                return Ok(());
            };
            let value = index
                .parse::<usize>()
                .ok()
                .and_then(|i| responses.get(i))
                .and_then(|r| r.get("result"))
                .and_then(|r| r.get("value"))
                .cloned()
                .ok_or_else(|| {
                    RpcError::malformed_transaction(format!("Result not found on request {index}"))
                })?;
            *params = value;
            Ok(())
        }
        _ => Ok(()),
    }
}

pub(crate) fn not_found(id: &str) -> RpcError {
    RpcError::object_not_found(format!("Object '{id}' not found"))
}

/// mediaflow's errors in Kurento's codes (call-specific ones are mapped by the caller).
pub(crate) fn media_error(e: mediaflow::Error) -> RpcError {
    use mediaflow::Error as E;
    match e {
        E::PipelineReleased | E::ElementReleased(_) => {
            RpcError::object_not_found(format!("Object not found: {e}"))
        }
        E::InvalidSdp(_) => RpcError::sdp_parse(e.to_string()),
        E::InvalidCandidate(_) => RpcError::add_candidate(e.to_string()),
        E::InvalidArgument(_) | E::DifferentPipelines { .. } => {
            RpcError::illegal_param(e.to_string())
        }
        E::NoCommonCodec => RpcError::process_offer(e.to_string()),
        E::WrongState(_) => RpcError::operation_not_supported(e.to_string()),
        E::Resource(_) => RpcError::not_enough_resources(e.to_string()),
        E::NotConnected { .. } | E::Timeout(_) | E::Internal(_) => {
            RpcError::unexpected(e.to_string())
        }
    }
}

/// An element constructor's boolean parameters (checked for every class, as Kurento
/// does; a WebRtcEndpoint uses them).
#[derive(Clone, Copy)]
struct EndpointFlags {
    recvonly: bool,
    sendonly: bool,
    data_channels: bool,
}

impl EndpointFlags {
    fn from_constructor(constructor: &Map<String, Value>) -> Result<EndpointFlags, RpcError> {
        let flag = |name: &str| match constructor.get(name) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(RpcError::type_not_found(format!(
                "constructor parameter '{name}' must be a boolean"
            ))),
        };
        let (recvonly, sendonly) = (flag("recvonly")?, flag("sendonly")?);
        if recvonly && sendonly {
            return Err(RpcError::type_not_found(
                "recvonly and sendonly exclude each other",
            ));
        }
        Ok(EndpointFlags {
            recvonly,
            sendonly,
            data_channels: flag("useDataChannels")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    static NEXT_ID: AtomicU64 = AtomicU64::new(1);

    fn core_with(config: Config) -> Core {
        let runtime = Runtime::builder()
            .workers(1)
            .dispatchers(1)
            .build()
            .unwrap();
        Core::new(Config {
            runtime: Some(runtime),
            endpoint: EndpointOptions {
                interfaces: vec!["lo".into()],
                ..EndpointOptions::default()
            },
            ..config
        })
    }

    fn core() -> Core {
        core_with(Config::default())
    }

    fn send(core: &Core, conn: &mut Connection, text: &str, now: Instant) -> Value {
        let out = core.handle(conn, text, now).expect("a response");
        serde_json::from_str(&out).expect("JSON")
    }

    fn call_at(
        core: &Core,
        conn: &mut Connection,
        method: &str,
        params: Value,
        now: Instant,
    ) -> Value {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let r = send(core, conn, &req.to_string(), now);
        assert_eq!(r["id"], id, "{r}");
        r
    }

    fn call(core: &Core, conn: &mut Connection, method: &str, params: Value) -> Value {
        call_at(core, conn, method, params, Instant::now())
    }

    fn ok(r: &Value) -> &Value {
        assert!(r.get("error").is_none(), "unexpected error: {r}");
        &r["result"]
    }

    fn code(r: &Value) -> i64 {
        r["error"]["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("no error in {r}"))
    }

    fn create(core: &Core, conn: &mut Connection, ty: &str, pipeline: Option<&str>) -> String {
        let params = match pipeline {
            Some(p) => {
                json!({"type": ty, "constructorParams": {"mediaPipeline": p}, "properties": {}})
            }
            None => json!({"type": ty, "constructorParams": {}, "properties": {}}),
        };
        let r = call(core, conn, "create", params);
        ok(&r)["value"].as_str().unwrap().to_owned()
    }

    fn invoke(core: &Core, conn: &mut Connection, object: &str, op: &str, args: Value) -> Value {
        call(
            core,
            conn,
            "invoke",
            json!({"object": object, "operation": op, "operationParams": args}),
        )
    }

    /// The SDP an SdpEndpoint's `generateOffer` with `args` answers.
    fn generated_offer(core: &Core, conn: &mut Connection, e: &str, args: Value) -> String {
        ok(&invoke(core, conn, e, "generateOffer", args))["value"]
            .as_str()
            .expect("generateOffer answers a string")
            .to_owned()
    }

    /// Waits (bounded) until a notification of each of `types` arrived; returns the
    /// first of each.
    fn wait_events(conn: &Connection, types: &[&str]) -> HashMap<String, Value> {
        let mut seen = HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            for n in conn.take_notifications() {
                let v: Value = serde_json::from_str(&n).unwrap();
                let ty = v["params"]["value"]["type"].as_str().unwrap().to_owned();
                seen.entry(ty).or_insert(v);
            }
            if types.iter().all(|t| seen.contains_key(*t)) {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("not all of {types:?} within 10 s: {:?}", seen.keys());
    }

    #[test]
    fn the_js_clients_handshake() {
        let core = core();
        let mut conn = Connection::default();
        let pong = call(&core, &mut conn, "ping", json!({"interval": 5000}));
        assert_eq!(ok(&pong)["value"], "pong");
        assert!(conn.session_id().is_none(), "a ping makes no session");
        let d = call(
            &core,
            &mut conn,
            "describe",
            json!({"object": SERVER_MANAGER}),
        );
        let session = ok(&d)["sessionId"].as_str().unwrap().to_owned();
        assert_eq!(ok(&d)["type"], "ServerManager");
        assert_eq!(ok(&d)["qualifiedType"], "kurento.ServerManager");
        assert_eq!(ok(&d)["hierarchy"], json!(["kurento.MediaObject"]));
        assert_eq!(conn.session_id(), Some(session.as_str()));
        let info = invoke(&core, &mut conn, SERVER_MANAGER, "getInfo", json!({}));
        assert_eq!(ok(&info)["sessionId"], session.as_str());
        let names: Vec<&str> = ok(&info)["value"]["modules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["core", "elements", "filters"]);
        let version = invoke(&core, &mut conn, SERVER_MANAGER, "getKmsVersion", json!({}));
        assert_eq!(ok(&version)["value"], kurento::KMS_VERSION);
        let cpus = invoke(&core, &mut conn, SERVER_MANAGER, "getCpuCount", json!({}));
        assert!(ok(&cpus)["value"].as_u64().unwrap() >= 1);
        let mem = invoke(&core, &mut conn, SERVER_MANAGER, "getUsedMemory", json!({}));
        assert!(ok(&mem)["value"].as_u64().unwrap() > 0);
        let sessions = invoke(&core, &mut conn, SERVER_MANAGER, "getSessions", json!({}));
        assert_eq!(ok(&sessions)["value"], json!([session]));
    }

    #[test]
    fn objects_ids_properties_and_release_cascade() {
        let core = core();
        let mut conn = Connection::default();
        let sub = call(
            &core,
            &mut conn,
            "subscribe",
            json!({"object": SERVER_MANAGER, "type": "ObjectDestroyed"}),
        );
        ok(&sub);
        let p = create(&core, &mut conn, "MediaPipeline", None);
        assert!(p.ends_with("_kurento.MediaPipeline"), "{p}");
        let e = create(&core, &mut conn, "kurento.WebRtcEndpoint", Some(&p));
        assert!(
            e.starts_with(&format!("{p}/")) && e.ends_with("_kurento.WebRtcEndpoint"),
            "{e}"
        );
        let pt = create(&core, &mut conn, "PassThrough", Some(&p));
        let d = call(&core, &mut conn, "describe", json!({"object": e}));
        assert_eq!(ok(&d)["qualifiedType"], "kurento.WebRtcEndpoint");
        assert_eq!(ok(&d)["hierarchy"][0], "kurento.BaseRtpEndpoint");
        let children = invoke(&core, &mut conn, &p, "getChildren", json!({}));
        assert_eq!(ok(&children)["value"], json!([e, pt]));
        assert_eq!(
            ok(&invoke(&core, &mut conn, &e, "getMediaPipeline", json!({})))["value"],
            p.as_str()
        );
        assert_eq!(
            ok(&invoke(&core, &mut conn, &e, "getName", json!({})))["value"],
            e.as_str()
        );
        ok(&invoke(
            &core,
            &mut conn,
            &e,
            "setName",
            json!({"name": "mirror"}),
        ));
        assert_eq!(
            ok(&invoke(&core, &mut conn, &e, "getName", json!({})))["value"],
            "mirror"
        );
        ok(&invoke(
            &core,
            &mut conn,
            &e,
            "addTag",
            json!({"key": "room", "value": "1"}),
        ));
        let tags = invoke(&core, &mut conn, &e, "getTags", json!({}));
        assert_eq!(ok(&tags)["value"][0]["__type__"], "Tag");
        assert_eq!(ok(&tags)["value"][0]["key"], "room");
        assert_eq!(
            code(&invoke(
                &core,
                &mut conn,
                &e,
                "getTag",
                json!({"key": "nope"})
            )),
            40110
        );
        assert_eq!(
            code(&invoke(
                &core,
                &mut conn,
                &e,
                "getLocalSessionDescriptor",
                json!({})
            )),
            40202
        );
        assert_eq!(
            code(&invoke(
                &core,
                &mut conn,
                &e,
                "processOffer",
                json!({"offer": "garbage"})
            )),
            40201
        );
        assert_eq!(
            code(&invoke(&core, &mut conn, &e, "frobnicate", json!({}))),
            40105
        );
        ok(&invoke(
            &core,
            &mut conn,
            &pt,
            "connect",
            json!({"sink": e, "mediaType": "VIDEO"}),
        ));
        let sinks = invoke(&core, &mut conn, &pt, "getSinkConnections", json!({}));
        assert_eq!(ok(&sinks)["value"][0]["sink"], e.as_str());
        assert_eq!(ok(&sinks)["value"][0]["type"], "VIDEO");
        assert_eq!(
            code(&invoke(
                &core,
                &mut conn,
                &pt,
                "connect",
                json!({"sink": e, "mediaType": "SMELL"})
            )),
            40107
        );
        let pipelines = invoke(&core, &mut conn, SERVER_MANAGER, "getPipelines", json!({}));
        assert_eq!(ok(&pipelines)["value"], json!([p]));

        ok(&call(&core, &mut conn, "release", json!({"object": p})));
        for gone in [&p, &e, &pt] {
            assert_eq!(
                code(&invoke(&core, &mut conn, gone, "getName", json!({}))),
                40101
            );
            assert_eq!(
                code(&call(&core, &mut conn, "release", json!({"object": gone}))),
                40101
            );
        }
        assert_eq!(core.counts().objects, 0);
        let mut destroyed = HashSet::new();
        for n in conn.take_notifications() {
            let v: Value = serde_json::from_str(&n).unwrap();
            assert_eq!(v["method"], "onEvent");
            assert_eq!(v["params"]["value"]["object"], SERVER_MANAGER);
            destroyed.insert(
                v["params"]["value"]["data"]["object"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        assert_eq!(destroyed, HashSet::from([p, e, pt]));
    }

    #[test]
    fn events_arrive_in_kurentos_shape() {
        let core = core();
        let mut conn = Connection::default();
        let p = create(&core, &mut conn, "MediaPipeline", None);
        let pt = create(&core, &mut conn, "PassThrough", Some(&p));
        let e = create(&core, &mut conn, "WebRtcEndpoint", Some(&p));
        for (object, ty) in [
            (&pt, "ElementConnected"),
            (&e, "IceCandidateFound"),
            (&e, "IceGatheringDone"),
        ] {
            let r = call(
                &core,
                &mut conn,
                "subscribe",
                json!({"object": object, "type": ty}),
            );
            assert!(ok(&r)["value"].is_string());
        }
        assert_eq!(
            code(&call(
                &core,
                &mut conn,
                "subscribe",
                json!({"object": pt, "type": "IceCandidateFound"})
            )),
            40106
        );
        ok(&invoke(
            &core,
            &mut conn,
            &pt,
            "connect",
            json!({"sink": pt}),
        ));
        let n = wait_events(&conn, &["ElementConnected"])["ElementConnected"].clone();
        let data = &n["params"]["value"]["data"];
        assert_eq!(n["params"]["value"]["object"], pt.as_str());
        assert_eq!(data["source"], pt.as_str());
        assert_eq!(data["sink"], pt.as_str());
        assert!(data["timestampMillis"].is_string());
        assert_eq!(data["tags"], json!([]));
        let offer = ok(&invoke(&core, &mut conn, &e, "generateOffer", json!({})))["value"].clone();
        assert!(offer.as_str().unwrap().starts_with("v=0"));
        ok(&invoke(&core, &mut conn, &e, "gatherCandidates", json!({})));
        let ice = wait_events(&conn, &["IceCandidateFound", "IceGatheringDone"]);
        let c = &ice["IceCandidateFound"];
        let candidate = &c["params"]["value"]["data"]["candidate"];
        assert_eq!(candidate["__module__"], "kurento");
        assert_eq!(candidate["__type__"], "IceCandidate");
        assert!(candidate["candidate"]
            .as_str()
            .unwrap()
            .starts_with("candidate:"));
        let bad = invoke(
            &core,
            &mut conn,
            &e,
            "addIceCandidate",
            json!({"candidate": {"sdpMid": "0"}}),
        );
        assert_eq!(code(&bad), 40401);
        ok(&call(&core, &mut conn, "release", json!({"object": p})));
    }

    #[test]
    fn transactions_resolve_newrefs_and_stop_at_the_first_error() {
        let core = core();
        let mut conn = Connection::default();
        let tx = call(
            &core,
            &mut conn,
            "transaction",
            json!({"operations": [
                {"jsonrpc": "2.0", "id": 0, "method": "create", "params": {"type": "MediaPipeline"}},
                {"jsonrpc": "2.0", "id": 1, "method": "create", "params": {"type": "PassThrough",
                    "constructorParams": {"mediaPipeline": "newref:0"}}},
                {"jsonrpc": "2.0", "id": 2, "method": "invoke", "params": {"object": "newref:1",
                    "operation": "setName", "operationParams": {"name": "pt"}}},
                {"jsonrpc": "2.0", "id": 3, "method": "invoke", "params": {"object": "newref:1",
                    "operation": "nope"}},
                {"jsonrpc": "2.0", "id": 4, "method": "invoke", "params": {"object": "newref:0",
                    "operation": "getName"}},
            ]}),
        );
        let responses = ok(&tx)["value"].as_array().unwrap().clone();
        assert_eq!(responses.len(), 4, "stops after the failed operation: {tx}");
        let pipeline = responses[0]["result"]["value"].as_str().unwrap().to_owned();
        let pt = responses[1]["result"]["value"].as_str().unwrap().to_owned();
        assert!(pt.starts_with(&pipeline));
        assert_eq!(responses[3]["id"], 3);
        assert_eq!(responses[3]["error"]["code"], 40105);
        assert_eq!(
            ok(&invoke(&core, &mut conn, &pt, "getName", json!({})))["value"],
            "pt"
        );
        let bad_ref = call(
            &core,
            &mut conn,
            "transaction",
            json!({"operations": [
                {"jsonrpc": "2.0", "id": 0, "method": "invoke", "params": {"object": "newref:5", "operation": "getName"}},
            ]}),
        );
        assert_eq!(code(&bad_ref), 40008);
        let bad_id = call(
            &core,
            &mut conn,
            "transaction",
            json!({"operations": [
                {"jsonrpc": "2.0", "id": 7, "method": "ping"},
            ]}),
        );
        assert_eq!(code(&bad_id), 40008);
    }

    #[test]
    fn sessions_reconnect_within_the_grace_period_and_expire_after_it() {
        let core = core_with(Config {
            session_grace: Duration::from_secs(30),
            ..Config::default()
        });
        let t0 = Instant::now();
        let mut first = Connection::default();
        let p = {
            let r = call_at(
                &core,
                &mut first,
                "create",
                json!({"type": "MediaPipeline"}),
                t0,
            );
            ok(&r)["value"].as_str().unwrap().to_owned()
        };
        let session = first.session_id().unwrap().to_owned();
        core.disconnected(&mut first, t0);
        core.tick(t0 + Duration::from_secs(29));
        let mut second = Connection::default();
        let r = call_at(
            &core,
            &mut second,
            "connect",
            json!({"sessionId": session}),
            t0 + Duration::from_secs(29),
        );
        assert_eq!(ok(&r)["sessionId"], session.as_str());
        assert!(ok(&r)["serverId"].is_string());
        assert_eq!(
            ok(&invoke(&core, &mut second, &p, "getName", json!({})))["value"],
            p.as_str()
        );
        let unknown = call(
            &core,
            &mut Connection::default(),
            "connect",
            json!({"sessionId": "nope"}),
        );
        assert_eq!(code(&unknown), 40007);
        assert_eq!(unknown["error"]["data"]["type"], "INVALID_SESSION");
        // Dropped again: past the grace period the session and its pipeline are gone.
        let t1 = t0 + Duration::from_secs(40);
        core.disconnected(&mut second, t1);
        core.tick(t1 + Duration::from_secs(29));
        assert_eq!(core.counts().pipelines, 1);
        core.tick(t1 + Duration::from_secs(31));
        assert_eq!(
            core.counts(),
            Counts {
                sessions: 0,
                pipelines: 0,
                objects: 0
            }
        );
        let late = call(
            &core,
            &mut Connection::default(),
            "connect",
            json!({"sessionId": session}),
        );
        assert_eq!(code(&late), 40007);
    }

    #[test]
    fn a_retried_request_gets_the_cached_response_for_20_s() {
        let core = core();
        let mut conn = Connection::default();
        let t0 = Instant::now();
        let describe = json!({"jsonrpc": "2.0", "id": 1, "method": "describe",
            "params": {"object": SERVER_MANAGER}});
        let session = ok(&send(&core, &mut conn, &describe.to_string(), t0))["sessionId"]
            .as_str()
            .unwrap()
            .to_owned();
        let req = json!({"jsonrpc": "2.0", "id": 42, "method": "create",
            "params": {"type": "MediaPipeline", "sessionId": session}})
        .to_string();
        let first = send(&core, &mut conn, &req, t0);
        let again = send(&core, &mut conn, &req, t0 + Duration::from_secs(19));
        assert_eq!(first, again);
        assert_eq!(core.counts().pipelines, 1);
        // The same id from another session is another request.
        let mut other = Connection::default();
        let r = send(
            &core,
            &mut other,
            &req.replace(&session, "other-session"),
            t0,
        );
        assert_ne!(r["result"]["value"], first["result"]["value"]);
        assert_eq!(core.counts().pipelines, 2);
        core.tick(t0 + Duration::from_secs(21));
        let later = send(&core, &mut conn, &req, t0 + Duration::from_secs(21));
        assert_ne!(later["result"]["value"], first["result"]["value"]);
        assert_eq!(core.counts().pipelines, 3);
        core.shutdown();
        assert_eq!(core.counts().pipelines, 0);
    }

    #[test]
    fn bad_requests_get_their_error_codes() {
        let core = core_with(Config {
            max_pipelines: 1,
            max_sessions: 2,
            ..Config::default()
        });
        let mut conn = Connection::default();
        let now = Instant::now();
        let r = send(&core, &mut conn, "{not json", now);
        assert_eq!((code(&r), r["id"].clone()), (-32700, Value::Null));
        let r = send(
            &core,
            &mut conn,
            r#"{"jsonrpc":"1","id":3,"method":"ping"}"#,
            now,
        );
        assert_eq!((code(&r), r["id"].clone()), (-32600, json!(3)));
        assert_eq!(code(&call(&core, &mut conn, "teleport", json!({}))), -32601);
        assert_eq!(code(&call(&core, &mut conn, "create", json!({}))), -32602);
        assert_eq!(
            code(&call(
                &core,
                &mut conn,
                "create",
                json!({"type": "PlayerEndpoint"})
            )),
            40100
        );
        assert_eq!(
            code(&call(
                &core,
                &mut conn,
                "create",
                json!({"type": "WebRtcEndpoint"})
            )),
            40100
        );
        let missing = call(
            &core,
            &mut conn,
            "create",
            json!({"type": "WebRtcEndpoint",
            "constructorParams": {"mediaPipeline": "gone_kurento.MediaPipeline"}}),
        );
        assert_eq!(code(&missing), 40101);
        assert_eq!(
            code(&invoke(
                &core,
                &mut conn,
                "x_kurento.MediaPipeline",
                "getName",
                json!({})
            )),
            40101
        );
        assert_eq!(
            code(&invoke(
                &core,
                &mut conn,
                SERVER_MANAGER,
                "reboot",
                json!({})
            )),
            40105
        );
        create(&core, &mut conn, "MediaPipeline", None);
        let over = call(&core, &mut conn, "create", json!({"type": "MediaPipeline"}));
        assert_eq!(
            (code(&over), over["error"]["data"]["type"].clone()),
            (40009, json!("NOT_ENOUGH_RESOURCES"))
        );
        ok(&call(
            &core,
            &mut Connection::default(),
            "describe",
            json!({"object": SERVER_MANAGER}),
        ));
        let third = call(
            &core,
            &mut Connection::default(),
            "describe",
            json!({"object": SERVER_MANAGER}),
        );
        assert_eq!(code(&third), 40009);
        assert!(core
            .handle(&mut conn, r#"{"jsonrpc":"2.0","method":"ping"}"#, now)
            .is_none());
        core.shutdown();
    }

    #[test]
    fn close_session_keep_alive_ref_and_unref() {
        let core = core();
        let mut a = Connection::default();
        let mut b = Connection::default();
        let p = create(&core, &mut a, "MediaPipeline", None);
        let q = create(&core, &mut a, "MediaPipeline", None);
        let session_a = a.session_id().unwrap().to_owned();
        ok(&call(
            &core,
            &mut b,
            "describe",
            json!({"object": SERVER_MANAGER}),
        ));
        let session_b = b.session_id().unwrap().to_owned();
        assert_ne!(session_a, session_b);
        let alive = call(&core, &mut b, "keepAlive", json!({"sessionId": session_b}));
        assert_eq!(ok(&alive)["sessionId"], session_b.as_str());
        let unknown = call(
            &core,
            &mut Connection::default(),
            "keepAlive",
            json!({"sessionId": "x"}),
        );
        assert_eq!(code(&unknown), 40007);
        // b holds p too: a's closing leaves p, releases q.
        ok(&call(&core, &mut b, "ref", json!({"object": p})));
        let closed = call(&core, &mut a, "closeSession", json!({}));
        assert_eq!(ok(&closed)["sessionId"], session_a.as_str());
        assert!(a.session_id().is_none());
        assert_eq!(
            code(&invoke(&core, &mut b, &q, "getName", json!({}))),
            40101
        );
        ok(&invoke(&core, &mut b, &p, "getName", json!({})));
        // The last reference gone, the object goes.
        ok(&call(&core, &mut b, "unref", json!({"object": p})));
        assert_eq!(
            code(&invoke(&core, &mut b, &p, "getName", json!({}))),
            40101
        );
        // closeSession {release: true} releases what the session holds, shared or not.
        let r = create(&core, &mut b, "MediaPipeline", None);
        let mut c = Connection::default();
        ok(&call(&core, &mut c, "ref", json!({"object": r})));
        ok(&call(
            &core,
            &mut b,
            "closeSession",
            json!({"release": true}),
        ));
        assert_eq!(
            code(&invoke(&core, &mut c, &r, "getName", json!({}))),
            40101
        );
        assert_eq!(core.counts().pipelines, 0);
        let sessions = invoke(&core, &mut c, SERVER_MANAGER, "getSessions", json!({}));
        assert_eq!(ok(&sessions)["value"].as_array().unwrap().len(), 1);
    }

    /// generateOffer's OfferOptions, as kurento-client sends them: a kind not asked for
    /// is offered sendonly; a malformed `options` is a -32602, and the endpoint still
    /// offers afterwards.
    #[test]
    fn generate_offer_takes_kurentos_offer_options() {
        let core = core();
        let mut conn = Connection::default();
        let p = create(&core, &mut conn, "MediaPipeline", None);
        let e = create(&core, &mut conn, "WebRtcEndpoint", Some(&p));
        let bad = invoke(&core, &mut conn, &e, "generateOffer", json!({"options": 7}));
        assert_eq!(code(&bad), -32602, "{bad}");
        let options = json!({"options": {"offerToReceiveAudio": false,
            "offerToReceiveVideo": true, "__module__": "kurento", "__type__": "OfferOptions"}});
        let offer = generated_offer(&core, &mut conn, &e, options);
        let (audio, video) = offer.split_at(offer.find("m=video").unwrap());
        assert!(audio.contains("a=sendonly\r\n"), "{offer}");
        assert!(video.contains("a=sendrecv\r\n"), "{offer}");
    }

    /// setMaxAudioRecvBandwidth / setMaxVideoRecvBandwidth before negotiating: read back,
    /// and announced as b=AS on the m-lines of the offer.
    #[test]
    fn receive_bandwidths_are_announced_in_the_sdp() {
        let core = core();
        let mut conn = Connection::default();
        let p = create(&core, &mut conn, "MediaPipeline", None);
        let e = create(&core, &mut conn, "WebRtcEndpoint", Some(&p));
        for (op, kbps) in [
            ("MaxAudioRecvBandwidth", 48),
            ("MaxVideoRecvBandwidth", 900),
        ] {
            let set = json!({format!("max{}", &op[3..]): kbps});
            ok(&invoke(&core, &mut conn, &e, &format!("set{op}"), set));
            let got = invoke(&core, &mut conn, &e, &format!("get{op}"), json!({}));
            assert_eq!(ok(&got)["value"], kbps, "{op}");
        }
        let offer = generated_offer(&core, &mut conn, &e, json!({}));
        let (audio, video) = offer.split_at(offer.find("m=video").unwrap());
        assert!(audio.contains("b=AS:48\r\n"), "{offer}");
        assert!(video.contains("b=AS:900\r\n"), "{offer}");
    }

    #[test]
    fn build_time_properties_rebuild_the_endpoint_before_negotiation_only() {
        let core = core();
        let mut conn = Connection::default();
        let p = create(&core, &mut conn, "MediaPipeline", None);
        let e = create(&core, &mut conn, "WebRtcEndpoint", Some(&p));
        let sub = json!({"object": e, "type": "ElementConnected"});
        ok(&call(&core, &mut conn, "subscribe", sub));
        ok(&invoke(&core, &mut conn, &e, "connect", json!({"sink": e})));
        wait_events(&conn, &["ElementConnected"]);
        ok(&invoke(
            &core,
            &mut conn,
            &e,
            "addTag",
            json!({"key": "k", "value": "v"}),
        ));
        let get = |conn: &mut Connection, op: &str| {
            ok(&invoke(&core, conn, &e, op, json!({})))["value"].clone()
        };
        assert_eq!(get(&mut conn, "getStunServerAddress"), "");
        assert_eq!(get(&mut conn, "getMaxVideoSendBandwidth"), 500);
        ok(&invoke(
            &core,
            &mut conn,
            &e,
            "setStunServerAddress",
            json!({"stunServerAddress": "127.0.0.1"}),
        ));
        ok(&invoke(
            &core,
            &mut conn,
            &e,
            "setStunServerPort",
            json!({"stunServerPort": 3479}),
        ));
        ok(&invoke(
            &core,
            &mut conn,
            &e,
            "setMaxVideoSendBandwidth",
            json!({"maxVideoSendBandwidth": 800}),
        ));
        assert_eq!(get(&mut conn, "getStunServerAddress"), "127.0.0.1");
        assert_eq!(get(&mut conn, "getStunServerPort"), 3479);
        assert_eq!(get(&mut conn, "getMaxVideoSendBandwidth"), 800);
        // Same id, same links, tags and subscriptions.
        assert_eq!(get(&mut conn, "getTags")[0]["key"], "k");
        let sinks = get(&mut conn, "getSinkConnections");
        assert_eq!(sinks.as_array().unwrap().len(), 3, "{sinks}");
        assert!(
            sinks
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["sink"] == e.as_str()),
            "{sinks}"
        );
        assert_eq!(
            ok(&invoke(&core, &mut conn, &p, "getChildren", json!({})))["value"],
            json!([e])
        );
        conn.take_notifications();
        ok(&invoke(
            &core,
            &mut conn,
            &e,
            "disconnect",
            json!({"sink": e, "mediaType": "VIDEO"}),
        ));
        ok(&invoke(
            &core,
            &mut conn,
            &e,
            "connect",
            json!({"sink": e, "mediaType": "VIDEO"}),
        ));
        let n = wait_events(&conn, &["ElementConnected"]);
        assert_eq!(
            n["ElementConnected"]["params"]["value"]["data"]["source"],
            e.as_str()
        );
        assert_eq!(
            n["ElementConnected"]["params"]["value"]["data"]["sink"],
            e.as_str()
        );
        // Once negotiating, no more: 40111. Settings mediaflow lacks: 40006.
        ok(&invoke(&core, &mut conn, &e, "generateOffer", json!({})));
        let late = invoke(
            &core,
            &mut conn,
            &e,
            "setTurnUrl",
            json!({"turnUrl": "u:p@127.0.0.1:3478"}),
        );
        assert_eq!(code(&late), 40111);
        assert_eq!(
            code(&invoke(
                &core,
                &mut conn,
                &e,
                "setMtu",
                json!({"mtu": 1000})
            )),
            40006
        );
        let bad = invoke(
            &core,
            &mut conn,
            &e,
            "setExternalIPv4",
            json!({"externalIPv4": "nope"}),
        );
        assert_eq!(code(&bad), 40107);
        ok(&call(&core, &mut conn, "release", json!({"object": p})));
    }

    #[test]
    fn use_data_channels_answers_the_section_and_the_channel_calls_work() {
        let core = core();
        let mut conn = Connection::default();
        let p = create(&core, &mut conn, "MediaPipeline", None);
        let r = call(
            &core,
            &mut conn,
            "create",
            json!({"type": "WebRtcEndpoint",
                   "constructorParams": {"mediaPipeline": p, "useDataChannels": true}}),
        );
        let e = ok(&r)["value"].as_str().unwrap().to_owned();
        let plain = create(&core, &mut conn, "WebRtcEndpoint", Some(&p));
        // An offer with a data-channel section, from another engine.
        let pipeline = MediaPipeline::new().unwrap();
        let offer = WebRtcEndpoint::builder(&pipeline)
            .network_interfaces(["lo"])
            .use_data_channels(true)
            .build()
            .unwrap()
            .generate_offer()
            .unwrap();
        let answer = invoke(
            &core,
            &mut conn,
            &e,
            "processOffer",
            json!({"offer": offer}),
        );
        let answer = ok(&answer)["value"].as_str().unwrap().to_owned();
        assert!(answer.contains("a=sctp-port:5000"), "{answer}");
        let answer = invoke(
            &core,
            &mut conn,
            &plain,
            "processOffer",
            json!({"offer": offer}),
        );
        assert!(ok(&answer)["value"]
            .as_str()
            .unwrap()
            .contains("m=application 0 "));
        // Negotiated: a channel may be created (it opens once SCTP is up), with
        // Kurento's -1 defaults and without.
        for args in [
            json!({}),
            json!({"label": "chat", "ordered": false, "maxPacketLifeTime": -1, "maxRetransmits": 3, "protocol": "p"}),
        ] {
            ok(&invoke(&core, &mut conn, &e, "createDataChannel", args));
        }
        assert_eq!(
            code(&invoke(
                &core,
                &mut conn,
                &e,
                "createDataChannel",
                json!({"maxRetransmits": 70000})
            )),
            -32602
        );
        assert_eq!(
            code(&invoke(
                &core,
                &mut conn,
                &e,
                "closeDataChannel",
                json!({"channelId": 999})
            )),
            40107
        );
        assert_eq!(
            code(&invoke(&core, &mut conn, &e, "closeDataChannel", json!({}))),
            -32602
        );
        // Without useDataChannels the call is refused.
        let r = invoke(
            &core,
            &mut conn,
            &plain,
            "createDataChannel",
            json!({"label": "x"}),
        );
        assert!(r.get("error").is_some(), "{r}");
        pipeline.release().unwrap();
        core.shutdown();
    }

    #[test]
    fn no_input_shape_panics_or_hangs() {
        let core = core_with(Config {
            max_pipelines: 4,
            ..Config::default()
        });
        let mut conn = Connection::default();
        let p = create(&core, &mut conn, "MediaPipeline", None);
        let e = create(&core, &mut conn, "WebRtcEndpoint", Some(&p));
        let now = Instant::now();
        let bodies = [
            json!(null),
            json!(7),
            json!("text"),
            json!([1, 2]),
            json!({}),
            json!({"jsonrpc": "2.0"}),
            json!({"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"}),
            json!({"jsonrpc": "2.0", "id": 1, "method": 5}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "invoke", "params": []}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "invoke", "params": {"object": 5, "operation": "getName"}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "invoke", "params": {"object": e, "operation": "connect", "operationParams": {"sink": 3}}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "invoke", "params": {"object": e, "operation": "connect", "operationParams": {"sink": p}}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "invoke", "params": {"object": e, "operation": "addIceCandidate", "operationParams": {"candidate": "x"}}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "invoke", "params": {"object": e, "operation": "addIceCandidate", "operationParams": {"candidate": {"candidate": "candidate:garbage", "sdpMLineIndex": -1}}}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "invoke", "params": {"object": e, "operation": "processAnswer", "operationParams": {"answer": "v=0"}}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "invoke", "params": {"object": e, "operation": "getStats", "operationParams": {"mediaType": 9}}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "invoke", "params": {"object": e, "operation": "setStunServerPort", "operationParams": {"stunServerPort": 70000}}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "invoke", "params": {"object": e, "operation": "setMaxVideoSendBandwidth", "operationParams": {"maxVideoSendBandwidth": -5}}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "invoke", "params": {"object": e, "operation": "isMediaFlowingIn"}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "invoke", "params": {"object": p, "operation": "setLatencyStats", "operationParams": {"latencyStats": "yes"}}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "create", "params": {"type": "WebRtcEndpoint", "constructorParams": {"mediaPipeline": e}}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "create", "params": {"type": "WebRtcEndpoint", "constructorParams": {"mediaPipeline": p, "recvonly": true, "sendonly": true}}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "create", "params": {"type": "WebRtcEndpoint", "constructorParams": {"mediaPipeline": p, "recvonly": "no"}}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "create", "params": {"type": 1}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "create", "params": {"type": "MediaPipeline", "constructorParams": []}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "subscribe", "params": {"object": e}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "unsubscribe", "params": {"object": e, "subscription": "nope"}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "release", "params": {"object": "manager_ServerManager"}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "connect", "params": {"sessionId": 12}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "transaction", "params": {"operations": 3}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "transaction", "params": {"operations": [7]}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "transaction", "params": {"operations": [{"id": 0, "jsonrpc": "2.0", "method": "transaction", "params": {"operations": []}}]}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "transaction", "params": {"operations": [{"id": 0, "jsonrpc": "2.0", "method": "invoke", "params": {"object": "newref:x", "operation": "getName"}}]}}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "transaction", "params": {"operations": [{"id": 0, "jsonrpc": "2.0", "method": "ping", "params": 4}]}}),
        ];
        for body in bodies {
            let text = body.to_string();
            let started = Instant::now();
            let out = core.handle(&mut conn, &text, now);
            assert!(
                started.elapsed() < Duration::from_secs(6),
                "{text} took too long"
            );
            if let Some(out) = out {
                let v: Value = serde_json::from_str(&out).unwrap();
                assert_eq!(v["jsonrpc"], "2.0", "{text} -> {out}");
                assert!(
                    v.get("result").is_some() != v.get("error").is_some(),
                    "{text} -> {out}"
                );
            }
        }
        for text in [
            "",
            "{",
            "\u{0}",
            "[{}]",
            "{\"jsonrpc\":\"2.0\",\"id\":1e400}",
        ] {
            let out = core
                .handle(&mut conn, text, now)
                .expect("an error response");
            assert!(out.contains("error"), "{text:?} -> {out}");
        }
        // Bounded: session ids, names, tags.
        let long = "x".repeat(5000);
        let r = call(
            &core,
            &mut Connection::default(),
            "describe",
            json!({"object": SERVER_MANAGER, "sessionId": long}),
        );
        assert_eq!(code(&r), -32602);
        assert_eq!(
            code(&invoke(
                &core,
                &mut conn,
                &e,
                "setName",
                json!({"name": long})
            )),
            40107
        );
        for i in 0..64 {
            ok(&invoke(
                &core,
                &mut conn,
                &e,
                "addTag",
                json!({"key": format!("k{i}"), "value": "v"}),
            ));
        }
        let r = invoke(
            &core,
            &mut conn,
            &e,
            "addTag",
            json!({"key": "one-more", "value": "v"}),
        );
        assert_eq!(code(&r), 40009);
        ok(&invoke(
            &core,
            &mut conn,
            &e,
            "addTag",
            json!({"key": "k0", "value": "replaced"}),
        ));
        // Still serving.
        assert_eq!(
            ok(&invoke(&core, &mut conn, &e, "getName", json!({})))["value"],
            e.as_str()
        );
        core.shutdown();
    }

    fn create_with(core: &Core, conn: &mut Connection, ty: &str, params: Value) -> Value {
        call(
            core,
            conn,
            "create",
            json!({"type": ty, "constructorParams": params, "properties": {}}),
        )
    }

    fn subscribe_all(core: &Core, conn: &mut Connection, object: &str, types: &[&str]) {
        for ty in types {
            let r = call(
                core,
                conn,
                "subscribe",
                json!({"object": object, "type": ty}),
            );
            assert!(ok(&r)["value"].is_string(), "{ty}: {r}");
        }
    }

    #[test]
    fn recorder_endpoint_records_pauses_and_stops_with_kurentos_events() {
        let core = core();
        let mut conn = Connection::default();
        let p = create(&core, &mut conn, "MediaPipeline", None);
        let dir = std::env::temp_dir().join(format!("mf-server-recorder-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("out.webm");
        let uri = format!("file://{}", file.display());

        // Constructor parameters Kurento's client sends, and the ones mediaflow refuses.
        let mp4_uri = format!("file://{}", dir.join("out.mp4").display());
        let mp4 = create_with(
            &core,
            &mut conn,
            "RecorderEndpoint",
            json!({"mediaPipeline": p, "uri": mp4_uri, "mediaProfile": "MP4"}),
        );
        let mp4 = ok(&mp4)["value"].as_str().unwrap().to_owned();
        assert!(mp4.ends_with("_kurento.RecorderEndpoint"), "{mp4}");
        let jpeg = create_with(
            &core,
            &mut conn,
            "RecorderEndpoint",
            json!({"mediaPipeline": p, "uri": uri, "mediaProfile": "JPEG_VIDEO_ONLY"}),
        );
        assert_eq!(code(&jpeg), 40006, "{jpeg}");
        assert!(jpeg["error"]["message"].as_str().unwrap().contains("JPEG"));
        let no_uri = create_with(
            &core,
            &mut conn,
            "RecorderEndpoint",
            json!({"mediaPipeline": p}),
        );
        assert_eq!(code(&no_uri), 40100);
        let http = create_with(
            &core,
            &mut conn,
            "RecorderEndpoint",
            json!({"mediaPipeline": p, "uri": "http://example.com/a.webm"}),
        );
        assert_eq!(code(&http), 40107);
        let bad_flag = create_with(
            &core,
            &mut conn,
            "RecorderEndpoint",
            json!({"mediaPipeline": p, "uri": uri, "stopOnEndOfStream": "yes"}),
        );
        assert_eq!(code(&bad_flag), 40100);
        let r = create_with(
            &core,
            &mut conn,
            "RecorderEndpoint",
            json!({"mediaPipeline": p,
            "uri": uri, "mediaProfile": "WEBM", "stopOnEndOfStream": true}),
        );
        let rec = ok(&r)["value"].as_str().unwrap().to_owned();
        assert!(rec.starts_with(&format!("{p}/")) && rec.ends_with("_kurento.RecorderEndpoint"));

        let d = call(&core, &mut conn, "describe", json!({"object": rec}));
        assert_eq!(ok(&d)["hierarchy"][0], "kurento.UriEndpoint");
        assert_eq!(
            code(&call(
                &core,
                &mut conn,
                "subscribe",
                json!({"object": rec, "type": "IceCandidateFound"})
            )),
            40106
        );
        subscribe_all(
            &core,
            &mut conn,
            &rec,
            &[
                "Recording",
                "Paused",
                "Stopped",
                "UriEndpointStateChanged",
                "Error",
            ],
        );

        assert_eq!(
            ok(&invoke(&core, &mut conn, &rec, "getUri", json!({})))["value"],
            uri.as_str()
        );
        assert_eq!(
            ok(&invoke(&core, &mut conn, &rec, "getState", json!({})))["value"],
            "STOP"
        );
        ok(&invoke(&core, &mut conn, &rec, "record", json!({})));
        assert_eq!(
            ok(&invoke(&core, &mut conn, &rec, "getState", json!({})))["value"],
            "START"
        );
        let started = wait_events(&conn, &["Recording", "UriEndpointStateChanged"]);
        let data = &started["Recording"]["params"]["value"]["data"];
        assert_eq!(data["source"], rec.as_str());
        assert_eq!(data["type"], "Recording");
        assert!(data["timestampMillis"].is_string());
        assert_eq!(data["tags"], json!([]));
        let state = &started["UriEndpointStateChanged"]["params"]["value"];
        assert_eq!(state["object"], rec.as_str());
        assert_eq!(state["data"]["state"], "START");
        assert_eq!(state["data"]["type"], "UriEndpointStateChanged");

        ok(&invoke(&core, &mut conn, &rec, "pause", json!({})));
        assert_eq!(
            ok(&invoke(&core, &mut conn, &rec, "getState", json!({})))["value"],
            "PAUSE"
        );
        let paused = wait_events(&conn, &["Paused"]);
        assert_eq!(
            paused["Paused"]["params"]["value"]["data"]["source"],
            rec.as_str()
        );
        ok(&invoke(&core, &mut conn, &rec, "stopAndWait", json!({})));
        assert_eq!(
            ok(&invoke(&core, &mut conn, &rec, "getState", json!({})))["value"],
            "STOP"
        );
        let stopped = wait_events(&conn, &["Stopped"]);
        assert_eq!(
            stopped["Stopped"]["params"]["value"]["data"]["type"],
            "Stopped"
        );
        // Finalised: a WebM file (its EBML header) is there.
        let bytes = std::fs::read(&file).unwrap();
        assert_eq!(&bytes[..4], &[0x1A, 0x45, 0xDF, 0xA3]);
        // A stopped recorder does not record again: an error, not a hang.
        let again = invoke(&core, &mut conn, &rec, "record", json!({}));
        assert_eq!(code(&again), 40111);
        assert_eq!(
            code(&invoke(
                &core,
                &mut conn,
                &rec,
                "processOffer",
                json!({"offer": "v=0"})
            )),
            40105
        );

        // A file that cannot be created: record answers, an Error event follows.
        let r = create_with(
            &core,
            &mut conn,
            "RecorderEndpoint",
            json!({"mediaPipeline": p, "uri": "file:///nonexistent-dir/x.mkv", "mediaProfile": "MKV"}),
        );
        let nowhere = ok(&r)["value"].as_str().unwrap().to_owned();
        subscribe_all(&core, &mut conn, &nowhere, &["Error"]);
        ok(&invoke(&core, &mut conn, &nowhere, "record", json!({})));
        let error = wait_events(&conn, &["Error"]);
        assert_eq!(
            error["Error"]["params"]["value"]["data"]["type"],
            "RESOURCE_ERROR_OPEN"
        );

        let info = invoke(&core, &mut conn, SERVER_MANAGER, "getInfo", json!({}));
        let elements = &ok(&info)["value"]["modules"][1]["factories"];
        assert_eq!(
            *elements,
            json!([
                "WebRtcEndpoint",
                "RtpEndpoint",
                "RecorderEndpoint",
                "PlayerEndpoint"
            ])
        );
        ok(&call(&core, &mut conn, "release", json!({"object": p})));
        assert_eq!(
            code(&invoke(&core, &mut conn, &rec, "record", json!({}))),
            40101
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn rtp_endpoints_negotiate_and_report_their_states() {
        let core = core();
        let mut conn = Connection::default();
        let p = create(&core, &mut conn, "MediaPipeline", None);
        let sdes = |extra: Value| {
            let mut c = json!({"__module__": "kurento", "__type__": "SDES",
                "crypto": "AES_128_CM_HMAC_SHA1_80"});
            c.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            json!({"mediaPipeline": p, "crypto": c})
        };
        let keyed = create_with(
            &core,
            &mut conn,
            "RtpEndpoint",
            sdes(json!({"key": "0123456789012345678901234567890123456789"})),
        );
        assert_eq!(code(&keyed), 40006, "{keyed}");
        let suite = create_with(
            &core,
            &mut conn,
            "RtpEndpoint",
            sdes(json!({"crypto": "AES_256_CM_HMAC_SHA1_80"})),
        );
        assert_eq!(code(&suite), 40006);
        let not_sdes = create_with(
            &core,
            &mut conn,
            "RtpEndpoint",
            json!({"mediaPipeline": p, "crypto": "AES_128_CM_HMAC_SHA1_80"}),
        );
        assert_eq!(code(&not_sdes), 40100);
        let srtp = ok(&create_with(
            &core,
            &mut conn,
            "RtpEndpoint",
            sdes(json!({})),
        ))["value"]
            .as_str()
            .unwrap()
            .to_owned();
        let offer = generated_offer(&core, &mut conn, &srtp, json!({}));
        assert!(
            offer.contains("RTP/SAVPF") && offer.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80"),
            "{offer}"
        );

        let a = create(&core, &mut conn, "RtpEndpoint", Some(&p));
        let b = create(&core, &mut conn, "RtpEndpoint", Some(&p));
        let d = call(&core, &mut conn, "describe", json!({"object": a}));
        assert_eq!(ok(&d)["type"], "RtpEndpoint");
        assert_eq!(ok(&d)["hierarchy"][0], "kurento.BaseRtpEndpoint");
        subscribe_all(
            &core,
            &mut conn,
            &a,
            &[
                "ConnectionStateChanged",
                "MediaStateChanged",
                "OnKeySoftLimit",
                "ElementConnected",
            ],
        );
        assert_eq!(
            code(&call(
                &core,
                &mut conn,
                "subscribe",
                json!({"object": a, "type": "IceGatheringDone"})
            )),
            40106
        );
        assert_eq!(
            code(&invoke(
                &core,
                &mut conn,
                &a,
                "getLocalSessionDescriptor",
                json!({})
            )),
            40202
        );
        assert_eq!(
            code(&invoke(
                &core,
                &mut conn,
                &a,
                "processAnswer",
                json!({"answer": "v=0"})
            )),
            40209
        );
        assert_eq!(
            code(&invoke(
                &core,
                &mut conn,
                &a,
                "processOffer",
                json!({"offer": "garbage"})
            )),
            40201
        );
        assert_eq!(
            ok(&invoke(
                &core,
                &mut conn,
                &a,
                "getConnectionState",
                json!({})
            ))["value"],
            "DISCONNECTED"
        );

        let offer = ok(&invoke(&core, &mut conn, &a, "generateOffer", json!({})))["value"].clone();
        assert!(offer.as_str().unwrap().contains("RTP/AVPF"));
        // On the server's interfaces (the tests' core has `lo` only).
        assert!(
            offer.as_str().unwrap().contains("c=IN IP4 127.0.0.1"),
            "{offer}"
        );
        let v6 = create_with(
            &core,
            &mut conn,
            "RtpEndpoint",
            json!({"mediaPipeline": p, "useIpv6": true}),
        );
        if v6.get("error").is_none() {
            let id = v6["result"]["value"].as_str().unwrap();
            let sdp =
                ok(&invoke(&core, &mut conn, id, "generateOffer", json!({})))["value"].clone();
            assert!(sdp.as_str().unwrap().contains("c=IN IP6 ::1"), "{sdp}");
        } else {
            assert_eq!(code(&v6), 40009, "no IPv6 on lo: {v6}");
        }
        let answer = ok(&invoke(
            &core,
            &mut conn,
            &b,
            "processOffer",
            json!({"offer": offer}),
        ))["value"]
            .clone();
        let local = ok(&invoke(
            &core,
            &mut conn,
            &a,
            "processAnswer",
            json!({"answer": answer}),
        ))["value"]
            .clone();
        assert_eq!(local, offer, "processAnswer answers the local SDP");
        assert_eq!(
            ok(&invoke(
                &core,
                &mut conn,
                &a,
                "getRemoteSessionDescriptor",
                json!({})
            ))["value"],
            answer
        );
        assert_eq!(
            ok(&invoke(
                &core,
                &mut conn,
                &b,
                "getLocalSessionDescriptor",
                json!({})
            ))["value"],
            answer
        );
        let connected = wait_events(&conn, &["ConnectionStateChanged"]);
        let data = &connected["ConnectionStateChanged"]["params"]["value"]["data"];
        assert_eq!(data["source"], a.as_str());
        assert_eq!(
            (data["oldState"].as_str(), data["newState"].as_str()),
            (Some("DISCONNECTED"), Some("CONNECTED"))
        );
        assert_eq!(
            ok(&invoke(
                &core,
                &mut conn,
                &a,
                "getConnectionState",
                json!({})
            ))["value"],
            "CONNECTED"
        );
        assert!(ok(&invoke(&core, &mut conn, &a, "getMediaState", json!({})))["value"].is_string());
        ok(&invoke(&core, &mut conn, &a, "requestKeyframe", json!({})));
        let stats = ok(&invoke(&core, &mut conn, &a, "getStats", json!({})))["value"].clone();
        assert_eq!(stats[a.as_str()]["__type__"], "EndpointStats");
        assert_eq!(
            ok(&invoke(
                &core,
                &mut conn,
                &a,
                "getMaxVideoSendBandwidth",
                json!({})
            ))["value"],
            500
        );
        assert_eq!(
            code(&invoke(
                &core,
                &mut conn,
                &a,
                "setMtu",
                json!({"mtu": 1000})
            )),
            40006
        );
        assert_eq!(
            code(&invoke(&core, &mut conn, &a, "gatherCandidates", json!({}))),
            40105
        );

        // B feeds a recorder: an RtpEndpoint is a MediaElement like any other.
        let dir = std::env::temp_dir().join(format!("mf-server-rtp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rec = ok(&create_with(
            &core,
            &mut conn,
            "RecorderEndpoint",
            json!({"mediaPipeline": p,
            "uri": format!("file://{}/x.webm", dir.display())}),
        ))["value"]
            .as_str()
            .unwrap()
            .to_owned();
        ok(&invoke(
            &core,
            &mut conn,
            &b,
            "connect",
            json!({"sink": rec}),
        ));
        let sinks = ok(&invoke(
            &core,
            &mut conn,
            &b,
            "getSinkConnections",
            json!({}),
        ))["value"]
            .clone();
        assert_eq!(sinks.as_array().unwrap().len(), 3, "{sinks}");
        ok(&call(&core, &mut conn, "release", json!({"object": p})));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Waits (bounded, 15 s) for a notification matching `want` among those arriving
    /// (and those already kept in `kept`, where every notification read is kept).
    fn wait_for(conn: &Connection, kept: &mut Vec<Value>, want: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            for n in conn.take_notifications() {
                kept.push(serde_json::from_str(&n).unwrap());
            }
            if let Some(v) = kept.iter().find(|v| want(v)) {
                return v.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no such notification within 15 s: {kept:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn event_is(v: &Value, object: &str, ty: &str) -> bool {
        v["params"]["value"]["object"] == object && v["params"]["value"]["type"] == ty
    }

    fn uri_state_is(v: &Value, object: &str, state: &str) -> bool {
        event_is(v, object, "UriEndpointStateChanged")
            && v["params"]["value"]["data"]["state"] == state
    }

    /// A 1.2 s VP8 + Opus WebM made by Debian's ffmpeg.
    fn small_webm(path: &std::path::Path) {
        let out = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg("testsrc=size=160x120:rate=15")
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
            .args(["-t", "1.2", "-c:v", "libvpx", "-b:v", "100k", "-g", "5"])
            .args(["-deadline", "realtime", "-c:a", "libopus"])
            .arg(path)
            .output()
            .expect("ffmpeg (Debian's) makes the test file");
        assert!(out.status.success(), "ffmpeg: {out:?}");
    }

    #[test]
    fn player_endpoint_plays_a_file_to_its_end_and_stops_a_recorder() {
        let core = core();
        let mut conn = Connection::default();
        let p = create(&core, &mut conn, "MediaPipeline", None);
        let dir = std::env::temp_dir().join(format!("mf-server-player-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("in.webm");
        small_webm(&file);
        let uri = format!("file://{}", file.display());

        // Constructor parameters: uri required, useEncodedMedia/networkCache typed.
        let no_uri = create_with(
            &core,
            &mut conn,
            "PlayerEndpoint",
            json!({"mediaPipeline": p}),
        );
        assert_eq!(code(&no_uri), 40100, "{no_uri}");
        let bad_cache = create_with(
            &core,
            &mut conn,
            "PlayerEndpoint",
            json!({"mediaPipeline": p, "uri": uri, "networkCache": "lots"}),
        );
        assert_eq!(code(&bad_cache), 40100);
        let bad_encoded = create_with(
            &core,
            &mut conn,
            "PlayerEndpoint",
            json!({"mediaPipeline": p, "uri": uri, "useEncodedMedia": 1}),
        );
        assert_eq!(code(&bad_encoded), 40100);
        let r = create_with(
            &core,
            &mut conn,
            "PlayerEndpoint",
            json!({"mediaPipeline": p, "uri": uri, "useEncodedMedia": false, "networkCache": 2000}),
        );
        let player = ok(&r)["value"].as_str().unwrap().to_owned();
        assert!(player.ends_with("_kurento.PlayerEndpoint"));
        let d = call(&core, &mut conn, "describe", json!({"object": player}));
        assert_eq!(ok(&d)["type"], "PlayerEndpoint");
        assert_eq!(ok(&d)["hierarchy"][0], "kurento.UriEndpoint");
        assert_eq!(
            code(&call(
                &core,
                &mut conn,
                "subscribe",
                json!({"object": player, "type": "Recording"})
            )),
            40106
        );
        subscribe_all(
            &core,
            &mut conn,
            &player,
            &["EndOfStream", "UriEndpointStateChanged", "Error"],
        );

        let info = ok(&invoke(
            &core,
            &mut conn,
            &player,
            "getVideoInfo",
            json!({}),
        ))["value"]
            .clone();
        assert_eq!(info["__module__"], "kurento");
        assert_eq!(info["__type__"], "VideoInfo");
        assert_eq!(info["isSeekable"], true);
        assert_eq!(info["seekableInit"], 0);
        let duration = info["duration"].as_u64().unwrap();
        assert!((1100..=1300).contains(&duration), "{info}");
        assert_eq!(info["seekableEnd"], duration);
        assert_eq!(
            ok(&invoke(&core, &mut conn, &player, "getUri", json!({})))["value"],
            uri.as_str()
        );
        assert_eq!(
            ok(&invoke(&core, &mut conn, &player, "getState", json!({})))["value"],
            "STOP"
        );

        // A recorder with stopOnEndOfStream, fed by the player.
        let out = dir.join("out.webm");
        let rec = ok(&create_with(
            &core,
            &mut conn,
            "RecorderEndpoint",
            json!({"mediaPipeline": p, "uri": format!("file://{}", out.display()),
                "stopOnEndOfStream": true}),
        ))["value"]
            .as_str()
            .unwrap()
            .to_owned();
        subscribe_all(&core, &mut conn, &rec, &["Stopped"]);
        ok(&invoke(
            &core,
            &mut conn,
            &player,
            "connect",
            json!({"sink": rec}),
        ));
        ok(&invoke(&core, &mut conn, &rec, "record", json!({})));

        let mut kept = Vec::new();
        ok(&invoke(&core, &mut conn, &player, "play", json!({})));
        assert_eq!(
            ok(&invoke(&core, &mut conn, &player, "getState", json!({})))["value"],
            "START"
        );
        let started = wait_for(&conn, &mut kept, |v| uri_state_is(v, &player, "START"));
        assert!(started["params"]["value"]["data"]["timestampMillis"].is_string());
        ok(&invoke(&core, &mut conn, &player, "pause", json!({})));
        wait_for(&conn, &mut kept, |v| uri_state_is(v, &player, "PAUSE"));
        let at = ok(&invoke(&core, &mut conn, &player, "getPosition", json!({})))["value"]
            .as_u64()
            .unwrap();
        assert!(at <= duration, "{at}");
        assert_eq!(
            code(&invoke(
                &core,
                &mut conn,
                &player,
                "setPosition",
                json!({"position": -5})
            )),
            40107
        );
        ok(&invoke(
            &core,
            &mut conn,
            &player,
            "setPosition",
            json!({"position": 0}),
        ));
        ok(&invoke(&core, &mut conn, &player, "play", json!({})));
        let end = wait_for(&conn, &mut kept, |v| event_is(v, &player, "EndOfStream"));
        let data = &end["params"]["value"]["data"];
        assert_eq!(data["source"], player.as_str());
        assert_eq!(data["type"], "EndOfStream");
        assert_eq!(data["tags"], json!([]));
        wait_for(&conn, &mut kept, |v| uri_state_is(v, &player, "STOP"));
        assert_eq!(
            ok(&invoke(&core, &mut conn, &player, "getState", json!({})))["value"],
            "STOP"
        );
        // The recorder stopped by itself: its file is finalised.
        wait_for(&conn, &mut kept, |v| event_is(v, &rec, "Stopped"));
        assert_eq!(
            ok(&invoke(&core, &mut conn, &rec, "getState", json!({})))["value"],
            "STOP"
        );
        assert_eq!(
            &std::fs::read(&out).unwrap()[..4],
            &[0x1A, 0x45, 0xDF, 0xA3]
        );
        assert!(
            !kept.iter().any(|v| event_is(v, &player, "Error")),
            "{kept:?}"
        );

        // URIs it cannot play: the call answers, an Error event says why.
        for (bad, error_type) in [
            ("rtsp://127.0.0.1/stream", "INVALID_URI"),
            ("file:///nonexistent-dir/x.webm", "RESOURCE_ERROR_OPEN"),
        ] {
            let r = create_with(
                &core,
                &mut conn,
                "PlayerEndpoint",
                json!({"mediaPipeline": p, "uri": bad}),
            );
            let id = ok(&r)["value"].as_str().unwrap().to_owned();
            subscribe_all(&core, &mut conn, &id, &["Error", "UriEndpointStateChanged"]);
            ok(&invoke(&core, &mut conn, &id, "play", json!({})));
            let error = wait_for(&conn, &mut kept, |v| event_is(v, &id, "Error"));
            wait_for(&conn, &mut kept, |v| uri_state_is(v, &id, "START"));
            wait_for(&conn, &mut kept, |v| uri_state_is(v, &id, "STOP"));
            let start_at = kept.iter().position(|v| uri_state_is(v, &id, "START"));
            let stop_at = kept.iter().position(|v| uri_state_is(v, &id, "STOP"));
            assert!(start_at < stop_at, "START then STOP: {kept:?}");
            assert_eq!(
                ok(&invoke(&core, &mut conn, &id, "getState", json!({})))["value"],
                "STOP"
            );
            let data = &error["params"]["value"]["data"];
            assert_eq!(data["type"], error_type, "{bad}: {error}");
            assert!(data["errorCode"].is_i64(), "{error}");
            assert!(data["description"].is_string());
            // No video info either: a typed error, not a hang.
            let info = invoke(&core, &mut conn, &id, "getVideoInfo", json!({}));
            assert!(info.get("error").is_some(), "{info}");
        }

        ok(&call(&core, &mut conn, "release", json!({"object": p})));
        assert_eq!(
            code(&invoke(&core, &mut conn, &player, "play", json!({}))),
            40101
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
