//! What the SDK says about itself: version, capabilities, platform.

use serde::{Deserialize, Serialize};

/// The kandy-rs version (`getVersion`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The features this build implements (`getCapabilities`). The list grows
/// with each feature; names follow the JS SDK's (CONST-13) where one exists.
pub const CAPABILITIES: &[&str] = &[
    "logs",
    "config",
    "connect",
    "userCredentialsAuth",
    "hmacTokenAuth",
    "accessTokenAuth",
    "refreshTokenAuth",
    "oauthToken",
    "updateConnection",
    "services",
    "externalNotifications",
];

/// The Rust counterpart of `getBrowserDetails`: where the SDK runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformDetails {
    /// `kandy-rs`.
    pub sdk: String,
    /// The SDK version.
    pub version: String,
    /// Target OS (`linux`, `macos`, ...).
    pub os: String,
    /// Target architecture.
    pub arch: String,
}

/// Details of this build.
pub fn details() -> PlatformDetails {
    PlatformDetails {
        sdk: "kandy-rs".into(),
        version: VERSION.into(),
        os: std::env::consts::OS.into(),
        arch: std::env::consts::ARCH.into(),
    }
}
