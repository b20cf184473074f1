//! A test-only emulator of the Coder v1 HTTP API: the workspace settings object
//! (`/api/v0/workspaces/config`), image registries and images, the version routes, `Session-Token`
//! authentication and v1's error body. It also has a Coder v2 mode (`/api/v2/buildinfo`, and the
//! web page for every path outside `/api/v2`) and a test-only admin surface under `/__emulator/`
//! (fault injection, out-of-band changes, request counts and the ordered request log, state with
//! credential digests).
//!
//! Coder v1 is closed source; what this emulator does is written from the public client
//! (coder-sdk) and docs. README.md says which behaviour is confirmed and which is assumed.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use coder_emulator::{Emulator, Options};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let emulator = Emulator::new(Options::new("session-token"));
//! coder_emulator::serve(listener, emulator, std::future::pending()).await
//! # }
//! ```

mod admin;
mod api;
pub mod api_error;
pub mod cli;
pub mod faults;
mod gate;
pub mod model;
pub mod request_log;

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::routing::{delete, get, post};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use crate::faults::Faults;
use crate::model::Model;
use crate::request_log::RequestLog;

pub use crate::model::sha256_hex;

/// The v1 version the emulator reports unless told otherwise (the last documented v1 release).
pub const DEFAULT_VERSION: &str = "1.44.0";

/// The version `/api/v2/buildinfo` reports in v2 mode.
pub const V2_VERSION: &str = "v2.18.0";

/// Largest request body the emulator reads (a registry password may be 32 KiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What `PUT /api/v0/workspaces/config` does with the keys its body leaves out.
///
/// Whether Coder v1 merges or replaces is not in the public record (README.md), so the default is
/// the strict one: [`SettingsPut::Replace`], under which a client that sends only the keys it
/// manages switches every other setting off, as it would against a server that replaces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SettingsPut {
    /// The body becomes the whole object: known keys it leaves out go back to their initial
    /// value (`false`, or `""` for `gpu_vendor`), other keys it leaves out are removed.
    #[default]
    Replace,
    /// The body's keys are stored; keys it leaves out keep their value.
    Merge,
}

impl SettingsPut {
    /// The name used on the command line and in the admin surface.
    pub fn as_str(self) -> &'static str {
        match self {
            SettingsPut::Replace => "replace",
            SettingsPut::Merge => "merge",
        }
    }
}

impl fmt::Display for SettingsPut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SettingsPut {
    type Err = String;

    fn from_str(text: &str) -> Result<SettingsPut, String> {
        match text {
            "replace" => Ok(SettingsPut::Replace),
            "merge" => Ok(SettingsPut::Merge),
            other => Err(format!(
                "{other:?} is not a settings PUT mode; use replace or merge"
            )),
        }
    }
}

/// How an emulator behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The only session token accepted in `Session-Token`.
    pub token: String,
    /// The v1 version reported by `/api/private/version` and the `coder-version` header.
    pub version: String,
    /// Answer like a Coder v2 deployment instead.
    pub v2: bool,
    /// What a settings PUT does with the keys it leaves out.
    pub settings_put: SettingsPut,
}

impl Options {
    /// A v1 deployment of [`DEFAULT_VERSION`] accepting `token`, whose settings PUT replaces.
    pub fn new(token: impl Into<String>) -> Options {
        Options {
            token: token.into(),
            version: DEFAULT_VERSION.to_owned(),
            v2: false,
            settings_put: SettingsPut::default(),
        }
    }
}

/// One emulated deployment; cheap to clone (clones share state).
#[derive(Clone)]
pub struct Emulator {
    shared: Arc<Shared>,
}

struct Shared {
    token: String,
    version: String,
    v2: AtomicBool,
    settings_put: Mutex<SettingsPut>,
    model: Mutex<Model>,
    faults: Mutex<Faults>,
    log: Mutex<RequestLog>,
}

/// Locks `mutex`, recovering from poisoning: every critical section leaves the data consistent
/// (validation happens before any change), so a panic elsewhere cannot leave it half-updated.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Emulator {
    /// A fresh deployment with the initial settings and no registries.
    pub fn new(options: Options) -> Emulator {
        Emulator {
            shared: Arc::new(Shared {
                token: options.token,
                version: options.version,
                v2: AtomicBool::new(options.v2),
                settings_put: Mutex::new(options.settings_put),
                model: Mutex::new(Model::new()),
                faults: Mutex::new(Faults::default()),
                log: Mutex::new(RequestLog::default()),
            }),
        }
    }

    /// Whether it answers like Coder v2.
    pub fn is_v2(&self) -> bool {
        self.shared.v2.load(Ordering::Relaxed)
    }

    fn set_v2(&self, v2: bool) {
        self.shared.v2.store(v2, Ordering::Relaxed);
    }

    /// What a settings PUT does with the keys it leaves out.
    pub fn settings_put(&self) -> SettingsPut {
        *lock(&self.shared.settings_put)
    }

    fn set_settings_put(&self, mode: SettingsPut) {
        *lock(&self.shared.settings_put) = mode;
    }

    fn model(&self) -> MutexGuard<'_, Model> {
        lock(&self.shared.model)
    }

    fn faults(&self) -> MutexGuard<'_, Faults> {
        lock(&self.shared.faults)
    }

    fn log(&self) -> MutexGuard<'_, RequestLog> {
        lock(&self.shared.log)
    }

    /// Back to a fresh deployment: initial settings, no registries or images, no faults, empty
    /// request log. The token, version and modes stay.
    fn reset(&self) {
        *self.model() = Model::new();
        *self.faults() = Faults::default();
        *self.log() = RequestLog::default();
    }
}

/// The whole HTTP application: the Coder API, the admin surface and the "Route not found."
/// fallback, behind the gate (request log, faults, authentication).
pub fn router(emulator: Emulator) -> Router {
    Router::new()
        .route("/api", get(api::root))
        .route("/api/private/version", get(api::private_version))
        .route("/api/v2/buildinfo", get(api::buildinfo))
        .route(
            "/api/v0/workspaces/config",
            get(api::get_settings).put(api::put_settings),
        )
        .route(
            "/api/v0/registries",
            get(api::list_registries).post(api::create_registry),
        )
        .route(
            "/api/v0/registries/{id}",
            get(api::get_registry)
                .patch(api::patch_registry)
                .delete(api::delete_registry),
        )
        .route(
            "/api/v0/images",
            get(api::list_images).post(api::create_image),
        )
        .route(
            "/api/v0/images/{id}",
            get(api::get_image).delete(api::delete_image),
        )
        .route(
            "/__emulator/faults",
            get(admin::get_faults).post(admin::set_faults),
        )
        .route(
            "/__emulator/settings",
            get(admin::get_settings).patch(admin::patch_settings),
        )
        .route(
            "/__emulator/registries/{id}",
            delete(admin::delete_registry).patch(admin::patch_registry),
        )
        .route("/__emulator/requests", get(admin::request_counts))
        .route("/__emulator/request-log", get(admin::request_log))
        .route(
            "/__emulator/last-request-bodies",
            get(admin::last_request_bodies),
        )
        .route("/__emulator/reset", post(admin::reset))
        .route("/__emulator/state", get(admin::state))
        .route(
            "/__emulator/mode",
            get(admin::get_mode).post(admin::set_mode),
        )
        .method_not_allowed_fallback(api::method_not_allowed)
        .fallback(api::route_not_found)
        .layer(axum::middleware::from_fn_with_state(
            emulator.clone(),
            gate::gate,
        ))
        .with_state(emulator)
}

/// Serves `emulator` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    emulator: Emulator,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(emulator))
        .with_graceful_shutdown(shutdown)
        .await
}
