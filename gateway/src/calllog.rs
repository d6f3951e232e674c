//! Call logs: one record per participant of every relayed call, stored for
//! the call-history service (03-services §4.1, §9.6).
//!
//! Records have exactly the shape of the `params` of a `logHistory` item
//! (`recordId`, `direction`, `startTime`, `duration`, `callerName`, …,
//! `resourceLocation`), so the later `GET …/logHistory` only wraps them.
//! The extra `result` field says how the call ended; the client keeps extra
//! fields as they are (03-services §4.1).

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

/// `direction` of a call log record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum CallDirection {
    /// The user placed the call.
    Outgoing,
    /// The user received and answered the call.
    Incoming,
    /// The user received the call and did not answer it: rejected, ignored,
    /// cancelled by the caller, forwarded, or placed while the user was
    /// offline (03-services §9.6 makes rejected and cancelled calls
    /// `missed`).
    Missed,
}

/// How a logged call ended, from the logging user's side. Not a protocol
/// field (the client keeps unknown fields as they are): it lets tests and
/// the CLI tell the cases apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum CallResult {
    /// The call was answered (whoever ended it, however it ended later).
    Answered,
    /// The callee declined (`reject`, or a DELETE while ringing).
    Rejected,
    /// The caller hung up before the callee answered.
    Cancelled,
    /// Nobody answered before the ringing timeout.
    NoAnswer,
    /// The destination is not a user of the directory.
    NotFound,
    /// The callee had no subscription with the `call` service, or its
    /// subscription ended while the call was ringing.
    Unavailable,
    /// The destination is a party of the call already (e.g. calling
    /// oneself).
    Busy,
    /// The callee forwarded the call elsewhere before answering.
    Forwarded,
    /// The user transferred the call (direct or consultative).
    Transferred,
    /// The answer was unusable or the call was ended by the gateway (hook).
    Failed,
}

/// One call log record (03-services §4.1 "Call log record").
///
/// `startTime` and `duration` are strings of milliseconds, as the client's
/// own logs are and as 03-services §9.6 prescribes (the real gateway's
/// units are UNCERTAIN, §10 item 3). Caller fields describe the caller and
/// callee fields the callee whatever the direction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CallLogRecord {
    /// Unique per user, never `"0"` (the client cannot delete a falsy id).
    pub record_id: String,
    /// `outgoing`, `incoming` or `missed`.
    pub direction: CallDirection,
    /// When the call was answered, or created if it never was (epoch ms).
    pub start_time: String,
    /// From answer to end (ms); `"0"` if never answered.
    pub duration: String,
    /// The caller's display name.
    pub caller_name: String,
    /// The caller as `user@domain`.
    pub caller_display_number: String,
    /// The callee's display name.
    pub callee_name: String,
    /// The callee as `user@domain`.
    pub callee_display_number: String,
    /// `/rest/version/{v}/user/{user}/logRecord/{recordId}`; never empty
    /// (an empty one marks a client-local log, 03-services §4.1).
    pub resource_location: String,
    /// How the call ended for this user (not a protocol field).
    pub result: CallResult,
}

/// Everything about a record but its id and location.
#[derive(Clone, Debug)]
pub(crate) struct LogEntry {
    pub(crate) direction: CallDirection,
    pub(crate) start_ms: u64,
    pub(crate) duration_ms: u64,
    pub(crate) caller: (String, String),
    pub(crate) callee: (String, String),
    pub(crate) result: CallResult,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct UserLog {
    /// Next record id; starts at 1.
    next_id: u64,
    /// Newest last.
    records: VecDeque<CallLogRecord>,
}

/// Per-user logs, keyed by lower-case username, each capped.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct CallLogs {
    by_user: HashMap<String, UserLog>,
}

impl CallLogs {
    /// Appends a record for `user` (canonical username), dropping the
    /// oldest beyond `cap`.
    pub(crate) fn add(&mut self, user: &str, version: &str, cap: usize, entry: LogEntry) {
        if cap == 0 {
            return;
        }
        let log = self.by_user.entry(user.to_ascii_lowercase()).or_default();
        log.next_id = log.next_id.max(1);
        let id = log.next_id.to_string();
        log.next_id = log.next_id.saturating_add(1);
        log.records.push_back(CallLogRecord {
            resource_location: format!(
                "/rest/version/{}/user/{}/logRecord/{id}",
                crate::subscription::encode_segment(version),
                crate::subscription::encode_segment(user)
            ),
            record_id: id,
            direction: entry.direction,
            start_time: entry.start_ms.to_string(),
            duration: entry.duration_ms.to_string(),
            caller_name: entry.caller.0,
            caller_display_number: entry.caller.1,
            callee_name: entry.callee.0,
            callee_display_number: entry.callee.1,
            result: entry.result,
        });
        while log.records.len() > cap {
            log.records.pop_front();
        }
    }

    /// A user's records, newest first (the `logHistory` order).
    pub(crate) fn of(&self, user: &str) -> Vec<CallLogRecord> {
        self.by_user
            .get(&user.to_ascii_lowercase())
            .map(|l| l.records.iter().rev().cloned().collect())
            .unwrap_or_default()
    }

    pub(crate) fn check(&self, cap: usize) -> Result<(), String> {
        for (user, log) in &self.by_user {
            if log.records.len() > cap.max(1) {
                return Err(format!("call log of {user} exceeds the cap"));
            }
            if log.records.iter().any(|r| r.record_id == "0") {
                return Err(format!("call log of {user} has a record id 0"));
            }
        }
        Ok(())
    }
}
