//! `moto_server` (a local emulation of the AWS APIs, installed from PyPI by `scripts/moto install`)
//! as a peer of a test, and [`FaultProxy`], a reverse proxy that throttles or fails a share of the
//! requests in front of it and counts the AWS API calls per operation.
//!
//! The harness talks to moto over plain HTTP in the wire protocols the AWS SDKs use (EKS REST-JSON,
//! EC2 query/XML, SSM JSON 1.1, IAM query). moto does not check signatures, so requests carry a
//! SigV4-shaped `Authorization` header only to tell moto which service they are for.
//!
//! ```no_run
//! use acceptance_tests::moto::{FaultConfig, FaultProxy, Moto};
//!
//! let moto = Moto::start()?;
//! let fixture = moto.create_cluster_fixture("demo", "1.31")?;
//! let proxy = FaultProxy::start(moto.endpoint(), FaultConfig::new(0.2, 0.1, 7))?;
//! // Point the provider at the proxy: AWS_ENDPOINT_URL etc. from `aws_env`.
//! let env = acceptance_tests::moto::aws_env(proxy.endpoint());
//! # let _ = (fixture, env);
//! println!("{}", proxy.report());
//! moto.reset()?;
//! # Ok::<(), acceptance_tests::moto::Error>(())
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The region every harness call uses, and the one [`aws_env`] sets.
pub const REGION: &str = "us-east-1";

/// The account moto reports for every resource.
pub const ACCOUNT_ID: &str = "123456789012";

/// Environment variable that overrides where `moto_server` is (otherwise the venv that
/// `scripts/moto install` creates in the cache directory).
pub const MOTO_SERVER_ENV: &str = "CVM_MOTO_SERVER";

/// The command that installs moto; quoted in errors.
const INSTALL_FIX: &str = "scripts/moto install";

/// How long moto_server may take to answer after it was started (Python imports take 1-3 s).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Timeout of one call to moto (harness calls and forwarded proxy calls).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest request body the proxy accepts (AWS request bodies are a few KiB).
const MAX_PROXY_BODY: usize = 16 * 1024 * 1024;

/// What can go wrong starting or driving moto or the proxy.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// moto_server is not installed.
    #[error(
        "{reason}\n  fix: run `{fix}` (installs moto[server] from PyPI into a venv in the cache)"
    )]
    NotInstalled {
        /// Where the binary was looked for.
        reason: String,
        /// The command that installs it.
        fix: String,
    },

    /// A local file or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// moto_server exited or did not answer during startup.
    #[error("moto_server did not start: {reason}\n--- moto.log (tail) ---\n{log}")]
    Start {
        /// What happened.
        reason: String,
        /// The end of its log.
        log: String,
    },

    /// An HTTP request could not be made or its answer not read.
    #[error("{call}: {message}")]
    Transport {
        /// The AWS operation or path.
        call: String,
        /// What failed.
        message: String,
    },

    /// moto answered with a status other than 2xx.
    #[error("{call} answered {status} ({}): {body}", code.as_deref().unwrap_or("no error code"))]
    Api {
        /// The AWS operation or path.
        call: String,
        /// HTTP status code.
        status: u16,
        /// The AWS error code (`X-Amzn-ErrorType`, JSON `__type` or XML `<Code>`), if any.
        code: Option<String>,
        /// The answer.
        body: String,
    },

    /// The answer did not have the expected shape.
    #[error("{call}: unexpected answer ({message}): {body}")]
    Response {
        /// The AWS operation or path.
        call: String,
        /// What was expected.
        message: String,
        /// The answer.
        body: String,
    },

    /// The fault proxy could not be started.
    #[error("fault proxy: {0}")]
    Proxy(String),
}

impl Error {
    /// The AWS error code of an [`Error::Api`] answer, e.g. `ResourceNotFoundException`.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status of an [`Error::Api`] answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// Environment variables that point an AWS SDK (the provider) at `endpoint` with moto's dummy
/// credentials, region [`REGION`], and no instance-metadata or shared-config lookups.
pub fn aws_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
        ("AWS_REGION", REGION.to_string()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        ("AWS_CONFIG_FILE", "/dev/null".to_string()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".to_string()),
    ]
}

/// The provider's `aws` block for an endpoint (moto, or a proxy in front of it): static test
/// keys, [`REGION`], and every service's endpoint overridden.
pub fn aws_provider_block(endpoint: &str) -> String {
    format!(
        r#"  aws {{
    region     = "{REGION}"
    access_key = "test"
    secret_key = "test"
    endpoints {{
      eks = "{endpoint}"
      ec2 = "{endpoint}"
      ssm = "{endpoint}"
      sts = "{endpoint}"
    }}
  }}"#
    )
}

/// The moto_server binary: `$CVM_MOTO_SERVER`, else the path `scripts/moto path` prints, else
/// the venv in the cache directory. Fails with [`Error::NotInstalled`] naming `scripts/moto
/// install` when it is not there.
pub fn moto_server_path() -> Result<PathBuf, Error> {
    let candidate = match std::env::var_os(MOTO_SERVER_ENV) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => script_path().unwrap_or_else(|| {
            crate::cache_dir()
                .join("moto-venv")
                .join("bin")
                .join("moto_server")
        }),
    };
    if candidate.is_file() {
        Ok(candidate)
    } else {
        Err(Error::NotInstalled {
            reason: format!(
                "moto_server is not installed (missing: {})",
                candidate.display()
            ),
            fix: INSTALL_FIX.to_string(),
        })
    }
}

/// The path `scripts/moto path` prints, if the script runs.
fn script_path() -> Option<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("scripts")
        .join("moto");
    let output = Command::new(script)
        .arg("path")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(PathBuf::from(line))
}

/// A free TCP port on 127.0.0.1 (bound and released; another process could take it meanwhile,
/// which [`Moto::start`] handles by retrying).
fn free_port() -> Result<u16, Error> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io_error("finding a free port"))?;
    let port = listener
        .local_addr()
        .map_err(io_error("finding a free port"))?
        .port();
    Ok(port)
}

/// A VPC with subnets, created in moto for node groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// `vpc-…`.
    pub vpc_id: String,
    /// `subnet-…`, one per availability zone used.
    pub subnet_ids: Vec<String>,
}

/// What most node-group tests need: an ACTIVE EKS cluster, its network and a node role.
#[derive(Debug, Clone)]
pub struct ClusterFixture {
    /// The cluster name.
    pub cluster_name: String,
    /// The cluster as DescribeCluster returns it (`cluster` object).
    pub cluster: Value,
    /// The VPC and subnets the cluster uses.
    pub network: Network,
    /// An IAM role ARN for `nodeRole`.
    pub node_role_arn: String,
}

/// An EC2 launch template as DescribeLaunchTemplates reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchTemplate {
    /// `lt-…`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The default version number.
    pub default_version: u64,
    /// The latest version number.
    pub latest_version: u64,
}

/// One version of a launch template, as DescribeLaunchTemplateVersions reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchTemplateVersion {
    /// The version number.
    pub version: u64,
    /// `launchTemplateData.imageId`, if set.
    pub image_id: Option<String>,
    /// `launchTemplateData.userData` (base64, as stored), if set.
    pub user_data: Option<String>,
}

/// A running moto_server on a free loopback port; killed on drop. Derefs to the [`MotoClient`]
/// for its endpoint, so all API helpers are available on it.
pub struct Moto {
    child: Child,
    /// Holds `moto.log`; removed on drop.
    dir: tempfile::TempDir,
    client: MotoClient,
}

/// The harness's API helpers against one endpoint: moto itself, or a [`FaultProxy`] in front of
/// it (then calls are counted and may be faulted; faults surface as [`Error::Api`]).
#[derive(Debug, Clone)]
pub struct MotoClient {
    endpoint: String,
    agent: ureq::Agent,
}

/// A successful raw answer.
struct Answer {
    body: String,
}

impl Moto {
    /// Starts moto_server on 127.0.0.1 and waits until it answers.
    ///
    /// Fails with [`Error::NotInstalled`] (naming `scripts/moto install`) when it is not installed.
    pub fn start() -> Result<Moto, Error> {
        let binary = moto_server_path()?;
        let dir = tempfile::Builder::new()
            .prefix("cvm-moto-")
            .tempdir()
            .map_err(io_error("creating the moto directory"))?;
        let agent = agent();
        let log_path = dir.path().join("moto.log");
        // Another process may grab the port between probing and binding; retry then.
        let mut last_error = None;
        for _ in 0..3 {
            let port = free_port()?;
            let log = File::create(&log_path)
                .map_err(io_error(format!("creating {}", log_path.display())))?;
            let log_err = log
                .try_clone()
                .map_err(io_error(format!("opening {}", log_path.display())))?;
            let child = Command::new(&binary)
                .arg("-H")
                .arg("127.0.0.1")
                .arg("-p")
                .arg(port.to_string())
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log_err)
                .spawn()
                .map_err(io_error(format!("starting {}", binary.display())))?;
            let endpoint = format!("http://127.0.0.1:{port}");
            let mut child = child;
            match wait_ready(&mut child, &agent, &endpoint, &log_path) {
                Ok(()) => {
                    return Ok(Moto {
                        child,
                        dir,
                        client: MotoClient { endpoint, agent },
                    });
                }
                Err(e) => {
                    // Already exited is fine; there is nothing else to do on failure.
                    let _ = child.kill();
                    let _ = child.wait();
                    let in_use = matches!(&e, Error::Start { log, .. } if log.contains("Address already in use"));
                    last_error = Some(e);
                    if !in_use {
                        break;
                    }
                }
            }
        }
        Err(last_error.unwrap_or_else(|| Error::Start {
            reason: "no attempt was made".to_string(),
            log: String::new(),
        }))
    }

    fn kill(&mut self) {
        // Already exited is fine; there is nothing else to do on failure.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The last 40 lines of moto's log.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log_path())
    }

    /// Path of moto's log (one line per request).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("moto.log")
    }
}

impl std::ops::Deref for Moto {
    type Target = MotoClient;

    fn deref(&self) -> &MotoClient {
        &self.client
    }
}

impl MotoClient {
    /// A client for `endpoint` (e.g. [`FaultProxy::endpoint`]).
    pub fn new(endpoint: &str) -> MotoClient {
        MotoClient {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            agent: agent(),
        }
    }

    /// The URL calls go to, e.g. `http://127.0.0.1:41234`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// [`aws_env`] for this endpoint.
    pub fn aws_env(&self) -> Vec<(&'static str, String)> {
        aws_env(&self.endpoint)
    }

    /// Forgets all state of all services (`POST /moto-api/reset`).
    pub fn reset(&self) -> Result<(), Error> {
        self.send(
            "POST",
            "/moto-api/reset",
            "moto-api",
            &[],
            Vec::new(),
            "reset",
        )?;
        Ok(())
    }

    // --- raw calls, one per wire protocol -----------------------------------------------------

    /// One EKS REST-JSON call, e.g. `eks("GET", "/clusters/demo", None)`; returns the JSON answer.
    pub fn eks(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, Error> {
        let call = format!("eks {method} {path}");
        let headers: &[(&str, &str)] = if body.is_some() {
            &[("Content-Type", "application/json")]
        } else {
            &[]
        };
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let answer = self.send(method, path, "eks", headers, body, &call)?;
        parse_json(&call, answer.body)
    }

    /// One EC2 query call (`Action=…&Version=2016-11-15&…`); returns the XML answer.
    pub fn ec2(&self, action: &str, params: &[(&str, &str)]) -> Result<String, Error> {
        self.query("ec2", action, "2016-11-15", params)
    }

    /// One IAM query call; returns the XML answer.
    pub fn iam(&self, action: &str, params: &[(&str, &str)]) -> Result<String, Error> {
        self.query("iam", action, "2010-05-08", params)
    }

    /// One SSM JSON 1.1 call (`X-Amz-Target: AmazonSSM.<operation>`); returns the JSON answer.
    pub fn ssm(&self, operation: &str, body: Value) -> Result<Value, Error> {
        let call = format!("ssm {operation}");
        let target = format!("AmazonSSM.{operation}");
        let answer = self.send(
            "POST",
            "/",
            "ssm",
            &[
                ("Content-Type", "application/x-amz-json-1.1"),
                ("X-Amz-Target", &target),
            ],
            body.to_string().into_bytes(),
            &call,
        )?;
        parse_json(&call, answer.body)
    }

    fn query(
        &self,
        service: &str,
        action: &str,
        version: &str,
        params: &[(&str, &str)],
    ) -> Result<String, Error> {
        let call = format!("{service} {action}");
        let mut form = format!(
            "Action={}&Version={}",
            form_encode(action),
            form_encode(version)
        );
        for (key, value) in params {
            form.push('&');
            form.push_str(&form_encode(key));
            form.push('=');
            form.push_str(&form_encode(value));
        }
        let answer = self.send(
            "POST",
            "/",
            service,
            &[(
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )],
            form.into_bytes(),
            &call,
        )?;
        Ok(answer.body)
    }

    /// One HTTP call to moto; any status but 2xx is an [`Error::Api`].
    fn send(
        &self,
        method: &str,
        path: &str,
        service: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        call: &str,
    ) -> Result<Answer, Error> {
        let transport = |message: String| Error::Transport {
            call: call.to_string(),
            message,
        };
        let mut builder = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.endpoint))
            .header("Authorization", fake_authorization(service));
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let result = if body.is_empty() {
            builder
                .body(())
                .map_err(|e| transport(e.to_string()))
                .and_then(|r| self.agent.run(r).map_err(|e| transport(e.to_string())))
        } else {
            builder
                .body(body)
                .map_err(|e| transport(e.to_string()))
                .and_then(|r| self.agent.run(r).map_err(|e| transport(e.to_string())))
        };
        let mut response = result?;
        let status = response.status().as_u16();
        let header_code = response
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            // The header may carry `Code:http://…` after the code.
            .map(|v| v.split(':').next().unwrap_or(v).to_string());
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| transport(format!("reading the answer: {e}")))?;
        if !(200..300).contains(&status) {
            let code = header_code.or_else(|| body_error_code(&text));
            return Err(Error::Api {
                call: call.to_string(),
                status,
                code,
                body: text,
            });
        }
        Ok(Answer { body: text })
    }

    // --- EKS ------------------------------------------------------------------------------------

    /// CreateCluster with a role ARN in the moto account and the given subnets; returns the
    /// `cluster` object (moto makes it ACTIVE at once).
    pub fn create_cluster(
        &self,
        name: &str,
        version: &str,
        role_arn: &str,
        subnet_ids: &[String],
    ) -> Result<Value, Error> {
        let answer = self.eks(
            "POST",
            "/clusters",
            Some(json!({
                "name": name,
                "version": version,
                "roleArn": role_arn,
                "resourcesVpcConfig": { "subnetIds": subnet_ids },
            })),
        )?;
        field(answer, "cluster", "eks CreateCluster")
    }

    /// DescribeCluster; returns the `cluster` object.
    pub fn describe_cluster(&self, name: &str) -> Result<Value, Error> {
        let answer = self.eks("GET", &format!("/clusters/{}", path_encode(name)), None)?;
        field(answer, "cluster", "eks DescribeCluster")
    }

    /// A VPC (10.0.0.0/16), two subnets, a node role and an ACTIVE cluster using them.
    pub fn create_cluster_fixture(
        &self,
        cluster_name: &str,
        version: &str,
    ) -> Result<ClusterFixture, Error> {
        let network = self.create_network("10.0.0.0/16", 2)?;
        let cluster_role = self.create_role(&format!("{cluster_name}-cluster"))?;
        let node_role_arn = self.create_role(&format!("{cluster_name}-node"))?;
        let cluster =
            self.create_cluster(cluster_name, version, &cluster_role, &network.subnet_ids)?;
        Ok(ClusterFixture {
            cluster_name: cluster_name.to_string(),
            cluster,
            network,
            node_role_arn,
        })
    }

    /// CreateNodegroup with a raw request body (`nodegroupName`, `subnets`, `nodeRole`, …);
    /// returns the `nodegroup` object.
    pub fn create_nodegroup(&self, cluster: &str, body: Value) -> Result<Value, Error> {
        let answer = self.eks(
            "POST",
            &format!("/clusters/{}/node-groups", path_encode(cluster)),
            Some(body),
        )?;
        field(answer, "nodegroup", "eks CreateNodegroup")
    }

    /// DescribeNodegroup; `None` when moto answers ResourceNotFoundException.
    pub fn describe_nodegroup(&self, cluster: &str, name: &str) -> Result<Option<Value>, Error> {
        match self.eks("GET", &nodegroup_path(cluster, name), None) {
            Ok(answer) => field(answer, "nodegroup", "eks DescribeNodegroup").map(Some),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// ListNodegroups, every page: the names.
    pub fn list_nodegroups(&self, cluster: &str) -> Result<Vec<String>, Error> {
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut path = format!(
                "/clusters/{}/node-groups?maxResults=100",
                path_encode(cluster)
            );
            if let Some(token) = &token {
                path.push_str(&format!("&nextToken={}", form_encode(token)));
            }
            let answer = self.eks("GET", &path, None)?;
            names.extend(string_list(&answer["nodegroups"]));
            match answer["nextToken"].as_str() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => return Ok(names),
            }
        }
    }

    /// UpdateNodegroupConfig with a raw body (`scalingConfig`, `labels`, `taints`, …); returns
    /// the `update` object. Useful to make drift out of band.
    pub fn update_nodegroup_config(
        &self,
        cluster: &str,
        name: &str,
        body: Value,
    ) -> Result<Value, Error> {
        let answer = self.eks(
            "POST",
            &format!("{}/update-config", nodegroup_path(cluster, name)),
            Some(body),
        )?;
        field(answer, "update", "eks UpdateNodegroupConfig")
    }

    /// DeleteNodegroup (moto removes it at once); returns the `nodegroup` object.
    pub fn delete_nodegroup(&self, cluster: &str, name: &str) -> Result<Value, Error> {
        let answer = self.eks("DELETE", &nodegroup_path(cluster, name), None)?;
        field(answer, "nodegroup", "eks DeleteNodegroup")
    }

    // --- EC2 ------------------------------------------------------------------------------------

    /// A VPC with `cidr` (a /16) and `subnet_count` /24 subnets in `us-east-1a`, `-1b`, ….
    pub fn create_network(&self, cidr: &str, subnet_count: usize) -> Result<Network, Error> {
        let xml = self.ec2("CreateVpc", &[("CidrBlock", cidr)])?;
        let vpc_id = xml_first(&xml, "vpcId").ok_or_else(|| Error::Response {
            call: "ec2 CreateVpc".to_string(),
            message: "no <vpcId>".to_string(),
            body: xml.clone(),
        })?;
        let prefix: Vec<&str> = cidr.split('.').take(2).collect();
        if prefix.len() != 2 {
            return Err(Error::Response {
                call: "create_network".to_string(),
                message: "the CIDR must look like a.b.0.0/16".to_string(),
                body: cidr.to_string(),
            });
        }
        let mut subnet_ids = Vec::new();
        for i in 0..subnet_count {
            let subnet_cidr = format!("{}.{}.{i}.0/24", prefix[0], prefix[1]);
            let zone = format!("{REGION}{}", char::from(b'a' + (i % 6) as u8));
            let xml = self.ec2(
                "CreateSubnet",
                &[
                    ("VpcId", &vpc_id),
                    ("CidrBlock", &subnet_cidr),
                    ("AvailabilityZone", &zone),
                ],
            )?;
            subnet_ids.push(xml_first(&xml, "subnetId").ok_or_else(|| Error::Response {
                call: "ec2 CreateSubnet".to_string(),
                message: "no <subnetId>".to_string(),
                body: xml.clone(),
            })?);
        }
        Ok(Network { vpc_id, subnet_ids })
    }

    /// CreateLaunchTemplate with an image and optional base64 user data; returns it.
    pub fn create_launch_template(
        &self,
        name: &str,
        image_id: &str,
        user_data_base64: Option<&str>,
    ) -> Result<LaunchTemplate, Error> {
        let mut params = vec![
            ("LaunchTemplateName", name),
            ("LaunchTemplateData.ImageId", image_id),
        ];
        if let Some(user_data) = user_data_base64 {
            params.push(("LaunchTemplateData.UserData", user_data));
        }
        let xml = self.ec2("CreateLaunchTemplate", &params)?;
        parse_launch_templates("ec2 CreateLaunchTemplate", &xml)?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Response {
                call: "ec2 CreateLaunchTemplate".to_string(),
                message: "no launch template in the answer".to_string(),
                body: xml,
            })
    }

    /// DescribeLaunchTemplates: all launch templates (up to 10,000).
    pub fn launch_templates(&self) -> Result<Vec<LaunchTemplate>, Error> {
        // moto returns no NextToken and cuts the answer at MaxResults (15 if not given).
        let xml = self.ec2("DescribeLaunchTemplates", &[("MaxResults", "10000")])?;
        parse_launch_templates("ec2 DescribeLaunchTemplates", &xml)
    }

    /// DescribeLaunchTemplateVersions of one template: every version.
    pub fn launch_template_versions(&self, id: &str) -> Result<Vec<LaunchTemplateVersion>, Error> {
        let xml = self.ec2(
            "DescribeLaunchTemplateVersions",
            &[("LaunchTemplateId", id)],
        )?;
        // Each version is an <item> that starts with <launchTemplateId>; nested items (tags,
        // block devices) never contain that element, so splitting on it separates versions.
        let mut versions = Vec::new();
        for segment in xml.split("<launchTemplateId>").skip(1) {
            let version = xml_first(segment, "versionNumber")
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| Error::Response {
                    call: "ec2 DescribeLaunchTemplateVersions".to_string(),
                    message: "an item without a numeric <versionNumber>".to_string(),
                    body: xml.clone(),
                })?;
            versions.push(LaunchTemplateVersion {
                version,
                image_id: xml_first(segment, "imageId"),
                user_data: xml_first(segment, "userData"),
            });
        }
        Ok(versions)
    }

    // --- IAM / SSM ------------------------------------------------------------------------------

    /// CreateRole with an EC2/EKS trust policy; returns its ARN.
    pub fn create_role(&self, name: &str) -> Result<String, Error> {
        let trust = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": { "Service": ["ec2.amazonaws.com", "eks.amazonaws.com"] },
                "Action": "sts:AssumeRole",
            }],
        })
        .to_string();
        let xml = self.iam(
            "CreateRole",
            &[("RoleName", name), ("AssumeRolePolicyDocument", &trust)],
        )?;
        xml_first(&xml, "Arn").ok_or_else(|| Error::Response {
            call: "iam CreateRole".to_string(),
            message: "no <Arn>".to_string(),
            body: xml,
        })
    }

    /// PutParameter (type String, overwriting). `data_type` is e.g. `aws:ec2:image` for AMI ids.
    /// moto refuses names under `/aws` (AccessDeniedException), so tests use their own prefix.
    pub fn put_parameter(
        &self,
        name: &str,
        value: &str,
        data_type: Option<&str>,
    ) -> Result<(), Error> {
        let mut body = json!({ "Name": name, "Value": value, "Type": "String", "Overwrite": true });
        if let Some(data_type) = data_type {
            body["DataType"] = Value::from(data_type);
        }
        self.ssm("PutParameter", body)?;
        Ok(())
    }

    /// GetParameter; `None` when moto answers ParameterNotFound.
    pub fn get_parameter(&self, name: &str) -> Result<Option<String>, Error> {
        match self.ssm("GetParameter", json!({ "Name": name })) {
            Ok(answer) => Ok(answer["Parameter"]["Value"].as_str().map(str::to_string)),
            Err(e) if e.code() == Some("ParameterNotFound") => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Waits until moto_server answers on `endpoint`, or fails if it exits or takes too long.
fn wait_ready(
    child: &mut Child,
    agent: &ureq::Agent,
    endpoint: &str,
    log_path: &Path,
) -> Result<(), Error> {
    let deadline = Instant::now() + START_TIMEOUT;
    let url = format!("{endpoint}/moto-api/data.json");
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Error::Start {
                reason: format!("moto_server exited ({status})"),
                log: log_tail(log_path),
            });
        }
        if agent.get(&url).call().is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::Start {
                reason: format!("no answer on {endpoint} within {START_TIMEOUT:?}"),
                log: log_tail(log_path),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The last 40 lines of a log file (empty if unreadable).
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.kill();
    }
}

impl std::fmt::Debug for Moto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Moto")
            .field("endpoint", &self.client.endpoint)
            .field("pid", &self.child.id())
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

/// A ureq agent that returns non-2xx answers as responses, with a per-call timeout.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(CALL_TIMEOUT))
        .build()
        .new_agent()
}

/// A SigV4-shaped Authorization header naming `service`; moto routes on the credential scope and
/// does not check the signature.
fn fake_authorization(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/{service}/aws4_request, SignedHeaders=host, Signature=0"
    )
}

fn nodegroup_path(cluster: &str, name: &str) -> String {
    format!(
        "/clusters/{}/node-groups/{}",
        path_encode(cluster),
        path_encode(name)
    )
}

fn parse_json(call: &str, body: String) -> Result<Value, Error> {
    if body.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&body).map_err(|e| Error::Response {
        call: call.to_string(),
        message: format!("not JSON: {e}"),
        body,
    })
}

/// Takes `key` out of a JSON object answer.
fn field(mut answer: Value, key: &str, call: &str) -> Result<Value, Error> {
    match answer.get_mut(key).map(Value::take) {
        Some(value) if !value.is_null() => Ok(value),
        _ => Err(Error::Response {
            call: call.to_string(),
            message: format!("no `{key}`"),
            body: answer.to_string(),
        }),
    }
}

fn string_list(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The AWS error code in a JSON (`__type`, `code`) or XML (`<Code>`) error body.
fn body_error_code(body: &str) -> Option<String> {
    if let Ok(json) = serde_json::from_str::<Value>(body) {
        let code = json
            .get("__type")
            .or_else(|| json.get("code"))
            .and_then(Value::as_str)?;
        // awsJson may prefix the code with a namespace: `com.amazon…#Code`.
        return Some(code.rsplit('#').next().unwrap_or(code).to_string());
    }
    xml_first(body, "Code")
}

fn parse_launch_templates(call: &str, xml: &str) -> Result<Vec<LaunchTemplate>, Error> {
    let ids = xml_values(xml, "launchTemplateId");
    let names = xml_values(xml, "launchTemplateName");
    let defaults = xml_values(xml, "defaultVersionNumber");
    let latests = xml_values(xml, "latestVersionNumber");
    let bad = |message: &str| Error::Response {
        call: call.to_string(),
        message: message.to_string(),
        body: xml.to_string(),
    };
    if names.len() != ids.len() || defaults.len() != ids.len() || latests.len() != ids.len() {
        return Err(bad("launch template fields do not line up"));
    }
    ids.into_iter()
        .zip(names)
        .zip(defaults.into_iter().zip(latests))
        .map(|((id, name), (default, latest))| {
            Ok(LaunchTemplate {
                id,
                name,
                default_version: default
                    .parse()
                    .map_err(|_| bad("a non-numeric defaultVersionNumber"))?,
                latest_version: latest
                    .parse()
                    .map_err(|_| bad("a non-numeric latestVersionNumber"))?,
            })
        })
        .collect()
}

/// The text of every `<tag>text</tag>` element (leaf elements only), unescaped.
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut values = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        let text = &after[..end];
        if !text.contains('<') {
            values.push(xml_unescape(text));
        }
        rest = &after[end + close.len()..];
    }
    values
}

fn xml_first(xml: &str, tag: &str) -> Option<String> {
    xml_values(xml, tag).into_iter().next()
}

fn xml_unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Percent-encodes everything but RFC 3986 unreserved characters (form values and path segments).
fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn path_encode(segment: &str) -> String {
    form_encode(segment)
}

// =================================================================================================
// Fault-injecting proxy
// =================================================================================================

/// How [`FaultProxy`] treats requests. Decisions come from a PRNG seeded with `seed`, one draw
/// per request in arrival order, so a sequential client sees the same faults every run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultConfig {
    /// Share of requests (0.0-1.0) answered with a throttling error.
    pub throttle_share: f64,
    /// Share of requests (0.0-1.0) answered with HTTP 500 (InternalFailure/InternalError).
    pub server_error_share: f64,
    /// PRNG seed.
    pub seed: u64,
    /// After this many faults in a row for one operation the next request for it is always
    /// forwarded, so a client with this many retries always gets through (the AWS SDK's
    /// default of 3 attempts tolerates 2). `u32::MAX` disables the cap.
    pub max_consecutive_faults: u32,
    /// The services whose requests may be faulted (`eks`, `ec2`, … as in the counted
    /// operation names); empty: every service. Requests of other services still take their
    /// draw, so the sequence depends only on the seed and the arrival order.
    pub services: &'static [&'static str],
}

impl FaultConfig {
    /// Forward everything (count only).
    pub fn none() -> FaultConfig {
        FaultConfig {
            throttle_share: 0.0,
            server_error_share: 0.0,
            seed: 0,
            max_consecutive_faults: 2,
            services: &[],
        }
    }

    /// Throttle `throttle_share` and fail `server_error_share` of the requests, with at most two
    /// faults in a row per operation.
    pub fn new(throttle_share: f64, server_error_share: f64, seed: u64) -> FaultConfig {
        FaultConfig {
            throttle_share,
            server_error_share,
            seed,
            max_consecutive_faults: 2,
            services: &[],
        }
    }
}

/// What the proxy did with the requests for one operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActionStats {
    /// Requests received (forwarded + faulted): what the client sent.
    pub requests: u64,
    /// Requests answered with a throttling error.
    pub throttled: u64,
    /// Requests answered with HTTP 500.
    pub server_errors: u64,
}

impl ActionStats {
    /// Requests forwarded to moto.
    pub fn forwarded(&self) -> u64 {
        self.requests - self.throttled - self.server_errors
    }
}

/// The wire protocol of a request, which decides the error shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// EKS and other REST services: JSON body, code in `X-Amzn-ErrorType`.
    RestJson,
    /// SSM and other `X-Amz-Target` services.
    AwsJson,
    /// EC2's own query dialect: `<Response><Errors><Error>`.
    Ec2Query,
    /// IAM, STS: `<ErrorResponse><Error>`.
    AwsQuery,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Throttle,
    ServerError,
}

struct ProxyState {
    config: FaultConfig,
    rng: fastrand::Rng,
    consecutive: HashMap<String, u32>,
    stats: BTreeMap<String, ActionStats>,
    requests: u64,
}

impl ProxyState {
    fn new(config: FaultConfig) -> ProxyState {
        ProxyState {
            config,
            rng: fastrand::Rng::with_seed(config.seed),
            consecutive: HashMap::new(),
            stats: BTreeMap::new(),
            requests: 0,
        }
    }

    /// Counts the request and decides whether to fault it.
    fn decide(&mut self, action: &str) -> Option<Fault> {
        self.requests += 1;
        let draw = self.rng.f64();
        let streak = self.consecutive.entry(action.to_string()).or_insert(0);
        let service = action.split(':').next().unwrap_or_default();
        let eligible = self.config.services.is_empty() || self.config.services.contains(&service);
        let wanted = if !eligible {
            None
        } else if draw < self.config.throttle_share {
            Some(Fault::Throttle)
        } else if draw < self.config.throttle_share + self.config.server_error_share {
            Some(Fault::ServerError)
        } else {
            None
        };
        let fault = wanted.filter(|_| *streak < self.config.max_consecutive_faults);
        *streak = if fault.is_some() { *streak + 1 } else { 0 };
        let stats = self.stats.entry(action.to_string()).or_default();
        stats.requests += 1;
        match fault {
            Some(Fault::Throttle) => stats.throttled += 1,
            Some(Fault::ServerError) => stats.server_errors += 1,
            None => {}
        }
        fault
    }
}

struct ProxyShared {
    upstream: String,
    agent: ureq::Agent,
    state: Mutex<ProxyState>,
}

impl ProxyShared {
    fn state(&self) -> std::sync::MutexGuard<'_, ProxyState> {
        // Poisoning only means a panic elsewhere while counting; the counters stay usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A reverse proxy on loopback in front of moto that answers a share of requests with throttling
/// or server errors in the shape of each service's protocol, forwards the rest, and counts
/// requests per AWS operation (`eks:CreateNodegroup`, `ec2:DescribeLaunchTemplates`,
/// `ssm:GetParameter`, …). `/moto-api/…` requests are forwarded untouched and not counted.
/// Stopped on drop.
pub struct FaultProxy {
    endpoint: String,
    shared: Arc<ProxyShared>,
    /// Serves the proxy; stops it when dropped.
    _server: crate::loopback::LoopbackServer,
}

impl FaultProxy {
    /// Starts the proxy on a free loopback port, forwarding to `upstream` (e.g. [`Moto::endpoint`]).
    pub fn start(upstream: &str, config: FaultConfig) -> Result<FaultProxy, Error> {
        let shared = Arc::new(ProxyShared {
            upstream: upstream.trim_end_matches('/').to_string(),
            agent: agent(),
            state: Mutex::new(ProxyState::new(config)),
        });
        let router = axum::Router::new()
            .fallback(proxy_request)
            .with_state(shared.clone());
        let server =
            crate::loopback::LoopbackServer::start("fault-proxy", router).map_err(Error::Proxy)?;
        Ok(FaultProxy {
            endpoint: server.url.clone(),
            shared,
            _server: server,
        })
    }

    /// The proxy URL, e.g. `http://127.0.0.1:41235`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// [`aws_env`] for the proxy.
    pub fn aws_env(&self) -> Vec<(&'static str, String)> {
        aws_env(&self.endpoint)
    }

    /// Replaces the fault configuration and restarts the PRNG from its seed (counts are kept).
    pub fn set_config(&self, config: FaultConfig) {
        let mut state = self.shared.state();
        state.config = config;
        state.rng = fastrand::Rng::with_seed(config.seed);
        state.consecutive.clear();
    }

    /// Requests received per operation (`service:Operation`), faulted ones included.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.shared
            .state()
            .stats
            .iter()
            .map(|(action, stats)| (action.clone(), stats.requests))
            .collect()
    }

    /// Per-operation detail: received, throttled, failed.
    pub fn stats(&self) -> BTreeMap<String, ActionStats> {
        self.shared.state().stats.clone()
    }

    /// All requests received (except `/moto-api`).
    pub fn total_requests(&self) -> u64 {
        self.shared.state().requests
    }

    /// Zeroes the counters (the PRNG continues).
    pub fn reset_counts(&self) {
        let mut state = self.shared.state();
        state.stats.clear();
        state.requests = 0;
    }

    /// A table of the counts, one operation per line, for test output.
    pub fn report(&self) -> String {
        let stats = self.stats();
        let mut out = format!(
            "{:<44} {:>8} {:>9} {:>6}\n",
            "operation", "requests", "throttled", "5xx"
        );
        let mut total = ActionStats::default();
        for (action, s) in &stats {
            out.push_str(&format!(
                "{action:<44} {:>8} {:>9} {:>6}\n",
                s.requests, s.throttled, s.server_errors
            ));
            total.requests += s.requests;
            total.throttled += s.throttled;
            total.server_errors += s.server_errors;
        }
        out.push_str(&format!(
            "{:<44} {:>8} {:>9} {:>6}\n",
            "total", total.requests, total.throttled, total.server_errors
        ));
        out
    }
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("endpoint", &self.endpoint)
            .field("upstream", &self.shared.upstream)
            .finish_non_exhaustive()
    }
}

/// Which AWS operation a request is, and in which protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Operation {
    /// `service:Operation`.
    action: String,
    protocol: Protocol,
    /// The XML namespace of query-protocol errors.
    service: String,
}

/// Classifies a request by its SigV4 credential scope (service), `X-Amz-Target`, `Action=` or
/// EKS REST method and path. `None` for `/moto-api`.
fn classify(
    method: &str,
    path_and_query: &str,
    headers: &axum::http::HeaderMap,
    body: &[u8],
) -> Option<Operation> {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, q),
        None => (path_and_query, ""),
    };
    if path.starts_with("/moto-api") {
        return None;
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let scope_service = header("authorization").and_then(|auth| {
        let credential = auth.split("Credential=").nth(1)?;
        let credential = credential.split([',', ' ']).next()?;
        // AKID/date/region/service/aws4_request
        credential.split('/').nth(3).map(str::to_string)
    });
    if let Some(target) = header("x-amz-target") {
        let (prefix, operation) = target.rsplit_once('.').unwrap_or(("", target));
        let service = scope_service.unwrap_or_else(|| match prefix {
            "AmazonSSM" => "ssm".to_string(),
            other => other.to_lowercase(),
        });
        return Some(Operation {
            action: format!("{service}:{operation}"),
            protocol: Protocol::AwsJson,
            service,
        });
    }
    let form_action = |text: &str| {
        text.split('&')
            .find_map(|pair| pair.strip_prefix("Action="))
            .map(str::to_string)
    };
    let is_form = header("content-type")
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let action = form_action(query).or_else(|| {
        if is_form {
            form_action(&String::from_utf8_lossy(body))
        } else {
            None
        }
    });
    if let Some(action) = action {
        let service = scope_service.unwrap_or_else(|| "ec2".to_string());
        let protocol = if service == "ec2" {
            Protocol::Ec2Query
        } else {
            Protocol::AwsQuery
        };
        return Some(Operation {
            action: format!("{service}:{action}"),
            protocol,
            service,
        });
    }
    let service = scope_service.unwrap_or_else(|| "eks".to_string());
    let operation = if service == "eks" {
        eks_operation(method, path)
    } else {
        format!("{method} {path}")
    };
    Some(Operation {
        action: format!("{service}:{operation}"),
        protocol: Protocol::RestJson,
        service,
    })
}

/// The EKS operation for a REST method and path (`METHOD /path` when unknown).
fn eks_operation(method: &str, path: &str) -> String {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let name = match (method, segments.as_slice()) {
        ("POST", ["clusters"]) => "CreateCluster",
        ("GET", ["clusters"]) => "ListClusters",
        ("GET", ["clusters", _]) => "DescribeCluster",
        ("DELETE", ["clusters", _]) => "DeleteCluster",
        ("POST", ["clusters", _, "update-config"]) => "UpdateClusterConfig",
        ("POST", ["clusters", _, "updates"]) => "UpdateClusterVersion",
        ("GET", ["clusters", _, "updates"]) => "ListUpdates",
        ("GET", ["clusters", _, "updates", _]) => "DescribeUpdate",
        ("POST", ["clusters", _, "node-groups"]) => "CreateNodegroup",
        ("GET", ["clusters", _, "node-groups"]) => "ListNodegroups",
        ("GET", ["clusters", _, "node-groups", _]) => "DescribeNodegroup",
        ("DELETE", ["clusters", _, "node-groups", _]) => "DeleteNodegroup",
        ("POST", ["clusters", _, "node-groups", _, "update-config"]) => "UpdateNodegroupConfig",
        ("POST", ["clusters", _, "node-groups", _, "update-version"]) => "UpdateNodegroupVersion",
        ("POST", ["clusters", _, "fargate-profiles"]) => "CreateFargateProfile",
        ("GET", ["clusters", _, "fargate-profiles"]) => "ListFargateProfiles",
        ("GET", ["clusters", _, "fargate-profiles", _]) => "DescribeFargateProfile",
        ("DELETE", ["clusters", _, "fargate-profiles", _]) => "DeleteFargateProfile",
        ("POST", ["clusters", _, "addons"]) => "CreateAddon",
        ("GET", ["clusters", _, "addons"]) => "ListAddons",
        ("GET", ["clusters", _, "addons", _]) => "DescribeAddon",
        ("DELETE", ["clusters", _, "addons", _]) => "DeleteAddon",
        ("GET", ["addons", "supported-versions"]) => "DescribeAddonVersions",
        ("GET", ["tags", ..]) => "ListTagsForResource",
        ("POST", ["tags", ..]) => "TagResource",
        ("DELETE", ["tags", ..]) => "UntagResource",
        _ => return format!("{method} {path}"),
    };
    name.to_string()
}

/// The error answer for `fault` in `operation`'s protocol.
fn fault_response(
    operation: &Operation,
    fault: Fault,
    request_number: u64,
) -> axum::response::Response {
    use axum::http::{HeaderValue, StatusCode};
    use axum::response::IntoResponse;

    let request_id = format!("00000000-0000-4000-8000-{request_number:012}");
    let (status, code, message) = match (operation.protocol, fault) {
        // EC2 throttles with RequestLimitExceeded and HTTP 503.
        (Protocol::Ec2Query, Fault::Throttle) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "RequestLimitExceeded",
            "Request limit exceeded.",
        ),
        (Protocol::Ec2Query, Fault::ServerError) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "An internal error has occurred (injected by the test proxy).",
        ),
        (Protocol::AwsQuery, Fault::Throttle) => {
            (StatusCode::BAD_REQUEST, "Throttling", "Rate exceeded")
        }
        (_, Fault::Throttle) => (
            StatusCode::BAD_REQUEST,
            "ThrottlingException",
            "Rate exceeded",
        ),
        (_, Fault::ServerError) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            "The request processing has failed because of an unknown error (injected by the test proxy).",
        ),
    };
    let (content_type, body) = match operation.protocol {
        Protocol::RestJson => (
            "application/json",
            json!({ "message": message }).to_string(),
        ),
        Protocol::AwsJson => (
            "application/x-amz-json-1.1",
            json!({ "__type": code, "message": message }).to_string(),
        ),
        Protocol::Ec2Query => (
            "text/xml;charset=UTF-8",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>",
                xml_escape(message)
            ),
        ),
        Protocol::AwsQuery => (
            "text/xml",
            format!(
                "<ErrorResponse xmlns=\"https://{}.amazonaws.com/doc/\"><Error><Type>{}</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
                operation.service,
                if fault == Fault::Throttle {
                    "Sender"
                } else {
                    "Receiver"
                },
                xml_escape(message)
            ),
        ),
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static(content_type));
    headers.insert("x-amzn-errortype", HeaderValue::from_static(code));
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

/// The proxy's only handler.
async fn proxy_request(
    axum::extract::State(shared): axum::extract::State<Arc<ProxyShared>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_PROXY_BODY).await {
        Ok(b) => b,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("fault proxy: reading the body: {e}"),
            )
                .into_response();
        }
    };
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    let method = parts.method.as_str().to_string();
    if let Some(operation) = classify(&method, &path_and_query, &parts.headers, &body) {
        let (fault, number) = {
            let mut state = shared.state();
            let fault = state.decide(&operation.action);
            (fault, state.requests)
        };
        if let Some(fault) = fault {
            return fault_response(&operation, fault, number);
        }
    }
    let headers: Vec<(String, Vec<u8>)> = parts
        .headers
        .iter()
        .filter(|(name, _)| !is_hop_header(name.as_str()))
        .map(|(name, value)| (name.as_str().to_string(), value.as_bytes().to_vec()))
        .collect();
    let forwarded = tokio::task::spawn_blocking(move || {
        forward(&shared, &method, &path_and_query, headers, body.to_vec())
    })
    .await;
    match forwarded {
        Ok(Ok(response)) => response,
        Ok(Err(message)) => {
            (StatusCode::BAD_GATEWAY, format!("fault proxy: {message}")).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, format!("fault proxy: {e}")).into_response(),
    }
}

/// Headers that belong to one connection, not to the request; the client library sets its own.
fn is_hop_header(name: &str) -> bool {
    matches!(
        name,
        "host"
            | "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "content-length"
    )
}

/// Sends the request on to moto (blocking) and converts the answer.
fn forward(
    shared: &ProxyShared,
    method: &str,
    path_and_query: &str,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
) -> Result<axum::response::Response, String> {
    let mut builder = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{}{path_and_query}", shared.upstream));
    for (name, value) in &headers {
        builder = builder.header(name.as_str(), value.as_slice());
    }
    let result = if body.is_empty() {
        builder
            .body(())
            .map_err(|e| e.to_string())
            .and_then(|r| shared.agent.run(r).map_err(|e| e.to_string()))
    } else {
        builder
            .body(body)
            .map_err(|e| e.to_string())
            .and_then(|r| shared.agent.run(r).map_err(|e| e.to_string()))
    }?;
    let status = result.status().as_u16();
    let response_headers: Vec<(String, Vec<u8>)> = result
        .headers()
        .iter()
        .filter(|(name, _)| !is_hop_header(name.as_str()))
        .map(|(name, value)| (name.as_str().to_string(), value.as_bytes().to_vec()))
        .collect();
    let mut result = result;
    let bytes = result
        .body_mut()
        .with_config()
        .limit(MAX_PROXY_BODY as u64)
        .read_to_vec()
        .map_err(|e| format!("reading moto's answer: {e}"))?;
    let mut response = axum::response::Response::builder().status(status);
    for (name, value) in response_headers {
        response = response.header(name, value);
    }
    response
        .body(axum::body::Body::from(bytes))
        .map_err(|e| format!("building the answer: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eks_operations_from_rest_paths() {
        assert_eq!(
            eks_operation("POST", "/clusters/c/node-groups"),
            "CreateNodegroup"
        );
        assert_eq!(
            eks_operation("GET", "/clusters/c/node-groups/n"),
            "DescribeNodegroup"
        );
        assert_eq!(
            eks_operation("POST", "/clusters/c/node-groups/n/update-version"),
            "UpdateNodegroupVersion"
        );
        assert_eq!(
            eks_operation("GET", "/clusters/c/updates/u"),
            "DescribeUpdate"
        );
        assert_eq!(eks_operation("PUT", "/odd"), "PUT /odd");
    }

    #[test]
    fn the_fault_sequence_depends_only_on_the_seed() {
        let run = |seed| {
            let mut state = ProxyState::new(FaultConfig::new(0.3, 0.2, seed));
            (0..200).map(|_| state.decide("eks:X")).collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }

    #[test]
    fn faults_in_a_row_are_capped_per_operation() {
        let mut state = ProxyState::new(FaultConfig::new(1.0, 0.0, 1));
        let faults: Vec<bool> = (0..6)
            .map(|_| state.decide("ssm:GetParameter").is_some())
            .collect();
        assert_eq!(faults, [true, true, false, true, true, false]);
    }

    #[test]
    fn only_the_listed_services_are_faulted() {
        let mut state = ProxyState::new(FaultConfig {
            services: &["eks", "ec2"],
            max_consecutive_faults: u32::MAX,
            ..FaultConfig::new(1.0, 0.0, 3)
        });
        assert!(state.decide("ssm:GetParameter").is_none());
        assert!(state.decide("eks:CreateNodegroup").is_some());
        assert!(state.decide("ec2:CreateLaunchTemplate").is_some());
        assert_eq!(state.stats["ssm:GetParameter"].throttled, 0);
    }

    #[test]
    fn xml_leaf_values_are_unescaped() {
        let xml = "<a><b>x &amp; y</b><b><c>1</c></b><c>2</c></a>";
        assert_eq!(xml_values(xml, "b"), ["x & y"]);
        assert_eq!(xml_values(xml, "c"), ["1", "2"]);
    }

    #[test]
    fn form_encoding_keeps_unreserved_characters() {
        assert_eq!(form_encode("a-b_c.d~e f/{}"), "a-b_c.d~e%20f%2F%7B%7D");
    }
}
