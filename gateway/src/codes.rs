//! The numeric `statusCode` values the emulator puts in error bodies.
//!
//! Real SPiDR values are UNCERTAIN (01-session §12); the 4.8.0 client only
//! prints them. Where a later SDK gives a number a meaning (Link 4.41.3's list
//! in 04 §1.3, the emulator choices of 03-services §9.1 and 04 §4.1/§4.3) the
//! emulator uses that number, so that newer clients classify errors
//! correctly. The crate docs carry the full table (HTTP status ↔ code).

/// Success.
pub const SUCCESS: u32 = 0;
/// Wrong password, unknown login name, HMAC token that does not verify.
/// (Link 4.41.3: "bad password".)
pub const BAD_PASSWORD: u32 = 4;
/// The authenticated identity may not act as the user named in the path
/// (03-services §9.1: "forbidden").
pub const FORBIDDEN: u32 = 19;
/// Unknown or malformed token (access, OAuth/bearer, refresh on the token
/// service) or unknown `x-session` (04 §4.1 item 3).
pub const INVALID_TOKEN: u32 = 27;
/// Malformed request: body not JSON, wrapper object missing, field of the
/// wrong type, body too large (03-services §9.1).
pub const BAD_REQUEST: u32 = 37;
/// Unknown, expired or deleted subscription (04 §4.3 item 2).
pub const UNKNOWN_SUBSCRIPTION: u32 = 39;
/// Wrong HTTP method on a known path (emulator choice).
pub const METHOD_NOT_ALLOWED: u32 = 40;
/// Unknown user or unknown path (03-services §9.1: "not found").
pub const NOT_FOUND: u32 = 42;
/// No credential at all, an `Authorization` scheme the gateway does not
/// know, or a Basic value that does not decode (Link 4.41.3: "credentials
/// problem").
pub const BAD_CREDENTIALS: u32 = 61;
/// Expired token (04 §4.1 item 3).
pub const TOKEN_EXPIRED: u32 = 65;

// ----- call endpoints (02-calls §1.5, §7.7) --------------------------------
//
// Call error bodies are `{"callControlResponse":{"statusCode":N,...}}`, the
// only wrapper `call/link/requests/calls.js` parses. The client gives these
// numbers a meaning, so they are fixed; the HTTP statuses paired with them
// are emulator choices (02-calls §9 item 1).

/// "Invalid or missing request body": not JSON, wrapper missing, unknown
/// `type`/`action`, a required field missing or not a string.
pub const CALL_INVALID_BODY: u32 = 5;
/// "Internal Server Error"; also what a gateway without a mixer answers to
/// `join` (02-calls §6.11).
pub const CALL_SERVER_ERROR: u32 = 26;
/// The leg does not exist (never issued, another user's, or ended): stops
/// the client's audit loop (02-calls §2.10).
pub const CALL_UNKNOWN_SESSION: u32 = 42;
/// An offer/answer transaction is already open on the call (glare; 02-calls
/// §7.5). Also the top-level `statusCode` of the glare `respondCallUpdate`.
pub const CALL_GLARE: u32 = 49;
/// "Bad request": request in the wrong state, malformed SDP or address,
/// another user's path.
pub const CALL_BAD_REQUEST: u32 = 1004;
