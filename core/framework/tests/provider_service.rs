//! Protocol-level tests: the gRPC service driven directly with protocol
//! messages, over a fake in-memory resource, to pin down the framework's
//! behaviour for every RPC a resource goes through.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_framework::resource::{
    CreateRequest, CreateResponse, DeleteRequest, DeleteResponse, Import, ReadRequest,
    ReadResponse, UpdateRequest, UpdateResponse,
};
use tf_framework::schema::{Attribute, Block, Schema};
use tf_framework::{
    ConfigureRequest, Ctx, DataSourceHandle, Provider, Resource, ResourceHandle, Timeouts,
    timeouts::Operation,
};
use tf_protocol::value::{Attr, Type, decode_msgpack, encode_msgpack};
use tf_protocol::{Diagnostics, Value};
use tfplugin_proto::tfplugin6 as pb;
use tfplugin_proto::tfplugin6::provider_server::Provider as _;
use tokio_util::sync::CancellationToken;
use tonic::Request;

type Store = Arc<Mutex<BTreeMap<String, String>>>;

struct TestProvider {
    store: Store,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

#[async_trait]
impl Provider for TestProvider {
    type Data = Store;
    type Config = Empty;

    fn type_name(&self) -> &'static str {
        "test"
    }

    fn schema(&self) -> Schema {
        Schema::new(Block::new("test provider"))
    }

    async fn configure(
        &self,
        _request: ConfigureRequest<Empty>,
        _diagnostics: &mut Diagnostics,
    ) -> Option<Store> {
        Some(Arc::clone(&self.store))
    }

    fn resources(&self) -> Vec<ResourceHandle<Store>> {
        vec![ResourceHandle::new(Thing)]
    }

    fn data_sources(&self) -> Vec<DataSourceHandle<Store>> {
        Vec::new()
    }
}

struct Thing;

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct ThingModel {
    id: Attr<String>,
    name: Attr<String>,
    size: Attr<i64>,
    status: Attr<String>,
    secret: Attr<String>,
    secret_wo: Attr<String>,
    timeouts: Option<Timeouts>,
}

#[async_trait]
impl Resource for Thing {
    type Data = Store;
    type Model = ThingModel;

    fn type_name(&self) -> &'static str {
        "test_thing"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            Block::new("a thing")
                .attribute(Attribute::string("id").computed().use_state_for_unknown())
                .attribute(
                    Attribute::string("name")
                        .required()
                        .requires_replace("a thing cannot be renamed"),
                )
                .attribute(Attribute::number("size").default(Value::Number(1.into())))
                .attribute(Attribute::string("status").computed())
                .attribute(Attribute::string("secret").optional().sensitive())
                .attribute(Attribute::string("secret_wo").optional().write_only())
                .block(Timeouts::block(&[(
                    Operation::Create,
                    std::time::Duration::from_secs(60),
                )])),
        )
        .version(1)
    }

    async fn create(
        &self,
        ctx: &Ctx<Store>,
        request: CreateRequest<ThingModel>,
        response: &mut CreateResponse<ThingModel>,
    ) {
        let mut plan = request.plan;
        let name = plan.name.known().cloned().unwrap_or_default();
        if name == "panic" {
            panic!("the thing {name} could not be made");
        }
        if name == "slow" {
            let wait = tokio::time::sleep(std::time::Duration::from_secs(30));
            if let Err(e) = ctx.run(std::time::Duration::from_secs(30), wait).await {
                response
                    .diagnostics
                    .error("Create Interrupted", e.to_string());
                return;
            }
        }
        ctx.data()
            .lock()
            .expect("store lock")
            .insert(name.clone(), "created".into());
        plan.id = Attr::Known(format!("id-{name}"));
        if name == "fail-midway" {
            // Made, but not finished: status stays unknown.
            response.state = Some(plan);
            response.diagnostics.error(
                "Thing Not Ready",
                "the thing was created but never became ready",
            );
            return;
        }
        plan.status = Attr::Known("ready".into());
        response.state = Some(plan);
        response
            .private
            .set("created_as", &name)
            .expect("serialisable");
    }

    async fn read(
        &self,
        ctx: &Ctx<Store>,
        request: ReadRequest<ThingModel>,
        response: &mut ReadResponse<ThingModel>,
    ) {
        let id = request.state.id.known().cloned().unwrap_or_default();
        let name = id.trim_start_matches("id-").to_owned();
        let exists = ctx.data().lock().expect("store lock").contains_key(&name);
        if !exists {
            response.state = None;
            return;
        }
        let mut state = request.state;
        state.name = Attr::Known(name);
        if !state.size.is_known() {
            state.size = Attr::Known(1);
        }
        state.status = Attr::Known("ready".into());
        response.state = Some(state);
    }

    async fn validate(&self, config: &ThingModel, diagnostics: &mut Diagnostics) {
        if config.name.known().is_some_and(|n| n.contains(' ')) {
            diagnostics.attribute_error(
                tf_protocol::AttributePath::attr("name"),
                "Invalid Name",
                "A thing's name has no spaces.",
            );
        }
    }

    async fn update(
        &self,
        _ctx: &Ctx<Store>,
        request: UpdateRequest<ThingModel>,
        response: &mut UpdateResponse<ThingModel>,
    ) {
        let mut plan = request.plan;
        plan.status = Attr::Known("ready".into());
        response.state = Some(plan);
    }

    async fn plan_destroy(
        &self,
        _ctx: &Ctx<Store>,
        prior: &ThingModel,
        diagnostics: &mut Diagnostics,
    ) {
        if prior.name.known().is_some_and(|n| n == "precious") {
            diagnostics.warning("Precious Thing", "destroying the precious thing");
        }
    }

    async fn delete(
        &self,
        ctx: &Ctx<Store>,
        request: DeleteRequest<ThingModel>,
        _response: &mut DeleteResponse,
    ) {
        let name = request.prior.name.known().cloned().unwrap_or_default();
        ctx.data().lock().expect("store lock").remove(&name);
    }

    fn import(&self) -> Import {
        Import::Passthrough("id")
    }

    /// Version 0 called `name` `title`.
    fn upgrade_state(
        &self,
        from_version: i64,
        mut json: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        if from_version != 0 {
            return Err(format!("unknown version {from_version}"));
        }
        let object = json.as_object_mut().ok_or("state is not an object")?;
        let title = object.remove("title").unwrap_or_default();
        object.insert("name".into(), title);
        Ok(json)
    }
}

fn service() -> (tf_framework::server::ProviderService<TestProvider>, Store) {
    let store: Store = Arc::default();
    let svc = tf_framework::server::ProviderService::new(
        TestProvider {
            store: Arc::clone(&store),
        },
        CancellationToken::new(),
    );
    (svc, store)
}

fn thing_type() -> Type {
    Thing.schema().value_type()
}

fn dv(value: &Value) -> Option<pb::DynamicValue> {
    Some(pb::DynamicValue {
        msgpack: encode_msgpack(value, &thing_type()).expect("encodable"),
        json: Vec::new(),
    })
}

fn undv(value: Option<pb::DynamicValue>) -> Value {
    let value = value.expect("a value");
    decode_msgpack(&value.msgpack, &thing_type()).expect("decodable")
}

fn s(v: &str) -> Value {
    Value::String(v.into())
}

fn thing(id: Value, name: &str, size: Value, status: Value, wo: Value) -> Value {
    Value::Object(BTreeMap::from([
        ("id".to_owned(), id),
        ("name".to_owned(), s(name)),
        ("size".to_owned(), size),
        ("status".to_owned(), status),
        ("secret".to_owned(), Value::Null),
        ("secret_wo".to_owned(), wo),
        ("timeouts".to_owned(), Value::Null),
    ]))
}

async fn configure(svc: &tf_framework::server::ProviderService<TestProvider>) {
    let config = Value::Object(BTreeMap::new());
    let ty = Type::object(Vec::<(String, Type)>::new());
    let response = svc
        .configure_provider(Request::new(pb::configure_provider::Request {
            terraform_version: "1.11.4".into(),
            config: Some(pb::DynamicValue {
                msgpack: encode_msgpack(&config, &ty).expect("encodable"),
                json: Vec::new(),
            }),
            client_capabilities: None,
        }))
        .await
        .expect("configure answers")
        .into_inner();
    assert!(
        response.diagnostics.is_empty(),
        "{:?}",
        response.diagnostics
    );
}

async fn plan(
    svc: &tf_framework::server::ProviderService<TestProvider>,
    prior: &Value,
    config: &Value,
    proposed: &Value,
) -> pb::plan_resource_change::Response {
    svc.plan_resource_change(Request::new(pb::plan_resource_change::Request {
        type_name: "test_thing".into(),
        prior_state: dv(prior),
        proposed_new_state: dv(proposed),
        config: dv(config),
        ..Default::default()
    }))
    .await
    .expect("plan answers")
    .into_inner()
}

async fn apply(
    svc: &tf_framework::server::ProviderService<TestProvider>,
    prior: &Value,
    planned: &Value,
    config: &Value,
) -> pb::apply_resource_change::Response {
    svc.apply_resource_change(Request::new(pb::apply_resource_change::Request {
        type_name: "test_thing".into(),
        prior_state: dv(prior),
        planned_state: dv(planned),
        config: dv(config),
        ..Default::default()
    }))
    .await
    .expect("apply answers")
    .into_inner()
}

#[tokio::test]
async fn schema_lists_the_resource_and_plans_destroys() {
    let (svc, _) = service();
    let schema = svc
        .get_provider_schema(Request::new(pb::get_provider_schema::Request {}))
        .await
        .expect("schema answers")
        .into_inner();
    let thing = &schema.resource_schemas["test_thing"];
    let block = thing.block.as_ref().expect("a block");
    let wo = block
        .attributes
        .iter()
        .find(|a| a.name == "secret_wo")
        .expect("secret_wo");
    assert!(wo.write_only);
    assert!(
        schema
            .server_capabilities
            .expect("capabilities")
            .plan_destroy
    );
}

#[tokio::test]
async fn create_plans_unknowns_and_defaults_then_applies_known_state() {
    let (svc, store) = service();
    configure(&svc).await;
    let config = thing(Value::Null, "a", Value::Null, Value::Null, s("pw"));
    let planned = plan(&svc, &Value::Null, &config, &config).await;
    assert!(planned.diagnostics.is_empty(), "{:?}", planned.diagnostics);
    let planned_state = undv(planned.planned_state);
    assert_eq!(
        planned_state,
        thing(
            Value::unknown(),
            "a",
            Value::Number(1.into()),
            Value::unknown(),
            Value::Null
        )
    );
    let applied = apply(&svc, &Value::Null, &planned_state, &config).await;
    assert!(applied.diagnostics.is_empty(), "{:?}", applied.diagnostics);
    assert_eq!(
        undv(applied.new_state),
        thing(
            s("id-a"),
            "a",
            Value::Number(1.into()),
            s("ready"),
            Value::Null
        )
    );
    assert!(store.lock().expect("store lock").contains_key("a"));
}

#[tokio::test]
async fn failed_create_returns_partial_state_without_unknowns() {
    let (svc, _) = service();
    configure(&svc).await;
    let config = thing(
        Value::Null,
        "fail-midway",
        Value::Null,
        Value::Null,
        Value::Null,
    );
    let planned = undv(
        plan(&svc, &Value::Null, &config, &config)
            .await
            .planned_state,
    );
    let applied = apply(&svc, &Value::Null, &planned, &config).await;
    assert_eq!(applied.diagnostics.len(), 1);
    assert_eq!(
        applied.diagnostics[0].severity,
        pb::diagnostic::Severity::Error as i32
    );
    // Terraform saves this as tainted: the id survives, unknowns became null.
    assert_eq!(
        undv(applied.new_state),
        thing(
            s("id-fail-midway"),
            "fail-midway",
            Value::Number(1.into()),
            Value::Null,
            Value::Null
        )
    );
}

#[tokio::test]
async fn renaming_requires_replacement() {
    let (svc, _) = service();
    configure(&svc).await;
    let prior = thing(
        s("id-a"),
        "a",
        Value::Number(1.into()),
        s("ready"),
        Value::Null,
    );
    let config = thing(Value::Null, "b", Value::Null, Value::Null, Value::Null);
    let proposed = thing(
        s("id-a"),
        "b",
        Value::Number(1.into()),
        s("ready"),
        Value::Null,
    );
    let planned = plan(&svc, &prior, &config, &proposed).await;
    let paths: Vec<_> = planned
        .requires_replace
        .iter()
        .flat_map(|p| p.steps.iter().cloned())
        .collect();
    assert_eq!(paths.len(), 1, "{:?}", planned.requires_replace);
    // The id is kept (use_state_for_unknown), the status is recomputed.
    let state = undv(planned.planned_state);
    assert_eq!(state.get_attr("id"), Some(&s("id-a")));
    assert_eq!(state.get_attr("status"), Some(&Value::unknown()));
}

#[tokio::test]
async fn read_of_a_deleted_object_returns_null_and_import_is_passthrough() {
    let (svc, store) = service();
    configure(&svc).await;
    let imported = svc
        .import_resource_state(Request::new(pb::import_resource_state::Request {
            type_name: "test_thing".into(),
            id: "id-gone".into(),
            ..Default::default()
        }))
        .await
        .expect("import answers")
        .into_inner();
    let state = undv(imported.imported_resources[0].state.clone());
    assert_eq!(state.get_attr("id"), Some(&s("id-gone")));
    assert_eq!(state.get_attr("name"), Some(&Value::Null));

    let read = svc
        .read_resource(Request::new(pb::read_resource::Request {
            type_name: "test_thing".into(),
            current_state: dv(&state),
            ..Default::default()
        }))
        .await
        .expect("read answers")
        .into_inner();
    assert_eq!(undv(read.new_state), Value::Null);

    store
        .lock()
        .expect("store lock")
        .insert("here".into(), "created".into());
    let mut here = state.clone();
    if let Value::Object(attrs) = &mut here {
        attrs.insert("id".into(), s("id-here"));
    }
    let read = svc
        .read_resource(Request::new(pb::read_resource::Request {
            type_name: "test_thing".into(),
            current_state: dv(&here),
            ..Default::default()
        }))
        .await
        .expect("read answers")
        .into_inner();
    let refreshed = undv(read.new_state);
    assert_eq!(refreshed.get_attr("name"), Some(&s("here")));
    assert_eq!(refreshed.get_attr("status"), Some(&s("ready")));
}

#[tokio::test]
async fn write_only_values_need_a_capable_client() {
    let (svc, _) = service();
    let config = thing(Value::Null, "a", Value::Null, Value::Null, s("pw"));
    let validate = |allowed: bool| {
        svc.validate_resource_config(Request::new(pb::validate_resource_config::Request {
            type_name: "test_thing".into(),
            config: dv(&config),
            client_capabilities: Some(pb::ClientCapabilities {
                deferral_allowed: false,
                write_only_attributes_allowed: allowed,
            }),
        }))
    };
    let ok = validate(true).await.expect("validate answers").into_inner();
    assert!(ok.diagnostics.is_empty(), "{:?}", ok.diagnostics);
    let refused = validate(false)
        .await
        .expect("validate answers")
        .into_inner();
    assert_eq!(refused.diagnostics.len(), 1);
    let attribute = refused.diagnostics[0].attribute.as_ref().expect("a path");
    assert_eq!(attribute.steps.len(), 1);
}

#[tokio::test]
async fn destroy_plans_null_and_apply_deletes() {
    let (svc, store) = service();
    configure(&svc).await;
    store
        .lock()
        .expect("store lock")
        .insert("a".into(), "created".into());
    let prior = thing(
        s("id-a"),
        "a",
        Value::Number(1.into()),
        s("ready"),
        Value::Null,
    );
    let planned = plan(&svc, &prior, &Value::Null, &Value::Null).await;
    assert_eq!(undv(planned.planned_state), Value::Null);
    let applied = apply(&svc, &prior, &Value::Null, &Value::Null).await;
    assert!(applied.diagnostics.is_empty());
    assert_eq!(undv(applied.new_state), Value::Null);
    assert!(store.lock().expect("store lock").is_empty());
}

#[tokio::test]
async fn destroy_plans_carry_the_resources_warnings() {
    let (svc, _) = service();
    configure(&svc).await;
    let prior = |name: &str| {
        thing(
            s("id"),
            name,
            Value::Number(1.into()),
            s("ready"),
            Value::Null,
        )
    };
    let planned = plan(&svc, &prior("precious"), &Value::Null, &Value::Null).await;
    assert_eq!(undv(planned.planned_state), Value::Null);
    let summaries: Vec<_> = planned
        .diagnostics
        .iter()
        .map(|d| d.summary.as_str())
        .collect();
    assert_eq!(summaries, ["Precious Thing"]);
    let planned = plan(&svc, &prior("plain"), &Value::Null, &Value::Null).await;
    assert!(planned.diagnostics.is_empty());
}

#[tokio::test]
async fn stop_provider_cancels_operations_in_flight() {
    let (svc, _) = service();
    configure(&svc).await;
    let config = thing(Value::Null, "slow", Value::Null, Value::Null, Value::Null);
    let planned = undv(
        plan(&svc, &Value::Null, &config, &config)
            .await
            .planned_state,
    );
    let started = std::time::Instant::now();
    let in_flight = {
        let svc = svc.clone();
        tokio::spawn(async move { apply(&svc, &Value::Null, &planned, &config).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    svc.stop_provider(Request::new(pb::stop_provider::Request {}))
        .await
        .expect("stop answers");
    let applied = in_flight.await.expect("apply task");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(applied.diagnostics.len(), 1);
    assert!(
        applied.diagnostics[0].detail.contains("stop"),
        "{:?}",
        applied.diagnostics
    );
    assert_eq!(undv(applied.new_state), Value::Null);
}

#[tokio::test]
async fn state_from_an_older_schema_version_is_upgraded() {
    let (svc, _) = service();
    let upgrade = |version: i64, json: &str| {
        svc.upgrade_resource_state(Request::new(pb::upgrade_resource_state::Request {
            type_name: "test_thing".into(),
            version,
            raw_state: Some(pb::RawState {
                json: json.as_bytes().to_vec(),
                flatmap: Default::default(),
            }),
        }))
    };
    let v0 = r#"{"id":"id-a","title":"a","size":1,"status":"ready","secret":null,"timeouts":null}"#;
    let upgraded = upgrade(0, v0).await.expect("upgrade answers").into_inner();
    assert!(
        upgraded.diagnostics.is_empty(),
        "{:?}",
        upgraded.diagnostics
    );
    let state = undv(upgraded.upgraded_state);
    assert_eq!(state.get_attr("name"), Some(&s("a")));
    assert_eq!(state.get_attr("secret_wo"), Some(&Value::Null));

    // Same version: decoded as is (missing attributes become null).
    let v1 = r#"{"id":"id-b","name":"b","size":2,"status":"ready"}"#;
    let same = upgrade(1, v1).await.expect("upgrade answers").into_inner();
    assert_eq!(
        undv(same.upgraded_state).get_attr("size"),
        Some(&Value::Number(2.into()))
    );
}

#[tokio::test]
async fn private_state_is_stored_on_create_and_kept_by_read() {
    let (svc, _) = service();
    configure(&svc).await;
    let config = thing(Value::Null, "p", Value::Null, Value::Null, Value::Null);
    let planned = undv(
        plan(&svc, &Value::Null, &config, &config)
            .await
            .planned_state,
    );
    let applied = apply(&svc, &Value::Null, &planned, &config).await;
    let private =
        tf_framework::PrivateState::from_bytes(&applied.private).expect("JSON private state");
    assert_eq!(private.get::<String>("created_as").as_deref(), Some("p"));

    let read = svc
        .read_resource(Request::new(pb::read_resource::Request {
            type_name: "test_thing".into(),
            current_state: applied.new_state.clone(),
            private: applied.private.clone(),
            ..Default::default()
        }))
        .await
        .expect("read answers")
        .into_inner();
    assert_eq!(read.private, applied.private);
}

#[tokio::test]
async fn a_panic_in_a_resource_is_an_error_and_the_provider_keeps_serving() {
    let (svc, store) = service();
    configure(&svc).await;
    let config = thing(Value::Null, "panic", Value::Null, Value::Null, Value::Null);
    let planned = undv(
        plan(&svc, &Value::Null, &config, &config)
            .await
            .planned_state,
    );
    let response = apply(&svc, &Value::Null, &planned, &config).await;
    let error = response
        .diagnostics
        .iter()
        .find(|d| d.summary == "Provider Panicked")
        .expect("a panic diagnostic");
    assert!(
        error
            .detail
            .starts_with("test_thing: apply panicked: the thing panic could not be made."),
        "{}",
        error.detail
    );
    assert!(undv(response.new_state).is_null());
    // The same service answers the next request.
    let config = thing(Value::Null, "after", Value::Null, Value::Null, Value::Null);
    let planned = undv(
        plan(&svc, &Value::Null, &config, &config)
            .await
            .planned_state,
    );
    let response = apply(&svc, &Value::Null, &planned, &config).await;
    assert!(
        response.diagnostics.is_empty(),
        "{:?}",
        response.diagnostics
    );
    assert!(store.lock().unwrap().contains_key("after"));
}

#[tokio::test]
async fn plans_check_what_validation_could_not_see() {
    let (svc, _) = service();
    configure(&svc).await;
    // Validation saw the name unknown (a variable, another resource's
    // attribute) and passed it; the plan sees it and refuses it.
    let unknown_name = Value::Object(BTreeMap::from([
        ("id".to_owned(), Value::Null),
        ("name".to_owned(), Value::unknown()),
        ("size".to_owned(), Value::Null),
        ("status".to_owned(), Value::Null),
        ("secret".to_owned(), Value::Null),
        ("secret_wo".to_owned(), Value::Null),
        ("timeouts".to_owned(), Value::Null),
    ]));
    let validated = svc
        .validate_resource_config(Request::new(pb::validate_resource_config::Request {
            type_name: "test_thing".into(),
            config: dv(&unknown_name),
            ..Default::default()
        }))
        .await
        .expect("validate answers")
        .into_inner();
    assert!(
        validated.diagnostics.is_empty(),
        "{:?}",
        validated.diagnostics
    );
    let config = thing(
        Value::Null,
        "two words",
        Value::Null,
        Value::Null,
        Value::Null,
    );
    let response = plan(&svc, &Value::Null, &config, &config).await;
    assert_eq!(response.diagnostics.len(), 1, "{:?}", response.diagnostics);
    assert_eq!(response.diagnostics[0].summary, "Invalid Name");
    assert!(response.diagnostics[0].attribute.is_some());
}
