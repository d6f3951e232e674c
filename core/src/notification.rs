//! The notification pipeline: every notification, from the socket, a push
//! or the application, goes through one sequential queue (01-session §5.5):
//! channel gate → SDP normalisation → de-duplication by `eventId` →
//! dispatch by `eventType`.

use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::collections::{HashSet, VecDeque};
use std::io::Read;

use crate::input::{NotificationChannel, RequestId};

/// Largest SDP a `compressed` notification may inflate to. A zlib bomb
/// beyond it is dropped instead of exhausting memory.
pub const MAX_INFLATED_SDP: usize = 1 << 20;

/// The last `idCacheLength` accepted notification ids, FIFO.
///
/// Kept as a queue (the order, serialized) plus a set (the lookup, rebuilt
/// on deserialize), so a lookup is O(1) and memory is bounded by the cap
/// however many notifications arrive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdCache {
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl IdCache {
    /// Whether the id was accepted recently.
    pub fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }

    /// Remembers an id, forgetting the oldest ones beyond `cap`.
    pub fn insert(&mut self, id: String, cap: usize) {
        if cap == 0 {
            return;
        }
        while self.order.len() >= cap {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.set.insert(id.clone());
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
        self.order.serialize(s)
    }
}

impl<'de> Deserialize<'de> for IdCache {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let order = VecDeque::<String>::deserialize(d)?;
        let set = order.iter().cloned().collect();
        Ok(IdCache { order, set })
    }
}

/// A notification waiting for its SDP to be fetched.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Parked {
    /// The fetch.
    pub request: RequestId,
    /// Where the notification came from.
    pub channel: NotificationChannel,
    /// The envelope.
    pub payload: Value,
}

/// The pipeline's state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    pub queue: VecDeque<(NotificationChannel, Value)>,
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

/// The de-duplication key of an envelope. Strict as in the JS SDK: the
/// string `"5"` and the number `5` are different ids. `None` for a missing
/// id; such notifications are not de-duplicated (4.8.0 treats the first as
/// id `undefined` and drops every later one, a defect).
pub(crate) fn id_key(message: &Value) -> Option<String> {
    match message.get("eventId")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(format!("\u{0}#{n}")),
        Value::Null => None,
        other => Some(format!("\u{0}{other}")),
    }
}

/// The `eventId` for display.
pub(crate) fn id_display(message: &Value) -> Option<String> {
    match message.get("eventId")? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
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

    #[test]
    fn ids_are_strict() {
        assert_ne!(
            id_key(&json!({"eventId": "5"})),
            id_key(&json!({"eventId": 5}))
        );
        assert_eq!(id_key(&json!({})), None);
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
