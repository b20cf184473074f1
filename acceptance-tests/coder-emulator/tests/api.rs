//! The emulator over real HTTP: authentication, the error body, settings, registries, images,
//! faults, the v2 mode and the admin surface.

use coder_emulator::{Emulator, Options, SettingsPut, sha256_hex};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "test-token-9f2c";

struct Server {
    base: String,
    client: reqwest::Client,
}

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }
}

async fn start(options: Options) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(coder_emulator::serve(
        listener,
        Emulator::new(options),
        std::future::pending(),
    ));
    Server {
        base,
        client: reqwest::Client::new(),
    }
}

async fn v1() -> Server {
    start(Options::new(TOKEN)).await
}

impl Server {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header("Session-Token", token);
        }
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let response = request.send().await.unwrap();
        Answer {
            status: response.status(),
            headers: response.headers().clone(),
            text: response.text().await.unwrap(),
        }
    }

    async fn api(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.call(method, path, body, Some(TOKEN)).await
    }

    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.call(method, path, body, None).await
    }

    async fn create_registry(&self, name: &str, password: &str) -> Value {
        let answer = self
            .api(
                Method::POST,
                "/api/v0/registries",
                Some(json!({
                    "org_id": "default",
                    "friendly_name": name,
                    "registry": "registry.example.com",
                    "username": "robot",
                    "password": password,
                })),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        answer.json()
    }
}

fn assert_error(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["error"]["code"], json!(code), "{body}");
    assert!(
        body["error"]["msg"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn version_routes_and_authentication() {
    let server = v1().await;
    let version = server
        .admin(Method::GET, "/api/private/version", None)
        .await;
    assert_eq!(version.status, StatusCode::OK);
    assert_eq!(version.json(), json!({"version": "1.44.0"}));

    let root = server.api(Method::GET, "/api", None).await;
    assert_eq!(root.status, StatusCode::OK);
    assert_eq!(root.headers["coder-version"], "1.44.0");

    for token in [None, Some("wrong"), Some("")] {
        for path in [
            "/api",
            "/api/v0/workspaces/config",
            "/api/v0/registries?org=default",
        ] {
            let answer = server.call(Method::GET, path, None, token).await;
            assert_error(&answer, StatusCode::UNAUTHORIZED, "unauthorized");
        }
    }
    // Authorization: Bearer is not Coder v1's header.
    let bearer = server
        .client
        .get(format!("{}/api/v0/workspaces/config", server.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unknown_routes_answer_route_not_found() {
    let server = v1().await;
    for path in [
        "/api/v2/buildinfo",
        "/api/v0/nope",
        "/",
        "/api/v0/registries/x/y",
    ] {
        for token in [None, Some(TOKEN)] {
            let answer = server.call(Method::GET, path, None, token).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(
                answer.json(),
                json!({"error": {"msg": "Route not found.", "code": "empty"}}),
                "{path}"
            );
        }
    }
    let wrong_method = server
        .api(Method::POST, "/api/v0/workspaces/config", Some(json!({})))
        .await;
    assert_error(&wrong_method, StatusCode::METHOD_NOT_ALLOWED, "empty");
}

/// The settings object of a fresh deployment.
fn initial_settings() -> Value {
    json!({
        "enable_container_vms": false,
        "gpu_vendor": "",
        "enable_workspaces_as_code": false,
        "enable_cvm_caching": false,
        "enable_shiftfs_auto_load": false,
        "default_to_container_vms": false,
        "enable_tun_device": false,
        "enable_fuse_device": false,
        "enable_self_contained_builds": false,
        "enable_process_logging": false,
    })
}

#[tokio::test]
async fn a_settings_put_replaces_the_whole_object_by_default() {
    let server = v1().await;
    let initial = server
        .api(Method::GET, "/api/v0/workspaces/config", None)
        .await
        .json();
    assert_eq!(initial, initial_settings());

    // Set "from the UI": a known toggle and a key this emulator does not know.
    let ui = server
        .admin(
            Method::PATCH,
            "/__emulator/settings",
            Some(json!({"enable_tun_device": true, "enable_p2p": true})),
        )
        .await;
    assert_eq!(ui.status, StatusCode::OK, "{}", ui.text);

    let put = server
        .api(
            Method::PUT,
            "/api/v0/workspaces/config",
            Some(json!({"enable_container_vms": true, "gpu_vendor": "nvidia", "future": {"a": 1}})),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    let after = server
        .api(Method::GET, "/api/v0/workspaces/config", None)
        .await
        .json();
    assert_eq!(put.json(), after);
    let mut expected = initial_settings();
    expected["enable_container_vms"] = json!(true);
    expected["gpu_vendor"] = json!("nvidia");
    expected["future"] = json!({"a": 1});
    // enable_tun_device is back to false and enable_p2p is gone: the body left them out.
    assert_eq!(after, expected);

    let state = server
        .admin(Method::GET, "/__emulator/state", None)
        .await
        .json();
    assert_eq!(state["settings_put"], json!("replace"));
}

#[tokio::test]
async fn in_merge_mode_a_settings_put_keeps_omitted_and_unknown_keys() {
    let server = start(Options {
        settings_put: SettingsPut::Merge,
        ..Options::new(TOKEN)
    })
    .await;
    server
        .admin(
            Method::PATCH,
            "/__emulator/settings",
            Some(json!({"enable_tun_device": true, "enable_p2p": true})),
        )
        .await;
    let put = server
        .api(
            Method::PUT,
            "/api/v0/workspaces/config",
            Some(json!({"enable_container_vms": true, "future": {"a": 1}})),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    let mut expected = initial_settings();
    expected["enable_container_vms"] = json!(true);
    expected["enable_tun_device"] = json!(true);
    expected["enable_p2p"] = json!(true);
    expected["future"] = json!({"a": 1});
    assert_eq!(put.json(), expected);

    // The admin switch goes back to replace, and a reset keeps the mode.
    let mode = server
        .admin(
            Method::POST,
            "/__emulator/mode",
            Some(json!({"settings_put": "replace"})),
        )
        .await;
    assert_eq!(mode.json(), json!({"v2": false, "settings_put": "replace"}));
    server.admin(Method::POST, "/__emulator/reset", None).await;
    let put = server
        .api(
            Method::PUT,
            "/api/v0/workspaces/config",
            Some(json!({"enable_fuse_device": true})),
        )
        .await;
    let mut expected = initial_settings();
    expected["enable_fuse_device"] = json!(true);
    assert_eq!(put.json(), expected);
    for bad in [
        json!({}),
        json!({"settings_put": "patch"}),
        json!({"v2": "yes"}),
        json!({"v3": true}),
    ] {
        let answer = server
            .admin(Method::POST, "/__emulator/mode", Some(bad.clone()))
            .await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "bad_request");
    }
    assert_eq!(
        server
            .admin(Method::GET, "/__emulator/mode", None)
            .await
            .json(),
        json!({"v2": false, "settings_put": "replace"})
    );
}

#[tokio::test]
async fn the_request_log_keeps_order_bodies_and_answers() {
    let server = v1().await;
    server
        .admin(Method::GET, "/api/private/version", None)
        .await;
    server
        .call(
            Method::PUT,
            "/api/v0/workspaces/config",
            Some(json!({"enable_container_vms": true})),
            None,
        )
        .await;
    server.create_registry("team", "pw-secret").await;
    server
        .api(Method::GET, "/api/v0/registries?org=default", None)
        .await;
    let log = server
        .admin(Method::GET, "/__emulator/request-log", None)
        .await
        .json();
    let log = log.as_array().unwrap();
    let summary: Vec<(u64, &str, &str, u64)> = log
        .iter()
        .map(|e| {
            (
                e["seq"].as_u64().unwrap(),
                e["route"].as_str().unwrap(),
                e["path"].as_str().unwrap(),
                e["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, "GET /api/private/version", "/api/private/version", 200),
            (
                2,
                "PUT /api/v0/workspaces/config",
                "/api/v0/workspaces/config",
                401
            ),
            (3, "POST /api/v0/registries", "/api/v0/registries", 201),
            (4, "GET /api/v0/registries", "/api/v0/registries", 200),
        ]
    );
    assert!(log.iter().all(|e| e["fault"] == json!(false)));
    assert_eq!(log[0]["body"], Value::Null);
    assert_eq!(log[1]["body"], json!({"enable_container_vms": true}));
    assert_eq!(log[1]["method"], json!("PUT"));
    assert_eq!(log[2]["body"]["password"], json!("<redacted>"));
    assert_eq!(log[3]["query"], json!("org=default"));
    assert!(!log.iter().any(|e| e.to_string().contains("pw-secret")));
}

#[tokio::test]
async fn settings_are_validated() {
    let server = v1().await;
    let amd = server
        .api(
            Method::PUT,
            "/api/v0/workspaces/config",
            Some(json!({"gpu_vendor": "amd"})),
        )
        .await;
    assert_eq!(amd.status, StatusCode::OK, "the server itself accepts amd");
    assert_eq!(amd.json()["gpu_vendor"], json!("amd"));
    let off = server
        .api(
            Method::PUT,
            "/api/v0/workspaces/config",
            Some(json!({"gpu_vendor": ""})),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK);
    server
        .admin(
            Method::PATCH,
            "/__emulator/settings",
            Some(json!({"enable_tun_device": true, "enable_p2p": true})),
        )
        .await;
    let before = server
        .api(Method::GET, "/api/v0/workspaces/config", None)
        .await
        .json();

    for bad in [
        json!({"gpu_vendor": "intel"}),
        json!({"gpu_vendor": "NVIDIA"}),
        json!({"gpu_vendor": true}),
        json!({"enable_container_vms": "true"}),
        json!({"enable_tun_device": null}),
        json!({"enable_fuse_device": 1, "enable_container_vms": true}),
        json!(["enable_container_vms"]),
        json!("x"),
    ] {
        let answer = server
            .api(Method::PUT, "/api/v0/workspaces/config", Some(bad.clone()))
            .await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "bad_request");
    }
    let not_json = server
        .client
        .put(format!("{}/api/v0/workspaces/config", server.base))
        .header("Session-Token", TOKEN)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    let after = server
        .api(Method::GET, "/api/v0/workspaces/config", None)
        .await
        .json();
    assert_eq!(after, before, "a refused PUT changes nothing");
    assert_eq!(after["enable_tun_device"], json!(true));
}

#[tokio::test]
async fn registry_crud() {
    let server = v1().await;
    let created = server.create_registry("team", "pw-1").await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["organization_id"], json!("default"));
    assert_eq!(created["friendly_name"], json!("team"));
    assert_eq!(created["registry"], json!("registry.example.com"));
    let keys: Vec<&String> = created.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "created_at",
            "friendly_name",
            "id",
            "organization_id",
            "registry",
            "updated_at"
        ]
    );
    let created_at = created["created_at"].as_str().unwrap();
    assert!(
        created_at.len() >= 20 && &created_at[10..11] == "T" && created_at.ends_with('Z'),
        "not RFC 3339 UTC: {created_at}"
    );

    let fetched = server
        .api(Method::GET, &format!("/api/v0/registries/{id}"), None)
        .await;
    assert_eq!(fetched.json(), created);

    let list = server
        .api(Method::GET, "/api/v0/registries?org=default", None)
        .await;
    assert_eq!(list.json(), json!([created]));
    let other_org = server
        .api(Method::GET, "/api/v0/registries?org=platform", None)
        .await;
    assert_eq!(other_org.json(), json!([]));
    let no_org = server.api(Method::GET, "/api/v0/registries", None).await;
    assert_error(&no_org, StatusCode::BAD_REQUEST, "bad_request");
    let unknown_org = server
        .api(Method::GET, "/api/v0/registries?org=nope", None)
        .await;
    assert_error(&unknown_org, StatusCode::NOT_FOUND, "not_found");

    // Partial update: null and absent fields stay.
    let patched = server
        .api(
            Method::PATCH,
            &format!("/api/v0/registries/{id}"),
            Some(json!({"friendly_name": "renamed", "registry": null, "password": "pw-2"})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    let patched = patched.json();
    assert_eq!(patched["friendly_name"], json!("renamed"));
    assert_eq!(patched["registry"], json!("registry.example.com"));
    assert_eq!(
        server
            .admin(
                Method::GET,
                "/__emulator/last-request-bodies?route=PATCH%20/api/v0/registries/%7Bid%7D",
                None
            )
            .await
            .json(),
        json!({"friendly_name": "renamed", "registry": null, "password": "<redacted>"})
    );
    let state = server
        .admin(Method::GET, "/__emulator/state", None)
        .await
        .json();
    assert_eq!(
        state["registries"][0]["password_sha256"],
        json!(sha256_hex("pw-2"))
    );
    assert_eq!(
        state["registries"][0]["username_sha256"],
        json!(sha256_hex("robot"))
    );

    let bad_patch = server
        .api(
            Method::PATCH,
            &format!("/api/v0/registries/{id}"),
            Some(json!({"friendly_name": ""})),
        )
        .await;
    assert_error(&bad_patch, StatusCode::BAD_REQUEST, "bad_request");

    let deleted = server
        .api(Method::DELETE, &format!("/api/v0/registries/{id}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert!(deleted.json()["msg"].is_string());
    for method in [Method::GET, Method::DELETE] {
        let gone = server
            .api(method, &format!("/api/v0/registries/{id}"), None)
            .await;
        assert_error(&gone, StatusCode::NOT_FOUND, "not_found");
    }
    let gone = server
        .api(
            Method::PATCH,
            &format!("/api/v0/registries/{id}"),
            Some(json!({})),
        )
        .await;
    assert_error(&gone, StatusCode::NOT_FOUND, "not_found");

    let counts = server
        .admin(Method::GET, "/__emulator/requests", None)
        .await
        .json();
    assert_eq!(counts["POST /api/v0/registries"], json!(1));
    assert_eq!(counts["GET /api/v0/registries/{id}"], json!(2));
    assert_eq!(counts["DELETE /api/v0/registries/{id}"], json!(2));
}

#[tokio::test]
async fn registry_creation_is_validated() {
    let server = v1().await;
    let base = json!({
        "org_id": "default", "friendly_name": "x", "registry": "r.example.com",
        "username": "u", "password": "p",
    });
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    let cases = [
        (with("friendly_name", json!("")), StatusCode::BAD_REQUEST),
        (with("friendly_name", Value::Null), StatusCode::BAD_REQUEST),
        (with("registry", json!("  ")), StatusCode::BAD_REQUEST),
        (with("registry", json!(5)), StatusCode::BAD_REQUEST),
        (with("org_id", json!("")), StatusCode::BAD_REQUEST),
        (with("org_id", json!("nope")), StatusCode::NOT_FOUND),
        (
            with("password", json!("x".repeat(32 * 1024 + 1))),
            StatusCode::BAD_REQUEST,
        ),
        (json!([]), StatusCode::BAD_REQUEST),
    ];
    for (body, status) in cases {
        let answer = server
            .api(Method::POST, "/api/v0/registries", Some(body))
            .await;
        assert_eq!(answer.status, status, "{}", answer.text);
        assert!(answer.json()["error"]["msg"].is_string());
    }
    let longest = server
        .api(
            Method::POST,
            "/api/v0/registries",
            Some(with("password", json!("x".repeat(32 * 1024)))),
        )
        .await;
    assert_eq!(longest.status, StatusCode::CREATED, "32 KiB is allowed");
    let state = server
        .admin(Method::GET, "/__emulator/state", None)
        .await
        .json();
    assert_eq!(state["registries"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn duplicate_names_conflict_within_an_organization() {
    let server = v1().await;
    let first = server.create_registry("team", "pw").await;
    let again = server
        .api(
            Method::POST,
            "/api/v0/registries",
            Some(json!({"org_id": "default", "friendly_name": "team", "registry": "other.example.com"})),
        )
        .await;
    assert_error(&again, StatusCode::CONFLICT, "conflict");
    let other_org = server
        .api(
            Method::POST,
            "/api/v0/registries",
            Some(json!({"org_id": "platform", "friendly_name": "team", "registry": "other.example.com"})),
        )
        .await;
    assert_eq!(other_org.status, StatusCode::CREATED, "{}", other_org.text);

    let second = server.create_registry("second", "pw").await;
    let rename = server
        .api(
            Method::PATCH,
            &format!("/api/v0/registries/{}", second["id"].as_str().unwrap()),
            Some(json!({"friendly_name": "team"})),
        )
        .await;
    assert_error(&rename, StatusCode::CONFLICT, "conflict");
    // Renaming to its own name is not a conflict.
    let same = server
        .api(
            Method::PATCH,
            &format!("/api/v0/registries/{}", first["id"].as_str().unwrap()),
            Some(json!({"friendly_name": "team"})),
        )
        .await;
    assert_eq!(same.status, StatusCode::OK);
}

#[tokio::test]
async fn a_registry_in_use_by_an_image_cannot_be_deleted() {
    let server = v1().await;
    let registry = server.create_registry("team", "pw").await;
    let id = registry["id"].as_str().unwrap();
    let image = server
        .api(
            Method::POST,
            "/api/v0/images",
            Some(json!({"registry_id": id, "repository": "team/dev", "org_id": "default", "tag": "latest"})),
        )
        .await;
    assert_eq!(image.status, StatusCode::CREATED, "{}", image.text);
    let image = image.json();
    assert_eq!(image["registry"], registry);
    assert_eq!(image["repository"], json!("team/dev"));
    assert_eq!(image["default_tag"]["tag"], json!("latest"));
    let image_id = image["id"].as_str().unwrap();

    let refused = server
        .api(Method::DELETE, &format!("/api/v0/registries/{id}"), None)
        .await;
    assert_error(&refused, StatusCode::CONFLICT, "conflict");
    assert!(
        refused.json()["error"]["msg"]
            .as_str()
            .unwrap()
            .contains("in use by"),
        "{}",
        refused.text
    );
    assert_eq!(
        server
            .api(Method::GET, &format!("/api/v0/registries/{id}"), None)
            .await
            .status,
        StatusCode::OK
    );

    let missing_registry = server
        .api(
            Method::POST,
            "/api/v0/images",
            Some(json!({"registry_id": "nope", "repository": "a/b", "org_id": "default", "tag": "1"})),
        )
        .await;
    assert_error(&missing_registry, StatusCode::NOT_FOUND, "not_found");

    let deleted = server
        .api(Method::DELETE, &format!("/api/v0/images/{image_id}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    let deleted = server
        .api(Method::DELETE, &format!("/api/v0/registries/{id}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text);
}

#[tokio::test]
async fn out_of_band_changes() {
    let server = v1().await;
    let registry = server.create_registry("team", "pw").await;
    let id = registry["id"].as_str().unwrap();
    server
        .api(
            Method::POST,
            "/api/v0/images",
            Some(json!({"registry_id": id, "repository": "team/dev", "org_id": "default", "tag": "latest"})),
        )
        .await;
    let renamed = server
        .admin(
            Method::PATCH,
            &format!("/__emulator/registries/{id}"),
            Some(json!({"friendly_name": "clicked"})),
        )
        .await;
    assert_eq!(renamed.json()["friendly_name"], json!("clicked"));
    let forced = server
        .admin(
            Method::DELETE,
            &format!("/__emulator/registries/{id}"),
            None,
        )
        .await;
    assert_eq!(forced.status, StatusCode::OK, "deleted even though in use");
    assert_eq!(
        server
            .api(Method::GET, &format!("/api/v0/registries/{id}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let counts = server
        .admin(Method::GET, "/__emulator/requests", None)
        .await
        .json();
    assert!(
        counts
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.contains("__emulator")),
        "{counts}"
    );

    let reset = server.admin(Method::POST, "/__emulator/reset", None).await;
    assert_eq!(reset.status, StatusCode::OK);
    let state = server
        .admin(Method::GET, "/__emulator/state", None)
        .await
        .json();
    assert_eq!(state["registries"], json!([]));
    assert_eq!(state["images"], json!([]));
    assert_eq!(
        server
            .admin(Method::GET, "/__emulator/requests", None)
            .await
            .json(),
        json!({})
    );
}

#[tokio::test]
async fn no_route_echoes_credentials() {
    let server = v1().await;
    let password = "very-secret-password-41";
    let registry = server.create_registry("team", password).await;
    let id = registry["id"].as_str().unwrap();
    server
        .api(
            Method::PATCH,
            &format!("/api/v0/registries/{id}"),
            Some(json!({"password": password, "username": "robot-2"})),
        )
        .await;
    server
        .api(
            Method::POST,
            "/api/v0/images",
            Some(json!({"new_registry": {"friendly_name": "n", "registry": "n.example.com", "username": "u", "password": password},
                        "repository": "a/b", "org_id": "default", "tag": "1"})),
        )
        .await;
    let mut seen = String::new();
    for (path, admin) in [
        (format!("/api/v0/registries/{id}"), false),
        ("/api/v0/registries?org=default".to_owned(), false),
        ("/api/v0/images?org=default".to_owned(), false),
        ("/__emulator/state".to_owned(), true),
        ("/__emulator/requests".to_owned(), true),
        ("/__emulator/last-request-bodies".to_owned(), true),
    ] {
        let answer = if admin {
            server.admin(Method::GET, &path, None).await
        } else {
            server.api(Method::GET, &path, None).await
        };
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.text);
        seen.push_str(&answer.text);
        for (name, value) in &answer.headers {
            seen.push_str(&format!("{name}: {value:?}\n"));
        }
    }
    for secret in [password, TOKEN, "robot-2"] {
        assert!(!seen.contains(secret), "{secret} was echoed:\n{seen}");
    }
    assert!(seen.contains(&sha256_hex(password)));
}

#[tokio::test]
async fn faults_answer_before_touching_state() {
    let server = v1().await;
    let plan = server
        .admin(
            Method::POST,
            "/__emulator/faults",
            Some(json!({"rate": 1.0, "statuses": [503, 429], "retry_after_secs": 2, "seed": 42})),
        )
        .await;
    assert_eq!(plan.status, StatusCode::OK, "{}", plan.text);
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let answer = server
            .api(
                Method::POST,
                "/api/v0/registries",
                Some(json!({"org_id": "default", "friendly_name": "x", "registry": "r"})),
            )
            .await;
        assert!(
            matches!(answer.status.as_u16(), 503 | 429),
            "{}",
            answer.text
        );
        assert_eq!(answer.headers["retry-after"], "2");
        assert_eq!(answer.json()["error"]["code"], json!("emulator_fault"));
        statuses.push(answer.status.as_u16());
    }
    assert!(
        statuses.contains(&503) && statuses.contains(&429),
        "{statuses:?}"
    );
    // Even unauthenticated requests and the public version route are faulted.
    let version = server
        .admin(Method::GET, "/api/private/version", None)
        .await;
    assert!(matches!(version.status.as_u16(), 503 | 429));
    let state = server
        .admin(Method::GET, "/__emulator/state", None)
        .await
        .json();
    assert_eq!(
        state["registries"],
        json!([]),
        "a faulted request changed state"
    );
    let counts = server
        .admin(Method::GET, "/__emulator/requests", None)
        .await
        .json();
    assert_eq!(counts["POST /api/v0/registries"], json!(20));
    // The ordered log marks each of them as a fault, with the status it got.
    let log = server
        .admin(Method::GET, "/__emulator/request-log", None)
        .await
        .json();
    let logged: Vec<u16> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["route"] == json!("POST /api/v0/registries"))
        .map(|e| {
            assert_eq!(e["fault"], json!(true), "{e}");
            u16::try_from(e["status"].as_u64().unwrap()).unwrap()
        })
        .collect();
    assert_eq!(logged, statuses);

    let off = server
        .admin(Method::POST, "/__emulator/faults", Some(json!({"rate": 0})))
        .await;
    assert_eq!(off.status, StatusCode::OK);
    server.create_registry("x", "pw").await;

    for bad in [
        json!({"rate": 2, "seed": 1}),
        json!({"rate": 0.5, "statuses": [200], "seed": 1}),
        json!({"rate": 0.5, "bogus": 1, "seed": 1}),
        // Every plan that injects faults names its seed.
        json!({"rate": 0.5, "statuses": [503]}),
    ] {
        let answer = server
            .admin(Method::POST, "/__emulator/faults", Some(bad))
            .await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "bad_request");
    }
}

#[tokio::test]
async fn seeded_faults_repeat() {
    async fn run() -> Vec<u16> {
        let server = v1().await;
        server
            .admin(
                Method::POST,
                "/__emulator/faults",
                Some(json!({"rate": 0.5, "statuses": [503], "seed": 7})),
            )
            .await;
        let mut statuses = Vec::new();
        for _ in 0..30 {
            statuses.push(
                server
                    .api(Method::GET, "/api/v0/workspaces/config", None)
                    .await
                    .status
                    .as_u16(),
            );
        }
        statuses
    }
    let first = run().await;
    assert_eq!(first, run().await);
    assert!(first.contains(&503) && first.contains(&200), "{first:?}");
}

#[tokio::test]
async fn v2_mode() {
    let server = start(Options {
        v2: true,
        ..Options::new(TOKEN)
    })
    .await;
    let info = server.admin(Method::GET, "/api/v2/buildinfo", None).await;
    assert_eq!(info.status, StatusCode::OK);
    assert_eq!(info.json()["version"], json!("v2.18.0"));
    // Outside /api/v2, Coder v2 serves its web page, with or without a token.
    for path in [
        "/api/private/version",
        "/api/v0/workspaces/config",
        "/api",
        "/",
        "/workspaces",
    ] {
        for token in [None, Some(TOKEN)] {
            let answer = server.call(Method::GET, path, None, token).await;
            assert_eq!(answer.status, StatusCode::OK, "{path}");
            assert_eq!(
                answer.headers["content-type"], "text/html; charset=utf-8",
                "{path}"
            );
            assert!(answer.text.starts_with("<!DOCTYPE html>"), "{path}");
            assert!(serde_json::from_str::<Value>(&answer.text).is_err());
        }
    }
    // Inside /api/v2, an unknown route is v2's JSON 404.
    for path in ["/api/v2/nope", "/api/v2"] {
        let answer = server.api(Method::GET, path, None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(answer.json()["message"], json!("Route not found."));
    }
    // A write to a v1 route changes nothing there.
    let put = server
        .api(
            Method::PUT,
            "/api/v0/workspaces/config",
            Some(json!({"enable_container_vms": true})),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK);
    let state = server
        .admin(Method::GET, "/__emulator/state", None)
        .await
        .json();
    assert_eq!(state["settings"], initial_settings());

    // The admin switch goes back to v1 and forth.
    let v1_server = v1().await;
    let switched = v1_server
        .admin(Method::POST, "/__emulator/mode", Some(json!({"v2": true})))
        .await;
    assert_eq!(switched.status, StatusCode::OK);
    assert_eq!(
        v1_server
            .admin(Method::GET, "/api/v2/buildinfo", None)
            .await
            .status,
        StatusCode::OK
    );
    v1_server
        .admin(Method::POST, "/__emulator/mode", Some(json!({"v2": false})))
        .await;
    assert_eq!(
        v1_server
            .admin(Method::GET, "/api/v2/buildinfo", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}
