//! POST subscription: success shape and every rejection row of 01-session
//! §11.2, plus authname, HMAC and token carriers.

mod common;

use common::*;
use kandy_gateway::{codes, hmac_token, GatewayConfig, HttpRequest, TokenKind, TurnCredentials};
use serde_json::{json, Value};

#[test]
fn success_body_has_exactly_the_expected_shape() {
    let mut gw = gateway();
    let resp = gw.handle_http(
        T0,
        post_subscription("alice@example.com", basic("alice@example.com", "alice")),
    );
    assert_eq!(resp.status, 200);
    let body = json_of(&resp);
    let r = &body["subscribeResponse"];
    let top: Vec<&String> = body.as_object().expect("object").keys().collect();
    assert_eq!(top, ["subscribeResponse"]);
    let mut keys: Vec<&String> = r.as_object().expect("object").keys().collect();
    keys.sort();
    assert_eq!(keys, ["statusCode", "subscription", "subscriptionParams"]);
    assert_eq!(r["statusCode"], 0);

    let sub = r["subscription"].as_str().expect("string");
    let id = sub
        .strip_prefix("/rest/version/1/user/alice@example.com/subscription/")
        .expect("subscription path layout");
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));

    let p = &r["subscriptionParams"];
    let mut pkeys: Vec<&String> = p.as_object().expect("object").keys().collect();
    pkeys.sort();
    assert_eq!(
        pkeys,
        ["expires", "notificationChannel", "service", "sessionId"]
    );
    let channel = p["notificationChannel"].as_str().expect("string");
    let chan_id = channel
        .strip_prefix("/rest/version/1/notificationChannel/")
        .expect("channel layout");
    assert_eq!(chan_id.len(), 32, "128 random bits");
    assert_eq!(p["expires"], 3600);
    assert_eq!(p["service"], json!(["IM", "Presence", "call"]));
    assert!(p["sessionId"].as_str().is_some_and(|s| s.len() == 32));
    assert!(p.get("turnCredentials").is_none());

    assert_eq!(resp.header("access-control-allow-origin"), Some("*"));
    assert_eq!(gw.stats().subscriptions, 1);
    check(&gw);
}

#[test]
fn channels_and_ids_differ_between_subscriptions_and_seeds() {
    let mut gw = gateway();
    let a = subscribe(&mut gw, T0, "alice");
    let b = subscribe(&mut gw, T0, "alice");
    assert_ne!(a.channel, b.channel);
    assert_ne!(a.subscription, b.subscription);
    assert_ne!(a.session_id, b.session_id);
    let mut other = kandy_gateway::Gateway::new(
        GatewayConfig::default(),
        kandy_gateway::Users::builtin(),
        [1; 32],
    );
    let c = subscribe(&mut other, T0, "alice");
    assert_ne!(a.channel, c.channel);
    // Same seed, same story: determinism for tests.
    let mut again = gateway();
    assert_eq!(subscribe(&mut again, T0, "alice").channel, a.channel);
}

#[test]
fn expires_is_clamped_and_services_filtered_as_spelled() {
    let mut gw = gateway();
    let req = |expires: Value, service: Value| {
        HttpRequest::new("POST", sub_path("bob@example.com"))
            .with_header(
                "Authorization",
                kandy_gateway::basic_authorization("bob@example.com", "bob"),
            )
            .with_json(&json!({"subscribeRequest": {"expires": expires, "service": service}}))
    };
    // A non-string entry makes the whole request invalid.
    let body = json_of(&gw.handle_http(T0, req(json!(3600), json!(["IM", 7]))));
    assert_eq!(body["subscribeResponse"]["statusCode"], 37);

    let body = json_of(&gw.handle_http(
        T0,
        req(
            json!(99_999),
            json!([
                "im",
                "PRESENCE",
                "Call",
                "video",
                "event:conference",
                "event:"
            ]),
        ),
    ));
    let p = &body["subscribeResponse"]["subscriptionParams"];
    assert_eq!(p["expires"], 3600, "granted <= requested, capped at max");
    assert_eq!(
        p["service"],
        json!(["im", "PRESENCE", "Call", "event:conference"])
    );

    let body = json_of(&gw.handle_http(T0, req(json!(10), json!([]))));
    let p = &body["subscribeResponse"]["subscriptionParams"];
    assert_eq!(p["expires"], 60, "raised to the minimum");
    assert_eq!(p["service"], json!([]), "an empty grant is allowed");

    let body = json_of(&gw.handle_http(T0, req(json!(120.9), json!(["IM"]))));
    assert_eq!(
        body["subscribeResponse"]["subscriptionParams"]["expires"],
        120
    );
}

#[test]
fn later_version_fields_are_accepted() {
    let mut gw = gateway();
    let req = HttpRequest::new("POST", sub_path("alice@example.com"))
        .with_header("Authorization", "Basic YWxpY2VAZXhhbXBsZS5jb206YWxpY2U=")
        .with_json(&json!({"subscribeRequest": {
            "expires": 3600, "service": ["call"], "localization": "English_US", "useTurn": true,
            "notificationType": "WebSocket", "supported": ["RingingFeedback"],
            "forceLogOut": "false", "clientCorrelator": "device-1", "somethingNew": {"x": 1}
        }, "alsoUnknown": true}));
    let resp = gw.handle_http(T0, req);
    assert_eq!(resp.status, 200, "{:?}", resp.body_json());
}

#[test]
fn anonymous_path_and_percent_encoded_user() {
    let mut gw = gateway();
    let resp = gw.handle_http(
        T0,
        HttpRequest::new(
            "POST",
            "/rest/version/1/anonymous/alice%40example.com/subscription",
        )
        .with_header(
            "authorization",
            kandy_gateway::basic_authorization("alice@example.com", "alice"),
        )
        .with_json(&subscribe_body()),
    );
    let body = json_of(&resp);
    assert_eq!(resp.status, 200, "{body}");
    assert!(body["subscribeResponse"]["subscription"]
        .as_str()
        .is_some_and(
            |p| p.starts_with("/rest/version/1/anonymous/alice@example.com/subscription/")
        ));
}

#[test]
fn turn_credentials_only_when_configured() {
    let mut gw = gateway_with(GatewayConfig {
        turn_credentials: Some(TurnCredentials {
            username: "u".into(),
            password: "p".into(),
        }),
        ..GatewayConfig::default()
    });
    let body = json_of(&gw.handle_http(
        T0,
        post_subscription("alice@example.com", basic("alice@example.com", "alice")),
    ));
    assert_eq!(
        body["subscribeResponse"]["subscriptionParams"]["turnCredentials"],
        json!({"username": "u", "password": "p"})
    );
}

// ----- rejection rows -------------------------------------------------------

fn post_with(headers: &[(&str, &str)], body: &[u8]) -> HttpRequest {
    let mut req = HttpRequest::new("POST", sub_path("alice@example.com")).with_body(body.to_vec());
    for (k, v) in headers {
        req = req.with_header(*k, *v);
    }
    req
}

fn good_body() -> Vec<u8> {
    subscribe_body().to_string().into_bytes()
}

#[test]
fn no_credentials_is_401() {
    let mut gw = gateway();
    let resp = gw.handle_http(
        T0,
        post_with(&[("content-type", "application/json")], &good_body()),
    );
    assert_error(&resp, 401, codes::BAD_CREDENTIALS.into());
    assert!(
        resp.header("www-authenticate").is_none(),
        "no browser login dialog"
    );
    assert_eq!(gw.stats().subscriptions, 0);
}

#[test]
fn wrong_password_is_401() {
    let mut gw = gateway();
    let auth = kandy_gateway::basic_authorization("alice@example.com", "nope");
    let resp = gw.handle_http(T0, post_with(&[("authorization", &auth)], &good_body()));
    assert_error(&resp, 401, codes::BAD_PASSWORD.into());
    let auth = kandy_gateway::basic_authorization("mallory@example.com", "x");
    let resp = gw.handle_http(T0, post_with(&[("authorization", &auth)], &good_body()));
    assert_error(&resp, 401, codes::BAD_PASSWORD.into());
}

#[test]
fn wrong_scheme_is_401() {
    let mut gw = gateway();
    for value in ["Digest username=alice", "alice:alice", "", "basic"] {
        let resp = gw.handle_http(T0, post_with(&[("authorization", value)], &good_body()));
        assert_error(&resp, 401, codes::BAD_CREDENTIALS.into());
    }
}

#[test]
fn scheme_is_case_insensitive() {
    let mut gw = gateway();
    for scheme in ["basic", "Basic", "BASIC", "bAsIc"] {
        let value = format!("{scheme} YWxpY2VAZXhhbXBsZS5jb206YWxpY2U=");
        let resp = gw.handle_http(T0, post_with(&[("AUTHORIZATION", &value)], &good_body()));
        assert_eq!(resp.status, 200, "{scheme}");
    }
}

#[test]
fn undecodable_base64_is_401() {
    let mut gw = gateway();
    for value in [
        "basic !!!notbase64",
        "basic bm9jb2xvbg==", /* "nocolon" */
        "basic //79",
    ] {
        let resp = gw.handle_http(T0, post_with(&[("authorization", value)], &good_body()));
        assert_error(&resp, 401, codes::BAD_CREDENTIALS.into());
    }
}

fn alice_auth() -> String {
    kandy_gateway::basic_authorization("alice@example.com", "alice")
}

#[test]
fn bad_json_is_400() {
    let mut gw = gateway();
    for body in [&b"{not json"[..], b"", b"\xff\xfe\x00", b"null", b"[1,2]"] {
        let resp = gw.handle_http(T0, post_with(&[("authorization", &alice_auth())], body));
        assert_error(&resp, 400, codes::BAD_REQUEST.into());
    }
}

#[test]
fn missing_subscribe_request_is_400() {
    let mut gw = gateway();
    for body in [
        json!({}),
        json!({"subscriberequest": {"service": []}}),
        json!({"subscribeRequest": "x"}),
        json!({"subscribeResponse": {"service": []}}),
    ] {
        let resp = gw.handle_http(
            T0,
            post_with(
                &[("authorization", &alice_auth())],
                body.to_string().as_bytes(),
            ),
        );
        assert_error(&resp, 400, codes::BAD_REQUEST.into());
    }
}

#[test]
fn service_not_array_is_400() {
    let mut gw = gateway();
    for service in [
        json!("IM"),
        json!({"services": ["IM"]}),
        json!(null),
        json!([1, "IM"]),
    ] {
        let body = json!({"subscribeRequest": {"expires": 3600, "service": service}});
        let resp = gw.handle_http(
            T0,
            post_with(
                &[("authorization", &alice_auth())],
                body.to_string().as_bytes(),
            ),
        );
        assert_error(&resp, 400, codes::BAD_REQUEST.into());
    }
    let body = json!({"subscribeRequest": {"expires": 3600}});
    let resp = gw.handle_http(
        T0,
        post_with(
            &[("authorization", &alice_auth())],
            body.to_string().as_bytes(),
        ),
    );
    assert_error(&resp, 400, codes::BAD_REQUEST.into());
}

#[test]
fn bad_expires_is_400() {
    let mut gw = gateway();
    for expires in [
        json!(0),
        json!(-1),
        json!("3600"),
        json!(null),
        json!(true),
        json!([]),
    ] {
        let body = json!({"subscribeRequest": {"expires": expires, "service": ["IM"]}});
        let resp = gw.handle_http(
            T0,
            post_with(
                &[("authorization", &alice_auth())],
                body.to_string().as_bytes(),
            ),
        );
        assert_error(&resp, 400, codes::BAD_REQUEST.into());
    }
    assert_eq!(gw.stats().subscriptions, 0);
}

#[test]
fn unknown_user_is_404() {
    let mut gw = gateway();
    let resp = gw.handle_http(
        T0,
        post_subscription("nobody@example.com", basic("alice@example.com", "alice")),
    );
    assert_error(&resp, 404, codes::NOT_FOUND.into());
    // the 4.8.0 client with {authname, password} and no username sends "undefined"
    let resp = gw.handle_http(
        T0,
        post_subscription("undefined", basic("alice.auth", "alice")),
    );
    assert_error(&resp, 404, codes::NOT_FOUND.into());
}

#[test]
fn identity_mismatch_is_403() {
    let mut gw = gateway();
    let resp = gw.handle_http(
        T0,
        post_subscription("alice@example.com", basic("bob@example.com", "bob")),
    );
    assert_error(&resp, 403, codes::FORBIDDEN.into());
    let resp = gw.handle_http(
        T0,
        post_subscription("alice@example.com", basic("bob.auth", "bob")),
    );
    assert_error(&resp, 403, codes::FORBIDDEN.into());
    assert_eq!(gw.stats().subscriptions, 0);
}

#[test]
fn wrong_method_is_405() {
    let mut gw = gateway();
    for method in ["GET", "PUT", "DELETE", "PATCH", "HEAD"] {
        let resp = gw.handle_http(
            T0,
            HttpRequest::new(method, sub_path("alice@example.com"))
                .with_header("authorization", alice_auth()),
        );
        assert_error(&resp, 405, codes::METHOD_NOT_ALLOWED.into());
    }
}

#[test]
fn oversized_body_is_413() {
    let mut gw = gateway_with(GatewayConfig {
        max_body_bytes: 1000,
        ..GatewayConfig::default()
    });
    let mut body = subscribe_body();
    body["subscribeRequest"]["padding"] = json!("x".repeat(2000));
    let resp = gw.handle_http(
        T0,
        post_with(
            &[("authorization", &alice_auth())],
            body.to_string().as_bytes(),
        ),
    );
    assert_error(&resp, 413, codes::BAD_REQUEST.into());

    // The default limit is 1 MiB.
    let mut gw = gateway();
    let big = vec![b' '; 1024 * 1024 + 1];
    let resp = gw.handle_http(T0, post_with(&[("authorization", &alice_auth())], &big));
    assert_error(&resp, 413, codes::BAD_REQUEST.into());
    assert_eq!(gw.stats().subscriptions, 0);
}

// ----- other credentials ----------------------------------------------------

#[test]
fn authname_differing_from_user_is_accepted() {
    let mut gw = gateway();
    let resp = gw.handle_http(
        T0,
        post_subscription("alice@example.com", basic("alice.auth", "alice")),
    );
    let body = json_of(&resp);
    assert_eq!(resp.status, 200, "{body}");
    let sub = body["subscribeResponse"]["subscription"]
        .as_str()
        .expect("path");
    // The same authname header keeps working on PUT and DELETE.
    let resp = gw.handle_http(
        T0 + 1,
        put(sub, basic("alice.auth", "alice"), &refresh_body()),
    );
    assert_eq!(resp.status, 200);
    let resp = gw.handle_http(T0 + 2, delete(sub, basic("alice.auth", "alice")));
    assert_eq!(resp.status, 200);
    // A wrong password with the authname still fails.
    let resp = gw.handle_http(
        T0,
        post_subscription("alice@example.com", basic("alice.auth", "bob")),
    );
    assert_error(&resp, 401, codes::BAD_PASSWORD.into());
}

#[test]
fn hmac_token_accept_and_reject() {
    let mut gw = gateway();
    let token = hmac_token("alice-secret", "alice@example.com");
    let resp = gw.handle_http(
        T0,
        post_subscription("alice@example.com", ("x-token".into(), token.clone())),
    );
    let body = json_of(&resp);
    assert_eq!(resp.status, 200, "{body}");
    let session = body["subscribeResponse"]["subscriptionParams"]["sessionId"]
        .as_str()
        .expect("sessionId is mandatory for HMAC");
    assert!(!session.is_empty());

    // Upper-case hex of the same MAC is the same token.
    let resp = gw.handle_http(
        T0,
        post_subscription(
            "alice@example.com",
            ("X-Token".into(), token.to_uppercase()),
        ),
    );
    assert_eq!(resp.status, 200);

    // Wrong secret, someone else's token, garbage.
    for bad in [
        hmac_token("wrong", "alice@example.com"),
        hmac_token("bob-secret", "bob@example.com"),
        "zz".to_owned(),
        String::new(),
    ] {
        let resp = gw.handle_http(
            T0,
            post_subscription("alice@example.com", ("x-token".into(), bad)),
        );
        assert_error(&resp, 401, codes::BAD_PASSWORD.into());
    }
    // Unknown user with an x-token.
    let resp = gw.handle_http(
        T0,
        post_subscription("nobody@example.com", ("x-token".into(), token)),
    );
    assert_error(&resp, 404, codes::NOT_FOUND.into());
    check(&gw);
}

#[test]
fn bearer_and_token_query_on_subscribe() {
    let mut gw = gateway();
    let oauth = gw
        .mint_token(T0, "alice@example.com", TokenKind::OAuth, None)
        .expect("user exists");
    let access = gw
        .mint_token(T0, "alice@example.com", TokenKind::Access, None)
        .expect("user exists");

    let resp = gw.handle_http(
        T0,
        post_subscription(
            "alice@example.com",
            ("Authorization".into(), format!("Bearer {oauth}")),
        ),
    );
    assert_eq!(resp.status, 200);
    let resp = gw.handle_http(
        T0,
        post_subscription(
            "alice@example.com",
            ("authorization".into(), format!("bearer {access}")),
        ),
    );
    assert_eq!(resp.status, 200, "any non-refresh token works as bearer");

    for query in [format!("token={access}"), format!("access_token={oauth}")] {
        let req = HttpRequest::new("POST", format!("{}?{query}", sub_path("alice@example.com")))
            .with_json(&subscribe_body());
        assert_eq!(gw.handle_http(T0, req).status, 200, "{query}");
    }

    // A token resolves to its user: another {user} is 403.
    let req = HttpRequest::new(
        "POST",
        format!("{}?token={access}", sub_path("bob@example.com")),
    )
    .with_json(&subscribe_body());
    assert_error(&gw.handle_http(T0, req), 403, codes::FORBIDDEN.into());

    // Unknown and refresh tokens are 27.
    let refresh = gw
        .mint_token(T0, "alice@example.com", TokenKind::Refresh, None)
        .expect("user exists");
    for t in ["nope".to_owned(), refresh] {
        let req = HttpRequest::new(
            "POST",
            format!("{}?token={t}", sub_path("alice@example.com")),
        )
        .with_json(&subscribe_body());
        assert_error(&gw.handle_http(T0, req), 401, codes::INVALID_TOKEN.into());
    }
    check(&gw);
}

#[test]
fn expired_token_is_401_65() {
    let mut gw = gateway();
    let access = gw
        .mint_token(T0, "alice@example.com", TokenKind::Access, Some(60))
        .expect("user exists");
    let req = || {
        HttpRequest::new(
            "POST",
            format!("{}?token={access}", sub_path("alice@example.com")),
        )
        .with_json(&subscribe_body())
    };
    assert_eq!(gw.handle_http(T0 + 59_999, req()).status, 200);
    assert_error(
        &gw.handle_http(T0 + 60_000, req()),
        401,
        codes::TOKEN_EXPIRED.into(),
    );
    // Bearer too.
    let resp = gw.handle_http(
        T0 + 60_000,
        post_subscription(
            "alice@example.com",
            ("authorization".into(), format!("Bearer {access}")),
        ),
    );
    assert_error(&resp, 401, codes::TOKEN_EXPIRED.into());
}

#[test]
fn credential_precedence_first_carrier_only() {
    let mut gw = gateway();
    let access = gw
        .mint_token(T0, "alice@example.com", TokenKind::Access, None)
        .expect("user exists");
    // A bad Authorization is not rescued by a good token query.
    let req = HttpRequest::new(
        "POST",
        format!("{}?token={access}", sub_path("alice@example.com")),
    )
    .with_header(
        "authorization",
        kandy_gateway::basic_authorization("alice@example.com", "bad"),
    )
    .with_json(&subscribe_body());
    assert_error(&gw.handle_http(T0, req), 401, codes::BAD_PASSWORD.into());
    // A good Authorization wins over a bad token query.
    let req = HttpRequest::new(
        "POST",
        format!("{}?token=garbage", sub_path("alice@example.com")),
    )
    .with_header("authorization", alice_auth())
    .with_json(&subscribe_body());
    assert_eq!(gw.handle_http(T0, req).status, 200);
}

#[test]
fn get_without_body_is_not_parsed() {
    // DELETE and GET arrive with content-type json and no body: never a 400
    // for the missing body (a 405 here, since GET is not allowed).
    let mut gw = gateway();
    let resp = gw.handle_http(
        T0,
        HttpRequest::new("GET", sub_path("alice@example.com"))
            .with_header("content-type", "application/json")
            .with_header("authorization", alice_auth()),
    );
    assert_eq!(resp.status, 405);
}
