//! The notification pipeline: every notification, from the socket, a push
//! or the application, goes through one sequential queue (01-session §5.5):
//! channel gate → SDP normalisation → de-duplication by `eventId` →
//! dispatch by `eventType`.

use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::io::Read;
use std::sync::Arc;

use crate::input::{NotificationChannel, RequestId};

/// Largest SDP a `compressed` notification may inflate to. A zlib bomb
/// beyond it is dropped instead of exhausting memory.
pub const MAX_INFLATED_SDP: usize = 1 << 20;

/// A JSON document kept as its text: how a notification travels through the
/// pipeline and reaches the application.
///
/// The pipeline reads the few fields it routes on with one borrowed parse
/// that skips the rest, and each feature reads its own parameters the same
/// way; no `Value` tree is built per notification. [`RawJson::to_value`] and
/// [`RawJson::parse`] are there for whoever wants more.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RawJson(String);

impl RawJson {
    /// Wraps text already known to be a JSON object.
    pub(crate) fn from_checked(text: String) -> Self {
        RawJson(text)
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses it into a `Value`.
    pub fn to_value(&self) -> Value {
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }

    /// Parses it into any type, borrowing from the text where it can.
    pub fn parse<'a, T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.0)
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for RawJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match serde_json::from_str::<&RawValue>(&self.0) {
            Ok(raw) => raw.serialize(s),
            Err(_) => s.serialize_none(),
        }
    }
}

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(d).map(|raw| RawJson(raw.get().to_owned()))
    }
}

/// How an SDP inside a notification is given (`sessionParams.sdpFormat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SdpFormat {
    /// base64 of a zlib stream.
    Compressed,
    /// A path to fetch.
    Url,
}

/// What the pipeline routes a notification on, read once per frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// `eventType` (empty when missing).
    pub event_type: String,
    /// `eventId` as its JSON text (so `"5"` and `5` differ), if present.
    pub event_id: Option<String>,
    /// A compressed or by-URL SDP still to normalise.
    pub sdp_format: Option<SdpFormat>,
}

impl Meta {
    /// The de-duplication key: the id's JSON text. `None` for a missing id;
    /// such notifications are not de-duplicated (4.8.0 treats the first as
    /// id `undefined` and drops every later one, a defect).
    pub(crate) fn id_key(&self) -> Option<&str> {
        self.event_id.as_deref().filter(|raw| *raw != "null")
    }

    /// The id for display: a string id unquoted, anything else as JSON.
    pub(crate) fn id_display(&self) -> Option<String> {
        let raw = self.id_key()?;
        if raw.starts_with('"') {
            serde_json::from_str::<String>(raw).ok()
        } else {
            Some(raw.to_owned())
        }
    }
}

/// What one frame is.
#[derive(Debug, PartialEq)]
pub(crate) enum Frame {
    /// A truthy `connCheck` (server ping), with its `interval` in seconds.
    ConnCheck(Option<f64>),
    /// A truthy `connAck` (pong).
    ConnAck,
    /// A notification envelope.
    Notification(Meta),
    /// JSON without a `notificationMessage` object.
    NoEnvelope,
}

#[derive(Deserialize)]
struct FrameHead<'a> {
    #[serde(rename = "connCheck", borrow, default)]
    conn_check: Option<&'a RawValue>,
    #[serde(rename = "connAck", borrow, default)]
    conn_ack: Option<&'a RawValue>,
    #[serde(rename = "notificationMessage", borrow, default)]
    message: Option<MessageHead<'a>>,
}

#[derive(Deserialize)]
struct MessageHead<'a> {
    #[serde(rename = "eventType", borrow, default)]
    event_type: Option<Cow<'a, str>>,
    #[serde(rename = "eventId", borrow, default)]
    event_id: Option<&'a RawValue>,
    #[serde(rename = "sessionParams", borrow, default)]
    session_params: Option<SessionParamsHead<'a>>,
}

#[derive(Deserialize)]
struct SessionParamsHead<'a> {
    #[serde(rename = "sdpFormat", borrow, default)]
    sdp_format: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ConnCheckBody {
    interval: Option<f64>,
}

fn truthy(raw: &RawValue) -> bool {
    !matches!(raw.get().trim(), "null" | "false" | "0" | "\"\"")
}

/// Classifies a frame with one parse that skips what it does not need.
/// Malformed JSON, or JSON that is not an object, is an error.
pub(crate) fn read_frame(text: &str) -> Result<Frame, serde_json::Error> {
    if !text.trim_start().starts_with('{') {
        // A derived struct would also accept a JSON array positionally.
        return Err(serde::de::Error::custom("a frame must be a JSON object"));
    }
    let head: FrameHead<'_> = serde_json::from_str(text)?;
    if let Some(check) = head.conn_check.filter(|c| truthy(c)) {
        let interval = serde_json::from_str::<ConnCheckBody>(check.get())
            .ok()
            .and_then(|b| b.interval);
        return Ok(Frame::ConnCheck(interval));
    }
    if head.conn_ack.is_some_and(truthy) {
        return Ok(Frame::ConnAck);
    }
    let Some(m) = head.message else {
        return Ok(Frame::NoEnvelope);
    };
    let sdp_format = match m.session_params.and_then(|p| p.sdp_format).as_deref() {
        Some("compressed") => Some(SdpFormat::Compressed),
        Some("url") => Some(SdpFormat::Url),
        _ => None,
    };
    Ok(Frame::Notification(Meta {
        event_type: m.event_type.map(Cow::into_owned).unwrap_or_default(),
        event_id: m.event_id.map(|r| r.get().to_owned()),
        sdp_format,
    }))
}

/// The last `idCacheLength` accepted notification ids, FIFO.
///
/// Kept as a queue (the order, serialized) plus a set (the lookup, rebuilt
/// on deserialize), so a lookup is O(1) and memory is bounded by the cap
/// however many notifications arrive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdCache {
    // One allocation per id, shared by the queue and the set.
    order: VecDeque<Arc<str>>,
    set: HashSet<Arc<str>>,
}

impl IdCache {
    /// Whether the id was accepted recently.
    pub fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }

    /// Remembers an id, forgetting the oldest ones beyond `cap`.
    pub fn insert(&mut self, id: impl Into<Arc<str>>, cap: usize) {
        if cap == 0 {
            return;
        }
        while self.order.len() >= cap {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        let id = id.into();
        self.set.insert(Arc::clone(&id));
        self.order.push_back(id);
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

impl Serialize for IdCache {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.order.iter().map(|id| &**id))
    }
}

impl<'de> Deserialize<'de> for IdCache {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let order: VecDeque<Arc<str>> = VecDeque::<String>::deserialize(d)?
            .into_iter()
            .map(Arc::from)
            .collect();
        let set = order.iter().cloned().collect();
        Ok(IdCache { order, set })
    }
}

/// A notification waiting in the pipeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queued {
    /// Where it came from.
    pub channel: NotificationChannel,
    /// The envelope.
    pub payload: RawJson,
    /// Its routing fields.
    pub meta: Meta,
}

/// A notification waiting for its SDP to be fetched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parked {
    /// The fetch.
    pub request: RequestId,
    /// The notification.
    pub notification: Queued,
}

/// The pipeline's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationState {
    /// Socket notifications are processed (enabled at every socket open).
    pub websocket_enabled: bool,
    /// Push notifications are processed (after a push registration).
    pub push_enabled: bool,
    /// Application-supplied notifications are processed.
    pub external_enabled: bool,
    /// Recently accepted ids.
    pub ids: IdCache,
    /// A notification held while its SDP is fetched.
    pub parked: Option<Parked>,
    /// Notifications queued behind the parked one (bounded).
    pub queue: VecDeque<Queued>,
}

impl Default for NotificationState {
    fn default() -> Self {
        NotificationState {
            websocket_enabled: true,
            push_enabled: false,
            external_enabled: true,
            ids: IdCache::default(),
            parked: None,
            queue: VecDeque::new(),
        }
    }
}

impl NotificationState {
    /// Whether the channel's gate is open.
    pub fn enabled(&self, channel: NotificationChannel) -> bool {
        match channel {
            NotificationChannel::Websocket => self.websocket_enabled,
            NotificationChannel::Push => self.push_enabled,
            NotificationChannel::External => self.external_enabled,
        }
    }
}

/// Decodes a `compressed` SDP: base64 of a zlib stream, each byte one
/// character (Latin-1), as the JS SDK maps it.
pub(crate) fn inflate_sdp(b64: &str) -> Result<String, String> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| format!("bad base64: {e}"))?;
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(raw.as_slice())
        .take(MAX_INFLATED_SDP as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("bad zlib stream: {e}"))?;
    if out.len() > MAX_INFLATED_SDP {
        return Err(format!("inflates past {MAX_INFLATED_SDP} bytes"));
    }
    Ok(out.iter().map(|&b| b as char).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::Write;

    #[test]
    fn id_cache_is_bounded_fifo_and_round_trips() {
        let mut c = IdCache::default();
        for i in 0..5 {
            c.insert(format!("e{i}"), 3);
        }
        assert_eq!(c.len(), 3);
        assert!(!c.contains("e1") && c.contains("e2") && c.contains("e4"));
        let back: IdCache = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        assert!(back.contains("e3"));
    }

    fn meta(text: &str) -> Meta {
        match read_frame(text).unwrap() {
            Frame::Notification(m) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ids_are_strict() {
        let a = meta(r#"{"notificationMessage":{"eventId":"5"}}"#);
        let b = meta(r#"{"notificationMessage":{"eventId":5}}"#);
        assert_ne!(a.id_key(), b.id_key());
        assert_eq!(a.id_display().as_deref(), Some("5"));
        assert_eq!(
            meta(r#"{"notificationMessage":{"eventId":null}}"#).id_key(),
            None
        );
        assert_eq!(meta(r#"{"notificationMessage":{}}"#).id_key(), None);
    }

    #[test]
    fn frames_are_classified_in_one_pass() {
        assert_eq!(
            read_frame(r#"{"connCheck":{"interval":30}}"#).unwrap(),
            Frame::ConnCheck(Some(30.0))
        );
        assert_eq!(
            read_frame(r#"{"connCheck":false,"connAck":{}}"#).unwrap(),
            Frame::ConnAck
        );
        assert_eq!(read_frame(r#"{"other":1}"#).unwrap(), Frame::NoEnvelope);
        assert!(read_frame("[1]").is_err() && read_frame("nope").is_err());
        assert!(read_frame(r#"{"notificationMessage":3}"#).is_err());
        let m = meta(
            r#"{"notificationMessage":{"eventType":"call","x":[1,{"y":2}],"sessionParams":{"sdpFormat":"url","sdp":"/a"}}}"#,
        );
        assert_eq!(
            (m.event_type.as_str(), m.sdp_format),
            ("call", Some(SdpFormat::Url))
        );
    }

    #[test]
    fn raw_json_serializes_embedded() {
        let r = RawJson::from_checked(r#"{"a":[1,2]}"#.to_owned());
        let s = serde_json::to_string(&json!({"p": r})).unwrap();
        assert_eq!(s, r#"{"p":{"a":[1,2]}}"#);
        let back: RawJson = serde_json::from_str(r#"{"b": 1}"#).unwrap();
        assert_eq!(back.to_value(), json!({"b": 1}));
    }

    #[test]
    fn compressed_sdp() {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(b"v=0\r\ns=-\r\n").unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(z.finish().unwrap());
        assert_eq!(inflate_sdp(&b64).unwrap(), "v=0\r\ns=-\r\n");
        assert!(inflate_sdp("%%%").is_err());
        // A bomb: 4 MiB of zeros compresses to a few KiB.
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&vec![0u8; 4 << 20]).unwrap();
        let bomb = base64::engine::general_purpose::STANDARD.encode(z.finish().unwrap());
        assert!(inflate_sdp(&bomb).unwrap_err().contains("inflates past"));
    }
}
