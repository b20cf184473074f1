//! Hand-written EKS, EC2 and SSM answers for the unit tests of the AWS
//! paths, served on loopback (`crate::test_server`). moto cannot produce
//! them: it has no UpdateNodegroupVersion and no DescribeUpdate (a bare
//! HTML 404), and its node groups are ACTIVE at once, never CREATING,
//! CREATE_FAILED or DEGRADED, and never report health issues.
//!
//! The EKS answers are aws-sdk-eks values (`Nodegroup`, `Update`,
//! `Cluster`) built with the SDK's builders and written in the JSON shape
//! of the EKS REST API by [`nodegroup_json`], [`update_json`] and
//! [`cluster_json`]. The SDK's own serde support needs the unstable
//! `aws_sdk_unstable` cfg, so the writing is done here, and
//! `answers_read_back_as_the_values_they_were_written_from` proves that the
//! SDK's deserializer reads each answer back into the very value it was
//! written from. The EC2 answers (query protocol, XML) and SSM's are
//! hand-written text: the SDKs offer no writer for them.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_eks::primitives::DateTime;
use aws_sdk_eks::types::{
    AmiTypes, CapacityTypes, Certificate, Cluster, ClusterStatus, ErrorCode, ErrorDetail, IpFamily,
    Issue, KubernetesNetworkConfigResponse, LaunchTemplateSpecification, Nodegroup,
    NodegroupHealth, NodegroupIssueCode, NodegroupScalingConfig, NodegroupStatus,
    NodegroupUpdateConfig, Taint, TaintEffect, Update, UpdateStatus, UpdateType,
};
use serde_json::{Map, Value, json};

use super::test_support::ARN;
use crate::aws::AwsClients;
use crate::aws::config::{AwsEndpoints, AwsSettings, build_clients};
use crate::aws::wait::{PollSchedule, WaitLimits};
use crate::test_server::{Answer, Seen, TestServer, aws_error, json};

// ---- EKS values ----

/// The node group `demo:ubuntu` of the unit tests' plan, as EKS reports it
/// in `status`.
pub(super) fn nodegroup(status: NodegroupStatus) -> Nodegroup {
    Nodegroup::builder()
        .nodegroup_name("ubuntu")
        .nodegroup_arn(ARN)
        .cluster_name("demo")
        .version("1.31")
        .status(status)
        .capacity_type(CapacityTypes::OnDemand)
        .scaling_config(scaling(1, 3, 2))
        .instance_types("m6i.xlarge")
        .subnets("subnet-0000000a")
        .subnets("subnet-0000000b")
        .ami_type(AmiTypes::Custom)
        .node_role("arn:aws:iam::123456789012:role/eks-node")
        .labels("team", "cvm")
        .labels("sysbox-install", "yes")
        .taints(
            Taint::builder()
                .key("dedicated")
                .value("cvm")
                .effect(TaintEffect::NoSchedule)
                .build(),
        )
        .tags("env", "test")
        .update_config(NodegroupUpdateConfig::builder().max_unavailable(1).build())
        .launch_template(
            LaunchTemplateSpecification::builder()
                .name("cvm-demo-ubuntu")
                .version("1")
                .id("lt-0abc")
                .build(),
        )
        .health(
            NodegroupHealth::builder()
                .set_issues(Some(Vec::new()))
                .build(),
        )
        .build()
}

/// A scaling configuration.
pub(super) fn scaling(min: i32, max: i32, desired: i32) -> NodegroupScalingConfig {
    NodegroupScalingConfig::builder()
        .min_size(min)
        .max_size(max)
        .desired_size(desired)
        .build()
}

/// [`nodegroup`] in `status`, reporting `issues`.
pub(super) fn nodegroup_with(status: NodegroupStatus, issues: Vec<Issue>) -> Nodegroup {
    let mut nodegroup = nodegroup(status);
    nodegroup.health = Some(NodegroupHealth::builder().set_issues(Some(issues)).build());
    nodegroup
}

/// A health issue.
pub(super) fn issue(code: NodegroupIssueCode, message: &str, resources: &[&str]) -> Issue {
    Issue::builder()
        .code(code)
        .message(message)
        .set_resource_ids(Some(resources.iter().map(|r| (*r).to_owned()).collect()))
        .build()
}

/// An update of `demo:ubuntu`.
pub(super) fn update(
    id: &str,
    status: UpdateStatus,
    kind: UpdateType,
    errors: Vec<ErrorDetail>,
) -> Update {
    Update::builder()
        .id(id)
        .status(status)
        .r#type(kind)
        .set_params(Some(Vec::new()))
        .created_at(DateTime::from_secs(1_700_000_000))
        .set_errors(Some(errors))
        .build()
}

/// An error of an update.
pub(super) fn update_error(code: ErrorCode, message: &str, resources: &[&str]) -> ErrorDetail {
    ErrorDetail::builder()
        .error_code(code)
        .error_message(message)
        .set_resource_ids(Some(resources.iter().map(|r| (*r).to_owned()).collect()))
        .build()
}

/// The cluster `demo`.
fn cluster() -> Cluster {
    Cluster::builder()
        .name("demo")
        .version("1.31")
        .status(ClusterStatus::Active)
        .endpoint("https://ABC.gr7.eu-west-1.eks.amazonaws.com")
        .certificate_authority(Certificate::builder().data("LS0tLS1CRUdJTg==").build())
        .kubernetes_network_config(
            KubernetesNetworkConfigResponse::builder()
                .service_ipv4_cidr("10.100.0.0/16")
                .ip_family(IpFamily::Ipv4)
                .build(),
        )
        .build()
}

/// DescribeNodegroup's (and CreateNodegroup's, DeleteNodegroup's) answer.
pub(super) fn nodegroup_answer(nodegroup: &Nodegroup) -> Answer {
    json(200, json!({ "nodegroup": nodegroup_json(nodegroup) }))
}

/// DescribeUpdate's (and the update calls') answer.
pub(super) fn update_answer(update: &Update) -> Answer {
    json(200, json!({ "update": update_json(update) }))
}

// ---- EKS's JSON shape ----

/// A JSON object of the members that are set.
#[derive(Default)]
struct Members(Map<String, Value>);

impl Members {
    fn put(mut self, name: &str, value: Option<Value>) -> Self {
        if let Some(value) = value {
            self.0.insert(name.to_owned(), value);
        }
        self
    }

    fn text(self, name: &str, value: Option<&str>) -> Self {
        self.put(name, value.map(|v| json!(v)))
    }

    fn number(self, name: &str, value: Option<i32>) -> Self {
        self.put(name, value.map(|v| json!(v)))
    }

    fn texts(self, name: &str, values: Option<&[String]>) -> Self {
        self.put(name, values.map(|v| json!(v)))
    }

    fn map(self, name: &str, values: Option<&HashMap<String, String>>) -> Self {
        self.put(name, values.map(|v| json!(v)))
    }

    fn done(self) -> Value {
        Value::Object(self.0)
    }
}

/// A node group in the JSON shape of the EKS API (`eks/2017-11-01`).
fn nodegroup_json(nodegroup: &Nodegroup) -> Value {
    let scaling = nodegroup.scaling_config.as_ref().map(|s| {
        Members::default()
            .number("minSize", s.min_size)
            .number("maxSize", s.max_size)
            .number("desiredSize", s.desired_size)
            .done()
    });
    let taints = nodegroup.taints.as_ref().map(|taints| {
        taints
            .iter()
            .map(|t| {
                Members::default()
                    .text("key", t.key())
                    .text("value", t.value())
                    .text("effect", t.effect().map(TaintEffect::as_str))
                    .done()
            })
            .collect::<Value>()
    });
    let update_config = nodegroup.update_config.as_ref().map(|u| {
        Members::default()
            .number("maxUnavailable", u.max_unavailable)
            .number("maxUnavailablePercentage", u.max_unavailable_percentage)
            .done()
    });
    let template = nodegroup.launch_template.as_ref().map(|t| {
        Members::default()
            .text("name", t.name())
            .text("version", t.version())
            .text("id", t.id())
            .done()
    });
    let health = nodegroup.health.as_ref().map(|h| {
        let issues = h.issues.as_ref().map(|issues| {
            issues
                .iter()
                .map(|i| {
                    Members::default()
                        .text("code", i.code().map(NodegroupIssueCode::as_str))
                        .text("message", i.message())
                        .texts("resourceIds", i.resource_ids.as_deref())
                        .done()
                })
                .collect::<Value>()
        });
        Members::default().put("issues", issues).done()
    });
    Members::default()
        .text("nodegroupName", nodegroup.nodegroup_name())
        .text("nodegroupArn", nodegroup.nodegroup_arn())
        .text("clusterName", nodegroup.cluster_name())
        .text("version", nodegroup.version())
        .text("status", nodegroup.status().map(NodegroupStatus::as_str))
        .text(
            "capacityType",
            nodegroup.capacity_type().map(CapacityTypes::as_str),
        )
        .put("scalingConfig", scaling)
        .texts("instanceTypes", nodegroup.instance_types.as_deref())
        .texts("subnets", nodegroup.subnets.as_deref())
        .text("amiType", nodegroup.ami_type().map(AmiTypes::as_str))
        .text("nodeRole", nodegroup.node_role())
        .map("labels", nodegroup.labels.as_ref())
        .put("taints", taints)
        .map("tags", nodegroup.tags.as_ref())
        .put("updateConfig", update_config)
        .put("launchTemplate", template)
        .put("health", health)
        .done()
}

/// An update in the JSON shape of the EKS API.
fn update_json(update: &Update) -> Value {
    let errors = update.errors.as_ref().map(|errors| {
        errors
            .iter()
            .map(|e| {
                Members::default()
                    .text("errorCode", e.error_code().map(ErrorCode::as_str))
                    .text("errorMessage", e.error_message())
                    .texts("resourceIds", e.resource_ids.as_deref())
                    .done()
            })
            .collect::<Value>()
    });
    let params = update.params.as_ref().map(|params| {
        params
            .iter()
            .map(|p| {
                Members::default()
                    .text("type", p.r#type().map(|t| t.as_str()))
                    .text("value", p.value())
                    .done()
            })
            .collect::<Value>()
    });
    Members::default()
        .text("id", update.id())
        .text("status", update.status().map(UpdateStatus::as_str))
        .text("type", update.r#type().map(UpdateType::as_str))
        .put("params", params)
        .put(
            "createdAt",
            update.created_at().map(|t| json!(t.as_secs_f64())),
        )
        .put("errors", errors)
        .done()
}

/// A cluster in the JSON shape of the EKS API.
fn cluster_json(cluster: &Cluster) -> Value {
    let network = cluster.kubernetes_network_config().map(|n| {
        Members::default()
            .text("serviceIpv4Cidr", n.service_ipv4_cidr())
            .text("ipFamily", n.ip_family().map(IpFamily::as_str))
            .done()
    });
    Members::default()
        .text("name", cluster.name())
        .text("version", cluster.version())
        .text("status", cluster.status().map(ClusterStatus::as_str))
        .text("endpoint", cluster.endpoint())
        .put(
            "certificateAuthority",
            cluster
                .certificate_authority()
                .map(|c| Members::default().text("data", c.data()).done()),
        )
        .put("kubernetesNetworkConfig", network)
        .done()
}

// ---- the answers a test server gives ----

/// What the test server answers, per operation.
pub(super) struct EksAnswers {
    /// DescribeNodegroup answers, in order (the last repeats).
    pub(super) describe_nodegroup: Vec<Answer>,
    /// DescribeUpdate answers, in order (the last repeats).
    pub(super) describe_update: Vec<Answer>,
    /// CreateNodegroup's answer.
    pub(super) create_nodegroup: Answer,
    /// UpdateNodegroupVersion's answer.
    pub(super) update_version: Answer,
    /// UpdateNodegroupConfig's answer.
    pub(super) update_config: Answer,
    /// DeleteNodegroup's answer.
    pub(super) delete_nodegroup: Answer,
}

impl Default for EksAnswers {
    fn default() -> Self {
        Self {
            describe_nodegroup: vec![nodegroup_answer(&nodegroup(NodegroupStatus::Active))],
            describe_update: vec![],
            create_nodegroup: nodegroup_answer(&nodegroup(NodegroupStatus::Creating)),
            update_version: update_answer(&update(
                "u-1",
                UpdateStatus::InProgress,
                UpdateType::VersionUpdate,
                Vec::new(),
            )),
            update_config: update_answer(&update(
                "u-2",
                UpdateStatus::Successful,
                UpdateType::ConfigUpdate,
                Vec::new(),
            )),
            delete_nodegroup: nodegroup_answer(&nodegroup(NodegroupStatus::Deleting)),
        }
    }
}

fn ec2_xml(action: &str, inner: &str) -> Answer {
    Answer::typed(
        200,
        "text/xml",
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{action}Response xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>req-1</requestId>{inner}</{action}Response>"
        ),
    )
}

fn route(
    answers: &EksAnswers,
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
            .unwrap_or_else(|| {
                aws_error(500, "ServerException", "no answer written for this request")
            })
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
            // No template of that name.
            "DescribeLaunchTemplates" => ec2_xml(&action, "<launchTemplates/>"),
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
        ("GET", "/clusters/demo") => json(200, json!({"cluster": cluster_json(&cluster())})),
        ("POST", "/clusters/demo/node-groups") => answers.create_nodegroup.clone(),
        ("GET", "/clusters/demo/node-groups/ubuntu") => {
            let n = count("describe_nodegroup");
            pick(&answers.describe_nodegroup, n)
        }
        ("DELETE", "/clusters/demo/node-groups/ubuntu") => answers.delete_nodegroup.clone(),
        ("POST", "/clusters/demo/node-groups/ubuntu/update-version") => {
            answers.update_version.clone()
        }
        ("POST", "/clusters/demo/node-groups/ubuntu/update-config") => {
            answers.update_config.clone()
        }
        ("GET", p) if p.starts_with("/clusters/demo/updates/") => {
            let n = count("describe_update");
            pick(&answers.describe_update, n)
        }
        _ => Answer::text(404, "<title>404 Not Found</title>".into()),
    }
}

/// A test server giving `answers`, and clients pointed at it.
pub(super) async fn serve(answers: EksAnswers) -> (TestServer, AwsClients) {
    let counters = Mutex::new(BTreeMap::new());
    let answers = Arc::new(answers);
    let server = TestServer::start(move |request, _| route(&answers, request, &counters)).await;
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

/// Wait limits that poll every few milliseconds.
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

/// The calls the server saw: EC2 actions by name, the rest as method and path.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Each answer, served and read by the SDK's own deserializer, is the
    /// value it was written from: a misspelt or missing member fails here.
    #[tokio::test]
    async fn answers_read_back_as_the_values_they_were_written_from() {
        let failed = nodegroup_with(
            NodegroupStatus::CreateFailed,
            vec![issue(
                NodegroupIssueCode::NodeCreationFailure,
                "Instances failed to join the kubernetes cluster",
                &["i-0abc"],
            )],
        );
        let failed_update = update(
            "u-1",
            UpdateStatus::Failed,
            UpdateType::VersionUpdate,
            vec![update_error(
                ErrorCode::NodeCreationFailure,
                "new nodes are not joining",
                &["i-0abc"],
            )],
        );
        let (_server, clients) = serve(EksAnswers {
            describe_nodegroup: vec![nodegroup_answer(&failed)],
            describe_update: vec![update_answer(&failed_update)],
            ..EksAnswers::default()
        })
        .await;
        let read = clients.eks.find_nodegroup("demo", "ubuntu").await.unwrap();
        assert_eq!(read, Some(failed));
        let read = clients
            .eks
            .find_update("demo", "ubuntu", "u-1")
            .await
            .unwrap();
        assert_eq!(read, Some(failed_update));
        let read = clients.eks.find_cluster("demo").await.unwrap();
        assert_eq!(read, Some(cluster()));
    }
}
