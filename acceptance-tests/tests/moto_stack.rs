//! The moto test stack itself, on a real `moto_server` (5.2.5, installed by `scripts/moto
//! install`): start and reset, an EKS cluster visible through DescribeCluster, the fault proxy's
//! rate, error shapes, counting and determinism, and a probe that pins down what moto does with
//! managed node groups — the behaviours the `cvm_nodegroup` tests rely on or must work around.
//!
//! Findings (moto 5.2.5, all asserted below):
//! - CreateNodegroup accepts `launchTemplate {id, version}` and `{name}`, resolves the other of
//!   id/name from EC2, and returns the group `ACTIVE` at once (no CREATING state, ever). A
//!   launch-template id that does not exist is accepted silently.
//! - With a launch template moto still reports `amiType: AL2_x86_64` (never `CUSTOM`),
//!   `instanceTypes: ["t3.medium"]`, `diskSize: 20` and `remoteAccess`; `version` is `1.19`
//!   whatever the cluster's version. `updateConfig` sent to CreateNodegroup is dropped.
//! - `diskSize` together with a launch template → 400 InvalidParameterException; a duplicate name
//!   → 409 ResourceInUseException.
//! - UpdateNodegroupConfig works and answers an `update` with status `Successful` (type
//!   `ConfigUpdate`) at once; the change shows in DescribeNodegroup.
//! - UpdateNodegroupVersion and DescribeUpdate are not implemented: HTTP 404 with Flask's HTML
//!   "Not Found" page and no AWS error code.
//! - DeleteNodegroup answers the group (status still `ACTIVE`, not `DELETING`) and removes it at
//!   once: the next DescribeNodegroup is 404 ResourceNotFoundException.
//! - DeleteCluster while node groups exist → 409 ResourceInUseException.
//! - The cluster's `certificateAuthority.data` is a random string, not a base64 PEM.
//! - SSM PutParameter under `/aws/...` → AccessDeniedException; other names work, including
//!   `DataType: aws:ec2:image` with an AMI id moto does not know.
//! - The proxy's injected errors (EKS/SSM 400 ThrottlingException, EC2 503 RequestLimitExceeded,
//!   HTTP 500) are retried by the AWS SDK for Rust's standard retry policy.
//!
//! Needs `scripts/moto install` once; without it these tests fail and say so.

use std::collections::BTreeMap;

use acceptance_tests::moto::{
    ACCOUNT_ID, ActionStats, Error, FaultConfig, FaultProxy, Moto, MotoClient,
};
use serde_json::{Value, json};

fn start() -> Moto {
    match Moto::start() {
        Ok(moto) => moto,
        Err(e) => panic!("starting moto_server failed: {e}"),
    }
}

#[test]
fn starts_on_loopback_and_resets() {
    let moto = start();
    assert!(moto.endpoint().starts_with("http://127.0.0.1:"), "{moto:?}");

    let fixture = moto
        .create_cluster_fixture("before-reset", "1.31")
        .expect("cluster fixture");
    assert_eq!(fixture.network.subnet_ids.len(), 2);
    let clusters = moto.eks("GET", "/clusters", None).expect("list clusters");
    assert_eq!(clusters["clusters"], json!(["before-reset"]), "{clusters}");

    moto.reset().expect("reset");
    let clusters = moto.eks("GET", "/clusters", None).expect("list clusters");
    assert_eq!(clusters["clusters"], json!([]), "{clusters}");
    assert!(
        moto.launch_templates()
            .expect("launch templates")
            .is_empty()
    );
}

#[test]
fn cluster_fixture_is_visible_through_describe_cluster() {
    let moto = start();
    let fixture = moto
        .create_cluster_fixture("demo", "1.31")
        .expect("cluster fixture");
    assert!(
        fixture
            .node_role_arn
            .starts_with(&format!("arn:aws:iam::{ACCOUNT_ID}:role/")),
        "{}",
        fixture.node_role_arn
    );
    assert!(fixture.network.vpc_id.starts_with("vpc-"));

    let cluster = moto.describe_cluster("demo").expect("describe cluster");
    assert_eq!(cluster["status"], "ACTIVE", "{cluster}");
    assert_eq!(cluster["version"], "1.31");
    assert_eq!(
        cluster["resourcesVpcConfig"]["subnetIds"],
        json!(fixture.network.subnet_ids)
    );
    let endpoint = cluster["endpoint"].as_str().unwrap_or_default();
    assert!(endpoint.starts_with("https://"), "{cluster}");
    let ca = cluster["certificateAuthority"]["data"]
        .as_str()
        .unwrap_or_default();
    assert!(
        !ca.is_empty() && !ca.starts_with("LS0t"),
        "moto's CA is not a PEM: {ca}"
    );
    assert_eq!(
        cluster["kubernetesNetworkConfig"]["serviceIpv4Cidr"], "172.20.0.0/16",
        "{cluster}"
    );

    let missing = moto.describe_cluster("nope").expect_err("missing cluster");
    assert_eq!(
        missing.code(),
        Some("ResourceNotFoundException"),
        "{missing}"
    );

    // SSM: test prefixes work, /aws/... is reserved.
    let name = "/test/canonical/ubuntu/eks/22.04/1.31/stable/current/amd64/hvm/ebs-gp2/ami-id";
    moto.put_parameter(name, "ami-0123456789abcdef0", Some("aws:ec2:image"))
        .expect("put parameter");
    assert_eq!(
        moto.get_parameter(name).expect("get parameter").as_deref(),
        Some("ami-0123456789abcdef0")
    );
    assert_eq!(moto.get_parameter("/test/missing").expect("get"), None);
    let reserved = moto
        .put_parameter("/aws/service/canonical/x", "ami-1", None)
        .expect_err("reserved name");
    assert_eq!(reserved.code(), Some("AccessDeniedException"), "{reserved}");
}

/// Sends one call of each protocol through `client`; the outcome per call, as the
/// (HTTP status, AWS code) of an error or `None` when it went through.
fn one_round(client: &MotoClient) -> [Option<(u16, String)>; 3] {
    let outcome = |result: Result<(), Error>| match result {
        Ok(()) => None,
        Err(e) => Some((
            e.status().unwrap_or(0),
            e.code().unwrap_or("no code").to_string(),
        )),
    };
    [
        outcome(client.eks("GET", "/clusters", None).map(|_| ())),
        outcome(client.launch_templates().map(|_| ())),
        outcome(client.ssm("DescribeParameters", json!({})).map(|_| ())),
    ]
}

#[test]
fn fault_proxy_injects_faults_at_the_configured_rate_and_counts_actions() {
    let moto = start();
    let config = FaultConfig {
        max_consecutive_faults: u32::MAX,
        ..FaultConfig::new(0.2, 0.1, 42)
    };
    let proxy = FaultProxy::start(moto.endpoint(), config).expect("proxy");
    let client = MotoClient::new(proxy.endpoint());

    let rounds = 200;
    let first: Vec<_> = (0..rounds).map(|_| one_round(&client)).collect();

    let counts = proxy.counts();
    assert_eq!(
        counts,
        BTreeMap::from([
            ("ec2:DescribeLaunchTemplates".to_string(), rounds),
            ("eks:ListClusters".to_string(), rounds),
            ("ssm:DescribeParameters".to_string(), rounds),
        ]),
        "{}",
        proxy.report()
    );
    let total = 3 * rounds;
    assert_eq!(proxy.total_requests(), total);

    let stats = proxy.stats();
    let throttled: u64 = stats.values().map(|s| s.throttled).sum();
    let failed: u64 = stats.values().map(|s| s.server_errors).sum();
    // 600 draws: expect 120 throttles and 60 server errors; allow generous sampling noise.
    assert!((80..=160).contains(&throttled), "{}", proxy.report());
    assert!((30..=90).contains(&failed), "{}", proxy.report());

    // What the client saw matches the proxy's counts, in each protocol's error shape.
    let mut seen: BTreeMap<(u16, String), u64> = BTreeMap::new();
    for round in &first {
        for outcome in round.iter().flatten() {
            *seen.entry(outcome.clone()).or_default() += 1;
        }
    }
    let per = |action: &str| stats.get(action).copied().unwrap_or_default();
    let expected: BTreeMap<(u16, String), u64> = [
        (
            (400, "ThrottlingException"),
            per("eks:ListClusters").throttled + per("ssm:DescribeParameters").throttled,
        ),
        (
            (503, "RequestLimitExceeded"),
            per("ec2:DescribeLaunchTemplates").throttled,
        ),
        (
            (500, "InternalFailure"),
            per("eks:ListClusters").server_errors + per("ssm:DescribeParameters").server_errors,
        ),
        (
            (500, "InternalError"),
            per("ec2:DescribeLaunchTemplates").server_errors,
        ),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|((status, code), n)| ((status, code.to_string()), n))
    .collect();
    assert_eq!(seen, expected, "{}", proxy.report());

    // Same seed, same sequential traffic → the same faults, request for request.
    proxy.set_config(config);
    proxy.reset_counts();
    let second: Vec<_> = (0..rounds).map(|_| one_round(&client)).collect();
    assert_eq!(first, second);

    // moto-api calls pass untouched and uncounted.
    proxy.set_config(FaultConfig::new(1.0, 0.0, 1));
    MotoClient::new(proxy.endpoint())
        .reset()
        .expect("reset through the proxy");
    assert_eq!(proxy.total_requests(), 3 * rounds);
}

#[test]
fn fault_proxy_caps_faults_in_a_row_so_retrying_clients_get_through() {
    let moto = start();
    // Every request would be throttled; the cap forwards every third one per operation.
    let proxy = FaultProxy::start(moto.endpoint(), FaultConfig::new(1.0, 0.0, 3)).expect("proxy");
    let client = MotoClient::new(proxy.endpoint());
    let mut answered = 0;
    for _ in 0..3 {
        if client.get_parameter("/test/none").is_ok() {
            answered += 1;
        }
    }
    assert_eq!(answered, 1, "{}", proxy.report());
    assert_eq!(
        proxy.stats()["ssm:GetParameter"],
        ActionStats {
            requests: 3,
            throttled: 2,
            server_errors: 0
        }
    );
}

#[test]
fn fault_proxy_names_the_node_group_operations() {
    let moto = start();
    let proxy = FaultProxy::start(moto.endpoint(), FaultConfig::none()).expect("proxy");
    let client = MotoClient::new(proxy.endpoint());
    let fixture = client
        .create_cluster_fixture("counted", "1.31")
        .expect("fixture");
    let lt = client
        .create_launch_template("counted-lt", "ami-12345678", None)
        .expect("launch template");
    client
        .create_nodegroup(
            "counted",
            json!({
                "nodegroupName": "ng",
                "subnets": fixture.network.subnet_ids,
                "nodeRole": fixture.node_role_arn,
                "launchTemplate": { "id": lt.id, "version": "1" },
                "scalingConfig": { "minSize": 1, "maxSize": 2, "desiredSize": 1 },
            }),
        )
        .expect("create nodegroup");
    client
        .describe_nodegroup("counted", "ng")
        .expect("describe");
    client
        .update_nodegroup_config(
            "counted",
            "ng",
            json!({ "scalingConfig": { "minSize": 1, "maxSize": 3, "desiredSize": 2 } }),
        )
        .expect("update config");
    client.list_nodegroups("counted").expect("list");
    client.delete_nodegroup("counted", "ng").expect("delete");
    client
        .launch_template_versions(&lt.id)
        .expect("launch template versions");
    client
        .put_parameter("/test/p", "v", None)
        .expect("put parameter");

    let counts = proxy.counts();
    let expected = [
        ("ec2:CreateLaunchTemplate", 1),
        ("ec2:CreateSubnet", 2),
        ("ec2:CreateVpc", 1),
        ("ec2:DescribeLaunchTemplateVersions", 1),
        ("eks:CreateCluster", 1),
        ("eks:CreateNodegroup", 1),
        ("eks:DeleteNodegroup", 1),
        ("eks:DescribeNodegroup", 1),
        ("eks:ListNodegroups", 1),
        ("eks:UpdateNodegroupConfig", 1),
        ("iam:CreateRole", 2),
        ("ssm:PutParameter", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect::<BTreeMap<_, _>>();
    assert_eq!(counts, expected, "{}", proxy.report());
    println!("{}", proxy.report());
}

/// What moto 5.2.5 does with managed node groups (see the findings at the top of this file).
#[test]
fn probe_moto_node_group_behaviour() {
    let moto = start();
    let fixture = moto
        .create_cluster_fixture("probe", "1.31")
        .expect("cluster fixture");
    let lt = moto
        .create_launch_template("probe-lt", "ami-12345678", Some("IyEvYmluL3NoCg=="))
        .expect("launch template");
    assert_eq!((lt.default_version, lt.latest_version), (1, 1));
    let versions = moto.launch_template_versions(&lt.id).expect("versions");
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].image_id.as_deref(), Some("ami-12345678"));
    assert_eq!(versions[0].user_data.as_deref(), Some("IyEvYmluL3NoCg=="));

    let request = |name: &str, launch_template: Value| {
        json!({
            "nodegroupName": name,
            "subnets": fixture.network.subnet_ids,
            "nodeRole": fixture.node_role_arn,
            "launchTemplate": launch_template,
            "scalingConfig": { "minSize": 1, "maxSize": 3, "desiredSize": 2 },
            "labels": { "sysbox-install": "yes" },
            "taints": [{ "key": "sysbox", "value": "pending", "effect": "NO_SCHEDULE" }],
            "updateConfig": { "maxUnavailable": 1 },
            "capacityType": "ON_DEMAND",
        })
    };

    // Created ACTIVE at once; launch template resolved id → name.
    let group = moto
        .create_nodegroup(
            "probe",
            request("by-id", json!({ "id": lt.id, "version": "1" })),
        )
        .expect("create by id");
    assert_eq!(group["status"], "ACTIVE", "{group}");
    assert_eq!(
        group["launchTemplate"],
        json!({ "name": "probe-lt", "version": "1", "id": lt.id }),
        "{group}"
    );
    // Fidelity gaps: EKS-with-custom-AMI would say CUSTOM and omit these.
    assert_eq!(group["amiType"], "AL2_x86_64", "{group}");
    assert_eq!(group["instanceTypes"], json!(["t3.medium"]), "{group}");
    assert_eq!(group["diskSize"], 20, "{group}");
    assert!(group["remoteAccess"].is_object(), "{group}");
    assert_eq!(group["version"], "1.19", "{group}");
    assert!(
        group.get("updateConfig").is_none_or(Value::is_null),
        "{group}"
    );
    assert_eq!(group["health"]["issues"], json!([]), "{group}");
    assert_eq!(group["labels"], json!({ "sysbox-install": "yes" }));
    let described = moto
        .describe_nodegroup("probe", "by-id")
        .expect("describe")
        .expect("exists");
    assert_eq!(described["status"], "ACTIVE");

    // By name, without a version.
    let by_name = moto
        .create_nodegroup("probe", request("by-name", json!({ "name": "probe-lt" })))
        .expect("create by name");
    assert_eq!(by_name["launchTemplate"]["id"], lt.id.as_str(), "{by_name}");

    // A launch template that does not exist is accepted.
    let ghost = moto.create_nodegroup(
        "probe",
        request(
            "ghost",
            json!({ "id": "lt-0000000000000000f", "version": "1" }),
        ),
    );
    assert!(ghost.is_ok(), "{ghost:?}");

    // Rejections.
    let mut with_disk = request("with-disk", json!({ "id": lt.id, "version": "1" }));
    with_disk["diskSize"] = json!(50);
    let err = moto
        .create_nodegroup("probe", with_disk)
        .expect_err("diskSize with a launch template");
    assert_eq!(
        (err.status(), err.code()),
        (Some(400), Some("InvalidParameterException")),
        "{err}"
    );
    let err = moto
        .create_nodegroup(
            "probe",
            request("by-id", json!({ "id": lt.id, "version": "1" })),
        )
        .expect_err("duplicate");
    assert_eq!(
        (err.status(), err.code()),
        (Some(409), Some("ResourceInUseException")),
        "{err}"
    );

    // UpdateNodegroupConfig: done at once.
    let update = moto
        .update_nodegroup_config(
            "probe",
            "by-id",
            json!({
                "scalingConfig": { "minSize": 1, "maxSize": 4, "desiredSize": 3 },
                "labels": { "addOrUpdateLabels": { "tier": "cvm" }, "removeLabels": [] },
                "taints": { "removeTaints": [{ "key": "sysbox", "value": "pending", "effect": "NO_SCHEDULE" }] },
            }),
        )
        .expect("update config");
    assert_eq!(update["status"], "Successful", "{update}");
    assert_eq!(update["type"], "ConfigUpdate", "{update}");
    let described = moto
        .describe_nodegroup("probe", "by-id")
        .expect("describe")
        .expect("exists");
    assert_eq!(described["scalingConfig"]["desiredSize"], 3, "{described}");
    assert_eq!(described["labels"]["tier"], "cvm", "{described}");
    assert_eq!(described["taints"], json!([]), "{described}");

    // Not implemented: a bare 404 HTML page without an AWS error code.
    for (method, path, body) in [
        (
            "POST",
            "/clusters/probe/node-groups/by-id/update-version",
            Some(json!({ "launchTemplate": { "id": lt.id, "version": "1" } })),
        ),
        (
            "GET",
            "/clusters/probe/updates/some-id?nodegroupName=by-id",
            None,
        ),
        ("GET", "/clusters/probe/updates", None),
    ] {
        let err = moto.eks(method, path, body).expect_err("not implemented");
        match &err {
            Error::Api {
                status: 404,
                code: None,
                body,
                ..
            } => {
                assert!(body.contains("<title>404 Not Found</title>"), "{err}");
            }
            other => panic!("{method} {path}: expected a bare 404, got {other}"),
        }
    }

    // Tagging works on clusters only.
    let group_arn = described["nodegroupArn"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let err = moto
        .eks(
            "POST",
            &format!(
                "/tags/{}",
                group_arn.replace(':', "%3A").replace('/', "%2F")
            ),
            Some(json!({ "tags": { "a": "b" } })),
        )
        .expect_err("tagging a node group");
    assert_eq!(err.code(), Some("ResourceNotFoundException"), "{err}");

    // A cluster with node groups cannot be deleted.
    let err = moto
        .eks("DELETE", "/clusters/probe", None)
        .expect_err("delete cluster with node groups");
    assert_eq!(
        (err.status(), err.code()),
        (Some(409), Some("ResourceInUseException")),
        "{err}"
    );

    // DeleteNodegroup: answered ACTIVE, gone at once.
    let deleted = moto.delete_nodegroup("probe", "by-id").expect("delete");
    assert_eq!(deleted["status"], "ACTIVE", "{deleted}");
    assert_eq!(
        moto.describe_nodegroup("probe", "by-id").expect("describe"),
        None
    );
    let err = moto
        .delete_nodegroup("probe", "by-id")
        .expect_err("delete twice");
    assert_eq!(
        (err.status(), err.code()),
        (Some(404), Some("ResourceNotFoundException")),
        "{err}"
    );
    let mut remaining = moto.list_nodegroups("probe").expect("list");
    remaining.sort();
    assert_eq!(remaining, ["by-name", "ghost"]);
}

/// The injected errors have shapes the AWS SDK for Rust classifies as retryable (throttling codes,
/// HTTP 500): with its standard retry policy (3 attempts) and the proxy's default cap of two
/// faults in a row per operation, every call succeeds.
#[test]
fn the_aws_sdk_retries_the_injected_faults() {
    use aws_config::retry::RetryConfig;
    use aws_config::{BehaviorVersion, Region};
    use aws_sdk_eks::config::Credentials;

    let moto = start();
    moto.create_cluster_fixture("sdk", "1.31").expect("fixture");
    moto.create_launch_template("sdk-lt", "ami-12345678", None)
        .expect("launch template");
    moto.put_parameter("/test/sdk", "ami-12345678", None)
        .expect("parameter");
    let proxy = FaultProxy::start(moto.endpoint(), FaultConfig::new(0.3, 0.2, 11)).expect("proxy");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(proxy.endpoint())
            .region(Region::new(acceptance_tests::moto::REGION))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(std::time::Duration::from_millis(5)),
            )
            .load()
            .await;
        let eks = aws_sdk_eks::Client::new(&config);
        let ec2 = aws_sdk_ec2::Client::new(&config);
        let ssm = aws_sdk_ssm::Client::new(&config);
        for i in 0..15 {
            let cluster = eks.describe_cluster().name("sdk").send().await;
            let cluster = cluster.unwrap_or_else(|e| panic!("DescribeCluster #{i}: {e:?}"));
            assert_eq!(cluster.cluster().and_then(|c| c.version()), Some("1.31"));
            let templates = ec2.describe_launch_templates().send().await;
            let templates =
                templates.unwrap_or_else(|e| panic!("DescribeLaunchTemplates #{i}: {e:?}"));
            assert_eq!(templates.launch_templates().len(), 1);
            let parameter = ssm.get_parameter().name("/test/sdk").send().await;
            let parameter = parameter.unwrap_or_else(|e| panic!("GetParameter #{i}: {e:?}"));
            assert_eq!(
                parameter.parameter().and_then(|p| p.value()),
                Some("ami-12345678")
            );
        }
    });

    let stats = proxy.stats();
    println!("{}", proxy.report());
    for action in [
        "eks:DescribeCluster",
        "ec2:DescribeLaunchTemplates",
        "ssm:GetParameter",
    ] {
        let s = stats.get(action).copied().unwrap_or_default();
        assert_eq!(s.forwarded(), 15, "{action}: {}", proxy.report());
        assert!(
            s.throttled + s.server_errors > 0,
            "{action}: {}",
            proxy.report()
        );
    }
    let faults = stats
        .values()
        .fold((0, 0), |(t, f), s| (t + s.throttled, f + s.server_errors));
    assert!(faults.0 > 0 && faults.1 > 0, "{}", proxy.report());
}
