//! Recorded EKS, EC2 and SSM answers served on loopback
//! (`crate::test_server`), because moto cannot produce them: it has
//! no UpdateNodegroupVersion and no DescribeUpdate (a bare HTML 404), and
//! its node groups are ACTIVE at once, never CREATING, CREATE_FAILED or
//! DEGRADED, and never report health issues. The answers follow the
//! shapes of the EKS API model (`eks/2017-11-01`) and EC2's query protocol.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use super::test_support::ARN;
use crate::aws::AwsClients;
use crate::aws::config::{AwsEndpoints, AwsSettings, build_clients};
use crate::aws::wait::{PollSchedule, WaitLimits};
use crate::test_server::{Answer, Seen, TestServer, aws_error, json};

pub(super) fn nodegroup_json(status: &str) -> serde_json::Value {
    json!({
        "nodegroupName": "ubuntu",
        "nodegroupArn": ARN,
        "clusterName": "demo",
        "version": "1.31",
        "status": status,
        "capacityType": "ON_DEMAND",
        "scalingConfig": {"minSize": 1, "maxSize": 3, "desiredSize": 2},
        "instanceTypes": ["m6i.xlarge"],
        "subnets": ["subnet-a", "subnet-b"],
        "amiType": "CUSTOM",
        "nodeRole": "arn:aws:iam::123456789012:role/eks-node",
        "labels": {"team": "cvm", "sysbox-install": "yes"},
        "taints": [{"key": "dedicated", "value": "cvm", "effect": "NO_SCHEDULE"}],
        "tags": {"env": "test"},
        "updateConfig": {"maxUnavailable": 1},
        "launchTemplate": {"name": "cvm-demo-ubuntu", "version": "1", "id": "lt-0abc"},
        "health": {"issues": []}
    })
}

pub(super) fn nodegroup_with(status: &str, issues: serde_json::Value) -> serde_json::Value {
    let mut ng = nodegroup_json(status);
    ng["health"] = json!({ "issues": issues });
    ng
}

// ---- recorded AWS answers ----

/// Answers in the shape the services send.
pub(super) struct Recorded {
    /// DescribeNodegroup answers, in order (the last repeats).
    pub(super) describe_nodegroup: Vec<Answer>,
    /// DescribeUpdate answers, in order (the last repeats).
    pub(super) describe_update: Vec<Answer>,
    pub(super) create_nodegroup: Answer,
    pub(super) update_version: Answer,
    pub(super) update_config: Answer,
    pub(super) delete_nodegroup: Answer,
}

impl Default for Recorded {
    fn default() -> Self {
        Self {
            describe_nodegroup: vec![json(200, json!({"nodegroup": nodegroup_json("ACTIVE")}))],
            describe_update: vec![],
            create_nodegroup: json(200, json!({"nodegroup": nodegroup_json("CREATING")})),
            update_version: json(
                200,
                json!({"update": update_json("u-1", "InProgress", "VersionUpdate", json!([]))}),
            ),
            update_config: json(
                200,
                json!({"update": update_json("u-2", "Successful", "ConfigUpdate", json!([]))}),
            ),
            delete_nodegroup: json(200, json!({"nodegroup": nodegroup_json("DELETING")})),
        }
    }
}

pub(super) fn update_json(
    id: &str,
    status: &str,
    kind: &str,
    errors: serde_json::Value,
) -> serde_json::Value {
    json!({"id": id, "status": status, "type": kind, "params": [], "createdAt": 1.7e9, "errors": errors})
}

pub(super) fn ec2_xml(action: &str, inner: &str) -> Answer {
    Answer::typed(
        200,
        "text/xml",
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{action}Response xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>req-1</requestId>{inner}</{action}Response>"
        ),
    )
}

pub(super) fn route(
    recorded: &Recorded,
    request: &Seen,
    counters: &Mutex<BTreeMap<&'static str, usize>>,
) -> Answer {
    let count = |key: &'static str| {
        let mut counters = counters.lock().unwrap();
        let n = counters.entry(key).or_default();
        *n += 1;
        *n - 1
    };
    let pick = |answers: &[Answer], n: usize| {
        answers
            .get(n)
            .or(answers.last())
            .cloned()
            .unwrap_or_else(|| aws_error(500, "ServerException", "nothing recorded"))
    };
    let body = String::from_utf8_lossy(&request.body).into_owned();
    let path = request.target.split('?').next().unwrap_or_default();
    if let Some(action) = body
        .strip_prefix("Action=")
        .map(|b| b.split('&').next().unwrap_or_default().to_owned())
    {
        return match action.as_str() {
            "CreateLaunchTemplate" => ec2_xml(
                &action,
                "<launchTemplate><launchTemplateId>lt-0abc</launchTemplateId><launchTemplateName>cvm-demo-ubuntu</launchTemplateName><defaultVersionNumber>1</defaultVersionNumber><latestVersionNumber>1</latestVersionNumber></launchTemplate>",
            ),
            "CreateLaunchTemplateVersion" => ec2_xml(
                &action,
                "<launchTemplateVersion><launchTemplateId>lt-0abc</launchTemplateId><versionNumber>2</versionNumber></launchTemplateVersion>",
            ),
            "DeleteLaunchTemplate" => ec2_xml(
                &action,
                "<launchTemplate><launchTemplateId>lt-0abc</launchTemplateId></launchTemplate>",
            ),
            _ => Answer::typed(400, "text/xml", "<Response><Errors><Error><Code>InvalidAction</Code><Message>no</Message></Error></Errors><RequestID>r</RequestID></Response>".into()),
        };
    }
    if request.json().get("Name").is_some() {
        let name = request.json()["Name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        return json(
            200,
            json!({"Parameter": {"Name": name, "Type": "String", "Value": "ami-0123", "Version": 1}}),
        );
    }
    match (request.method.as_str(), path) {
        ("GET", "/clusters/demo") => json(
            200,
            json!({"cluster": {
                "name": "demo", "version": "1.31", "status": "ACTIVE",
                "endpoint": "https://ABC.gr7.eu-west-1.eks.amazonaws.com",
                "certificateAuthority": {"data": "LS0tLS1CRUdJTg=="},
                "kubernetesNetworkConfig": {"serviceIpv4Cidr": "10.100.0.0/16", "ipFamily": "ipv4"}
            }}),
        ),
        ("POST", "/clusters/demo/node-groups") => recorded.create_nodegroup.clone(),
        ("GET", "/clusters/demo/node-groups/ubuntu") => {
            let n = count("describe_nodegroup");
            pick(&recorded.describe_nodegroup, n)
        }
        ("DELETE", "/clusters/demo/node-groups/ubuntu") => recorded.delete_nodegroup.clone(),
        ("POST", "/clusters/demo/node-groups/ubuntu/update-version") => {
            recorded.update_version.clone()
        }
        ("POST", "/clusters/demo/node-groups/ubuntu/update-config") => {
            recorded.update_config.clone()
        }
        ("GET", p) if p.starts_with("/clusters/demo/updates/") => {
            let n = count("describe_update");
            pick(&recorded.describe_update, n)
        }
        _ => Answer::text(404, "<title>404 Not Found</title>".into()),
    }
}

pub(super) async fn recorded(recorded: Recorded) -> (TestServer, AwsClients) {
    let counters = Mutex::new(BTreeMap::new());
    let recorded = Arc::new(recorded);
    let server = TestServer::start(move |request, _| route(&recorded, request, &counters)).await;
    let settings = AwsSettings {
        region: Some("eu-west-1".into()),
        access_key: Some("AKIDTEST".into()),
        secret_key: Some("secret".into()),
        endpoints: AwsEndpoints {
            eks: Some(server.endpoint()),
            ec2: Some(server.endpoint()),
            ssm: Some(server.endpoint()),
            sts: Some(server.endpoint()),
        },
        max_attempts: Some(2),
        ..AwsSettings::default()
    };
    let clients = build_clients(&settings).await.unwrap();
    (server, clients)
}

pub(super) fn fast_limits() -> WaitLimits {
    WaitLimits::new(
        Duration::from_secs(10),
        tokio_util::sync::CancellationToken::new(),
    )
    .with_schedule(PollSchedule {
        first: Duration::from_millis(5),
        max: Duration::from_millis(20),
    })
}

pub(super) fn calls(server: &TestServer) -> Vec<String> {
    server
        .seen()
        .iter()
        .map(|s| {
            let body = String::from_utf8_lossy(&s.body).into_owned();
            match body.strip_prefix("Action=") {
                Some(rest) => rest.split('&').next().unwrap_or_default().to_owned(),
                None => format!(
                    "{} {}",
                    s.method,
                    s.target.split('?').next().unwrap_or_default()
                ),
            }
        })
        .collect()
}
