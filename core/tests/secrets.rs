//! Secrets never reach log records or the serialized form of config,
//! inputs, effects and state, unless the user opts in.

use base64::Engine;
use kandy_core::config::LogLevel;
use kandy_core::secret::with_secrets_exposed;
use kandy_core::{
    Client, Command, Config, Credentials, Effect, HttpOutcome, Input, InputKind, Now, SocketId,
    TokenUpdate,
};

const SUBSCRIBED: &str = r#"{"subscribeResponse":{"subscription":"/rest/version/1/user/alice@example.com/subscription/sub-1","token":"SUBTOKEN-9","subscriptionParams":{"notificationChannel":"/rest/version/1/notification/CHANNEL-SECRET-77","expires":60,"service":["call"],"sessionId":"SESSION-SECRET-5","turnCredentials":{"username":"TURN-USER-3","password":"TURN-PASS-4"}}}}"#;

/// Runs sessions with every credential kind, logs at the most verbose level
/// with payloads, and returns everything that would be logged or recorded.
fn transcript() -> String {
    let mut config = Config::for_server("gw.test", true, 443);
    config.logs.log_level = LogLevel::Debug;
    config.logs.log_actions.as_mut().unwrap().expose_payloads = true;
    config.connectivity.check_connectivity = true;
    let mut out = vec![serde_json::to_string(&config).unwrap()];
    let creds = [
        Credentials::password("alice@example.com", "PASSWORD-1"),
        Credentials::hmac("alice@example.com", "HMAC-TOKEN-2"),
        Credentials::AccessToken {
            username: "alice@example.com".into(),
            access_token: "ACCESS-TOKEN-6".into(),
            refresh_token: Some("REFRESH-TOKEN-8".into()),
            expires: Some(400),
        },
        Credentials::oauth("alice@example.com", "OAUTH-TOKEN-10"),
    ];
    for c in creds {
        let mut client = Client::new(config.clone(), 1);
        let mut now = Now::at(0);
        let feed = |client: &mut Client, kind: InputKind, now: Now, out: &mut Vec<String>| {
            let input = Input::new(now, kind);
            out.push(serde_json::to_string(&input).unwrap());
            let _ = client.handle(input);
            while let Some(e) = client.poll_effect() {
                if let Effect::Log(r) = &e {
                    out.push(r.message.to_string());
                }
                out.push(serde_json::to_string(&e).unwrap());
                if let Effect::Http(r) = &e {
                    out.push(format!("{r:?}"));
                }
            }
        };
        feed(
            &mut client,
            InputKind::Command(Command::Connect(c)),
            now,
            &mut out,
        );
        let id = client.state().http.pending.keys().next().copied().unwrap();
        feed(
            &mut client,
            InputKind::HttpResponse {
                id,
                outcome: HttpOutcome::json(200, SUBSCRIBED),
            },
            now,
            &mut out,
        );
        feed(
            &mut client,
            InputKind::WsOpened {
                socket: SocketId(1),
            },
            now,
            &mut out,
        );
        let _ = client.handle(Input::command(
            now,
            Command::UpdateToken(TokenUpdate::OAuth {
                oauth_token: "NEW-TOKEN-11".into(),
            }),
        ));
        while client.poll_effect().is_some() {}
        now = now.plus(100_000);
        feed(&mut client, InputKind::Timeout, now, &mut out);
        out.push(serde_json::to_string(client.state()).unwrap());
        out.push(format!("{:?}", client.state()));
        out.push(serde_json::to_string(&client.user_info()).unwrap());
    }
    out.join("\n")
}

const SECRETS: &[&str] = &[
    "PASSWORD-1",
    "HMAC-TOKEN-2",
    "TURN-USER-3",
    "TURN-PASS-4",
    "SESSION-SECRET-5",
    "ACCESS-TOKEN-6",
    "CHANNEL-SECRET-77",
    "REFRESH-TOKEN-8",
    "SUBTOKEN-9",
    "OAUTH-TOKEN-10",
    "NEW-TOKEN-11",
];

#[test]
fn no_secret_in_logs_or_serialized_forms() {
    let text = transcript();
    let basic = base64::engine::general_purpose::STANDARD.encode("alice@example.com:PASSWORD-1");
    for s in SECRETS.iter().copied().chain([basic.as_str()]) {
        assert!(
            !text.contains(s),
            "secret {s} leaked:\n{}",
            text.lines().find(|l| l.contains(s)).unwrap()
        );
    }
    assert!(text.contains("[redacted]"));
}

#[test]
fn the_opt_in_exposes_them() {
    let text = with_secrets_exposed(transcript);
    for s in [
        "PASSWORD-1",
        "CHANNEL-SECRET-77",
        "SESSION-SECRET-5",
        "TURN-PASS-4",
        "ACCESS-TOKEN-6",
    ] {
        assert!(text.contains(s), "{s} should be visible with the opt-in");
    }
}
