//! Logs in the shape Terraform parses from a provider's stderr: one JSON
//! object per line with hclog's `@level`, `@message`, `@module` and
//! `@timestamp` keys, plus every tracing field as its own key.
//!
//! Terraform reads the provider's stderr line by line; a line whose
//! `@timestamp` does not match Go's `2006-01-02T15:04:05.000000Z07:00` is
//! treated as plain text, so the timestamp always has six fractional digits.

use std::io::Write as _;
use std::sync::OnceLock;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

/// Set once the subscriber is installed (or found to be unneeded).
static INITIALISED: OnceLock<()> = OnceLock::new();

/// Libraries under the transport whose debug and trace output is per frame or
/// per record: at TRACE they would drown the provider's own lines, so they are
/// capped at WARN.
const NOISY_TARGETS: [&str; 7] = [
    "h2",
    "hyper",
    "hyper_util",
    "tower",
    "tonic",
    "rustls",
    "tokio_rustls",
];

/// Installs the JSON-lines subscriber on stderr for `module` (the `@module`
/// value, e.g. `provider.terraform-provider-cvm`).
///
/// The level comes from the environment, see [`level_from`]. When logging is
/// off nothing is installed, so disabled log statements cost next to nothing.
/// Only the first call has an effect; later calls (including the one
/// `serve` makes) do nothing. Never writes to stdout.
pub fn init(module: &str) {
    INITIALISED.get_or_init(|| {
        let Some(level) = level_from(module, |name| std::env::var(name).ok()) else {
            return;
        };
        let layer = JsonLayer::new(module, stderr_sink()).with_filter(targets_filter(level));
        let subscriber = tracing_subscriber::registry().with(layer);
        // Fails only if the program installed its own subscriber first; that
        // one then wins, which is what such a program wants.
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

/// The log level for `module` from environment variables read through `vars`,
/// or `None` when logging is off.
///
/// Looks at `TF_LOG_PROVIDER_<NAME>`, then `TF_LOG_PROVIDER`, then `TF_LOG`,
/// taking the first that is set and not empty (the same fallback Terraform
/// uses for provider logs). `<NAME>` is the provider type from `module` in
/// upper case: `provider.terraform-provider-cvm` gives `TF_LOG_PROVIDER_CVM`.
/// Values, case-insensitive: TRACE, DEBUG, INFO, WARN, ERROR, OFF; `JSON`
/// means TRACE; anything else means TRACE, as Terraform does for an invalid
/// level.
pub fn level_from(module: &str, vars: impl Fn(&str) -> Option<String>) -> Option<Level> {
    let specific = format!("TF_LOG_PROVIDER_{}", provider_name(module));
    let value = [specific.as_str(), "TF_LOG_PROVIDER", "TF_LOG"]
        .into_iter()
        .filter_map(&vars)
        .find(|value| !value.is_empty())?;
    match value.to_ascii_uppercase().as_str() {
        "OFF" => None,
        "ERROR" => Some(Level::ERROR),
        "WARN" => Some(Level::WARN),
        "INFO" => Some(Level::INFO),
        "DEBUG" => Some(Level::DEBUG),
        _ => Some(Level::TRACE),
    }
}

/// The provider type in a module name, upper-cased for an environment
/// variable: the part after the last `.`, without `terraform-provider-`, with
/// `-` turned into `_`.
fn provider_name(module: &str) -> String {
    let last = module.rsplit('.').next().unwrap_or(module);
    let name = last.strip_prefix("terraform-provider-").unwrap_or(last);
    name.to_ascii_uppercase().replace('-', "_")
}

/// The level filter: `level` for everything except [`NOISY_TARGETS`].
fn targets_filter(level: Level) -> Targets {
    let level = LevelFilter::from_level(level);
    let cap = level.min(LevelFilter::WARN);
    NOISY_TARGETS
        .iter()
        .fold(Targets::new().with_default(level), |targets, target| {
            targets.with_target(*target, cap)
        })
}

/// Where finished lines go.
type Sink = Box<dyn Fn(&[u8]) + Send + Sync>;

/// Writes each line with one `write_all` on locked stderr so lines from
/// different threads never interleave. Write errors are dropped: there is
/// nowhere left to report them.
fn stderr_sink() -> Sink {
    Box::new(|line: &[u8]| {
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(line);
        let _ = stderr.flush();
    })
}

/// A tracing layer that formats events as hclog-style JSON lines.
pub(crate) struct JsonLayer {
    /// The `@module` value.
    module: String,
    /// Receives each finished line, newline included.
    sink: Sink,
}

impl JsonLayer {
    /// A layer writing lines for `module` to `sink`.
    pub(crate) fn new(module: &str, sink: Sink) -> Self {
        Self {
            module: module.to_owned(),
            sink,
        }
    }
}

/// Fields recorded on a span, kept in the span's extensions and added to
/// every event inside it (e.g. `tf_rpc`, `tf_req_id`).
struct SpanFields(Map<String, Value>);

impl<S> Layer<S> for JsonLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = FieldVisitor::default();
        attrs.record(&mut fields);
        span.extensions_mut().insert(SpanFields(fields.fields));
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: Context<'_, S>,
    ) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(SpanFields(fields)) = extensions.get_mut::<SpanFields>() {
            let mut visitor = FieldVisitor {
                fields: std::mem::take(fields),
                message: None,
            };
            values.record(&mut visitor);
            *fields = visitor.fields;
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut line = Map::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(SpanFields(fields)) = span.extensions().get::<SpanFields>() {
                    line.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
        }
        let mut visitor = FieldVisitor::default();
        event.record(&mut visitor);
        line.extend(visitor.fields);
        // The hclog keys go in last so a field cannot overwrite them.
        line.insert(
            "@level".to_owned(),
            Value::from(level_name(*event.metadata().level())),
        );
        line.insert(
            "@message".to_owned(),
            Value::from(visitor.message.unwrap_or_default()),
        );
        line.insert("@module".to_owned(), Value::from(self.module.as_str()));
        line.insert("@timestamp".to_owned(), Value::from(timestamp_now()));
        let mut text = Value::Object(line).to_string();
        text.push('\n');
        (self.sink)(text.as_bytes());
    }
}

/// hclog's lower-case level names.
fn level_name(level: Level) -> &'static str {
    match level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` in UTC.
fn timestamp_now() -> String {
    format_timestamp(time::OffsetDateTime::now_utc())
}

/// Formats `at` (converted to UTC) with exactly six fractional digits.
fn format_timestamp(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.microsecond()
    )
}

/// Collects fields as JSON values; `message` is kept apart for `@message`.
#[derive(Default)]
struct FieldVisitor {
    /// Every field except `message`.
    fields: Map<String, Value>,
    /// The `message` field, if any.
    message: Option<String>,
}

impl FieldVisitor {
    /// Stores one value under the field's name.
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                Value::String(text) => text,
                other => other.to_string(),
            });
        } else {
            self.fields.insert(field.name().to_owned(), value);
        }
    }
}

impl Visit for FieldVisitor {
    fn record_f64(&mut self, field: &Field, value: f64) {
        // NaN and infinities have no JSON number form.
        let json = serde_json::Number::from_f64(value)
            .map_or_else(|| Value::from(value.to_string()), Value::Number);
        self.put(field, json);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        let json =
            i64::try_from(value).map_or_else(|_| Value::from(value.to_string()), Value::from);
        self.put(field, json);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        let json =
            u64::try_from(value).map_or_else(|_| Value::from(value.to_string()), Value::from);
        self.put(field, json);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::from(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::from(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Runs `body` with a JSON layer at `level` and returns the parsed lines.
    fn capture(level: Level, body: impl FnOnce()) -> (Vec<String>, Vec<Map<String, Value>>) {
        let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink_buffer = Arc::clone(&buffer);
        let sink: Sink = Box::new(move |line| sink_buffer.lock().unwrap().extend_from_slice(line));
        let layer = JsonLayer::new("provider.terraform-provider-cvm", sink)
            .with_filter(targets_filter(level));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, body);
        let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
        assert!(text.is_empty() || text.ends_with('\n'));
        let raw: Vec<String> = text.lines().map(str::to_owned).collect();
        let parsed = raw
            .iter()
            .map(|line| match serde_json::from_str(line).unwrap() {
                Value::Object(map) => map,
                other => panic!("not an object: {other}"),
            })
            .collect();
        (raw, parsed)
    }

    #[test]
    fn event_becomes_one_hclog_json_line() {
        let (raw, lines) = capture(Level::TRACE, || {
            tracing::info!(
                tf_rpc = "GetProviderSchema",
                count = 3_i64,
                big = 18_446_744_073_709_551_615_u64,
                ratio = 0.5,
                ok = true,
                "schema served"
            );
        });
        assert_eq!(raw.len(), 1);
        let line = &lines[0];
        assert_eq!(line["@level"], "info");
        assert_eq!(line["@message"], "schema served");
        assert_eq!(line["@module"], "provider.terraform-provider-cvm");
        assert_eq!(line["tf_rpc"], "GetProviderSchema");
        assert_eq!(line["count"], 3);
        assert_eq!(line["big"], u64::MAX);
        assert_eq!(line["ratio"], 0.5);
        assert_eq!(line["ok"], true);
        let timestamp = line["@timestamp"].as_str().unwrap();
        let pattern = regex::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$").unwrap();
        assert!(pattern.is_match(timestamp), "{timestamp}");
    }

    #[test]
    fn levels_are_lower_case_and_filtered() {
        let (_, lines) = capture(Level::DEBUG, || {
            tracing::trace!("hidden");
            tracing::debug!("d");
            tracing::warn!("w");
            tracing::error!("e");
        });
        let levels: Vec<&str> = lines
            .iter()
            .map(|l| l["@level"].as_str().unwrap())
            .collect();
        assert_eq!(levels, ["debug", "warn", "error"]);
    }

    #[test]
    fn noisy_transport_targets_are_capped_at_warn() {
        let (_, lines) = capture(Level::TRACE, || {
            tracing::debug!(target: "h2::codec", "frame");
            tracing::warn!(target: "h2::codec", "bad frame");
            tracing::trace!(target: "terraform_provider_cvm", "mine");
        });
        let messages: Vec<&str> = lines
            .iter()
            .map(|l| l["@message"].as_str().unwrap())
            .collect();
        assert_eq!(messages, ["bad frame", "mine"]);
    }

    #[test]
    fn span_fields_are_added_and_message_cannot_clobber_keys() {
        let (_, lines) = capture(Level::TRACE, || {
            let span = tracing::info_span!(
                "rpc",
                tf_rpc = "ReadResource",
                tf_req_id = tracing::field::Empty
            );
            span.record("tf_req_id", "abc");
            let _entered = span.enter();
            tracing::debug!(tf_resource_type = "cvm_thing", "reading");
        });
        let line = &lines[0];
        assert_eq!(line["tf_rpc"], "ReadResource");
        assert_eq!(line["tf_req_id"], "abc");
        assert_eq!(line["tf_resource_type"], "cvm_thing");
        assert_eq!(line["@message"], "reading");
    }

    #[test]
    fn timestamp_has_six_fraction_digits_and_utc_z() {
        let at = time::macros::datetime!(2026-11-29 01:16:12.167 +02:00);
        assert_eq!(format_timestamp(at), "2026-11-28T23:16:12.167000Z");
        let at = time::macros::datetime!(0999-01-02 03:04:05.000_000_9 UTC);
        assert_eq!(format_timestamp(at), "0999-01-02T03:04:05.000000Z");
    }

    fn level_for(module: &str, vars: &[(&str, &str)]) -> Option<Level> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        level_from(module, |name| map.get(name).cloned())
    }

    #[test]
    fn level_selection_table() {
        let m = "provider.terraform-provider-cvm";
        type Vars<'a> = &'a [(&'a str, &'a str)];
        let cases: &[(Vars<'_>, Option<Level>)] = &[
            (&[], None),
            (&[("TF_LOG", "")], None),
            (&[("TF_LOG", "OFF")], None),
            (&[("TF_LOG", "off")], None),
            (&[("TF_LOG", "TRACE")], Some(Level::TRACE)),
            (&[("TF_LOG", "debug")], Some(Level::DEBUG)),
            (&[("TF_LOG", "INFO")], Some(Level::INFO)),
            (&[("TF_LOG", "Warn")], Some(Level::WARN)),
            (&[("TF_LOG", "ERROR")], Some(Level::ERROR)),
            (&[("TF_LOG", "JSON")], Some(Level::TRACE)),
            (&[("TF_LOG", "verbose")], Some(Level::TRACE)),
            (
                &[("TF_LOG", "ERROR"), ("TF_LOG_PROVIDER", "DEBUG")],
                Some(Level::DEBUG),
            ),
            (&[("TF_LOG", "TRACE"), ("TF_LOG_PROVIDER", "OFF")], None),
            (
                &[("TF_LOG", "DEBUG"), ("TF_LOG_PROVIDER", "")],
                Some(Level::DEBUG),
            ),
            (
                &[
                    ("TF_LOG_PROVIDER", "DEBUG"),
                    ("TF_LOG_PROVIDER_CVM", "WARN"),
                ],
                Some(Level::WARN),
            ),
            (&[("TF_LOG_PROVIDER_CVM", "INFO")], Some(Level::INFO)),
            (&[("TF_LOG_PROVIDER_OTHER", "INFO")], None),
        ];
        for (vars, expected) in cases {
            assert_eq!(level_for(m, vars), *expected, "{vars:?}");
        }
    }

    #[test]
    fn provider_specific_variable_follows_the_module_name() {
        assert_eq!(provider_name("provider.terraform-provider-cvm"), "CVM");
        assert_eq!(
            provider_name("provider.terraform-provider-my-cloud"),
            "MY_CLOUD"
        );
        assert_eq!(provider_name("cvm"), "CVM");
        assert_eq!(
            level_for(
                "provider.terraform-provider-my-cloud",
                &[("TF_LOG_PROVIDER_MY_CLOUD", "ERROR")]
            ),
            Some(Level::ERROR)
        );
    }
}
