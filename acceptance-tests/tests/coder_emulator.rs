//! The harness's Coder emulator: it starts, reports its version without a token, refuses a
//! request without the token, and its admin helpers work.

use std::io::{Read, Write};
use std::net::TcpStream;

use acceptance_tests::coder::{CoderEmulator, sha256_hex};
use serde_json::{Value, json};

/// A raw HTTP/1.1 GET, so this test checks the emulator independently of the harness's client:
/// the status, the `Content-Type` and the body.
fn get_raw(url: &str, path: &str, token: Option<&str>) -> (u16, String, String) {
    let address = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    let token_header = token
        .map(|t| format!("Session-Token: {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\n{token_header}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or((answer.as_str(), ""));
    let content_type = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-type")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

/// [`get_raw`] with the body as JSON (`null` when it is not JSON).
fn get(url: &str, path: &str, token: Option<&str>) -> (u16, Value) {
    let (status, _, body) = get_raw(url, path, token);
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[test]
fn starts_reports_its_version_and_requires_the_token() {
    let mut coder = CoderEmulator::start().unwrap();
    assert!(coder.url.starts_with("http://127.0.0.1:"), "{}", coder.url);
    assert!(!coder.token.is_empty());

    assert_eq!(
        get(&coder.url, "/api/private/version", None),
        (200, json!({"version": "1.44.0"}))
    );
    let (status, body) = get(&coder.url, "/api/v0/workspaces/config", None);
    assert_eq!(status, 401);
    assert!(body["error"]["msg"].is_string(), "{body}");
    let (status, body) = get(&coder.url, "/api/v0/workspaces/config", Some(&coder.token));
    assert_eq!(status, 200);
    assert_eq!(body["enable_container_vms"], json!(false));
    assert_eq!(
        get(&coder.url, "/api/v2/buildinfo", Some(&coder.token)).0,
        404
    );

    // Admin helpers.
    coder
        .set_settings(json!({"enable_tun_device": true, "enable_p2p": true}))
        .unwrap();
    assert_eq!(coder.settings().unwrap()["enable_p2p"], json!(true));
    let counts = coder.request_counts().unwrap();
    assert_eq!(counts["GET /api/v0/workspaces/config"], 2);
    assert_eq!(counts["GET /api/private/version"], 1);
    assert!(
        coder
            .last_request_body("PATCH /api/v0/registries/{id}")
            .is_err(),
        "no such request yet"
    );

    let url = coder.url.clone();
    coder.stop();
    assert!(
        TcpStream::connect(url.trim_start_matches("http://")).is_err(),
        "still listening after stop"
    );
}

#[test]
fn registries_images_and_faults() {
    let coder = CoderEmulator::start_with_token("fixed-token-1").unwrap();
    assert_eq!(coder.token, "fixed-token-1");
    let registry_id = {
        // Create through the API the way the provider does, with ureq-free std HTTP.
        let address = coder.url.trim_start_matches("http://").to_owned();
        let body =
            json!({"org_id": "default", "friendly_name": "team", "registry": "r.example.com",
                          "username": "robot", "password": "pw-1"})
            .to_string();
        let mut stream = TcpStream::connect(&address).unwrap();
        write!(
            stream,
            "POST /api/v0/registries HTTP/1.1\r\nHost: {address}\r\nSession-Token: fixed-token-1\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
        let json: Value = serde_json::from_str(answer.split_once("\r\n\r\n").unwrap().1).unwrap();
        json["id"].as_str().unwrap().to_owned()
    };
    let state = coder.state().unwrap();
    assert_eq!(
        state["registries"][0]["password_sha256"],
        json!(sha256_hex("pw-1"))
    );
    assert_eq!(
        coder.last_request_body("POST /api/v0/registries").unwrap()["password"],
        json!("<redacted>")
    );

    let image = coder.create_image(&registry_id).unwrap();
    coder
        .patch_registry(&registry_id, json!({"friendly_name": "clicked"}))
        .unwrap();
    assert_eq!(
        coder.state().unwrap()["registries"][0]["friendly_name"],
        json!("clicked")
    );
    coder.delete_image(&image).unwrap();
    coder.delete_registry_out_of_band(&registry_id).unwrap();
    assert_eq!(coder.state().unwrap()["registries"], json!([]));

    coder.faults(1.0, &[503], 11).unwrap();
    assert_eq!(get(&coder.url, "/api/private/version", None).0, 503);
    coder.faults(0.0, &[], 11).unwrap();
    assert_eq!(get(&coder.url, "/api/private/version", None).0, 200);
    let log = coder.request_log().unwrap();
    let last_two: Vec<_> = log[log.len() - 2..]
        .iter()
        .map(|r| (r.path.as_str(), r.status, r.fault))
        .collect();
    assert_eq!(
        last_two,
        [
            ("/api/private/version", Some(503), true),
            ("/api/private/version", Some(200), false)
        ]
    );
    assert!(log[log.len() - 1].same_call_as(&log[log.len() - 2]));
    coder.reset().unwrap();
    assert!(coder.request_counts().unwrap().is_empty());
}

#[test]
fn v2_mode_answers_buildinfo_and_the_web_page_elsewhere() {
    let coder = CoderEmulator::start_v2().unwrap();
    let (status, body) = get(&coder.url, "/api/v2/buildinfo", None);
    assert_eq!(status, 200);
    assert!(
        body["version"].as_str().unwrap().starts_with("v2."),
        "{body}"
    );
    // Like a real Coder v2, v1's routes are web-app paths there: 200 with HTML, not a 404.
    for path in ["/api/private/version", "/api/v0/workspaces/config"] {
        let (status, content_type, body) = get_raw(&coder.url, path, Some(&coder.token));
        assert_eq!(status, 200, "{path}");
        assert!(
            content_type.starts_with("text/html"),
            "{path}: {content_type}"
        );
        assert!(body.starts_with("<!DOCTYPE html>"), "{path}: {body}");
    }
    let (status, body) = get(&coder.url, "/api/v2/users/me", None);
    assert_eq!(
        (status, &body["message"]),
        (404, &json!("Route not found."))
    );
}
