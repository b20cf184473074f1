//! `cvm_image_pull_secret` checks its credentials against the registry before it writes the
//! Secret: against a real registry (the CNCF Distribution project's, built by
//! `scripts/registry build`) on loopback with htpasswd authentication and TLS from a test CA,
//! and a real kube-apiserver, on every available Terraform. What is asserted is what the
//! registry logged of the provider's requests and the Secret the API server stores (or not).

use acceptance_tests::kube::{self, KubeCluster};
use acceptance_tests::registry::Registry;
use acceptance_tests::{self as acc, Action, Terraform};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;

fn namespace_for(cluster: &KubeCluster, tf: &Terraform, test: &str) -> Result<String, acc::Error> {
    let name = format!("{test}-{}", tf.tag().replace('.', "-"));
    cluster.create_namespace(&name, &[])?;
    Ok(name)
}

/// The configuration: the registry's CA as a heredoc when `with_ca`, then `extra` lines.
fn config(
    cluster: &KubeCluster,
    registry: &Registry,
    namespace: &str,
    password: &str,
    with_ca: bool,
    extra: &str,
) -> String {
    let ca = if with_ca {
        format!("ca_certificate = <<-EOT\n{}\n  EOT", registry.ca_pem.trim())
    } else {
        String::new()
    };
    format!(
        r#"{provider}
resource "cvm_image_pull_secret" "team" {{
  namespace = "{namespace}"
  name      = "team-registry"
  registry  = "{address}"
  username  = "{username}"
  password  = "{password}"
  {ca}
  {extra}
}}
"#,
        provider = acc::provider_config(&cluster.provider_block()),
        address = registry.address,
        username = registry.username,
    )
}

/// The password the stored Secret holds, or `None` when there is no Secret.
fn stored_password(
    cluster: &KubeCluster,
    registry: &Registry,
    namespace: &str,
) -> Result<Option<String>, acc::Error> {
    let secret = match cluster.get(&format!(
        "/api/v1/namespaces/{namespace}/secrets/team-registry"
    )) {
        Ok(secret) => secret,
        Err(kube::Error::Api { status: 404, .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let encoded = secret["data"][".dockerconfigjson"]
        .as_str()
        .ok_or_else(|| acc::Error::Assertion(format!("no .dockerconfigjson in {secret}")))?;
    let decoded = BASE64
        .decode(encoded)
        .map_err(|e| acc::Error::Assertion(e.to_string()))?;
    let content: Value =
        serde_json::from_slice(&decoded).map_err(|e| acc::Error::Assertion(e.to_string()))?;
    Ok(content["auths"][&registry.address]["password"]
        .as_str()
        .map(str::to_owned))
}

/// The registry's log lines about the provider's `/v2/` requests that appeared since `before`
/// of them were seen.
fn new_requests(registry: &Registry, before: usize) -> Result<Vec<String>, acc::Error> {
    Ok(registry.provider_requests("/v2/")?.split_off(before))
}

fn count_requests(registry: &Registry) -> Result<usize, acc::Error> {
    Ok(registry.provider_requests("/v2/")?.len())
}

#[test]
fn credentials_are_checked_against_a_real_registry() {
    let cluster = KubeCluster::start().expect("a kube-apiserver (scripts/kube-peers build)");
    let registry = Registry::shared().expect("a registry (scripts/registry build)");
    acc::run(|tf| -> Result<(), acc::Error> {
        let namespace = namespace_for(&cluster, tf, "creds")?;
        let wd = acc::Workdir::new(tf)?;
        let at = |password: &str, with_ca: bool, extra: &str| {
            config(&cluster, registry, &namespace, password, with_ca, extra)
        };

        // A wrong password: refused by the registry, on `password`, and no Secret is written.
        let before = count_requests(registry)?;
        wd.config(&at("not-the-password", true, ""))?;
        wd.expect_error(
            Action::Apply,
            &format!(
                r#"Error: Registry Refused the Credentials with cvm_image_pull_secret\.team, on main\.tf line \d+, in resource "cvm_image_pull_secret" "team": \d+: password = .*{} refused the credentials of user `{}` \(401 Unauthorized"#,
                regex::escape(&registry.address),
                regex::escape(&registry.username),
            ),
        )?;
        assert_eq!(stored_password(&cluster, registry, &namespace)?, None);
        let requests = new_requests(registry, before)?;
        assert!(
            requests.iter().any(|l| l.contains(&format!(
                "error authenticating user \\\"{}\\\"",
                registry.username
            ))),
            "the registry did not see the provider's wrong credentials: {requests:#?}"
        );

        // The right password: accepted (the registry logs the user it authenticated), and the
        // Secret holds it.
        let before = count_requests(registry)?;
        wd.config(&at(&registry.password, true, ""))?;
        wd.apply()?;
        wd.assert_plan_empty()?;
        assert_eq!(
            stored_password(&cluster, registry, &namespace)?.as_deref(),
            Some(registry.password.as_str())
        );
        let requests = new_requests(registry, before)?;
        assert!(
            requests.iter().any(|l| {
                l.contains(&format!("auth.user.name={} ", registry.username))
                    && l.contains("http.response.status=200 ")
            }),
            "the registry authenticated no provider request: {requests:#?}"
        );

        // Without the test CA the registry's certificate is not trusted: the check fails on
        // `registry`, and the Secret is left as it was.
        wd.config(&at("another-password", false, ""))?;
        wd.expect_error(
            Action::Apply,
            &format!(
                r"Error: Cannot Reach the Registry.*cannot reach {} at https://{}/v2/.*certificate",
                regex::escape(&registry.address),
                regex::escape(&registry.address),
            ),
        )?;
        assert_eq!(
            stored_password(&cluster, registry, &namespace)?.as_deref(),
            Some(registry.password.as_str())
        );

        // The switch turns the check off: a password the registry would refuse is written.
        let before = count_requests(registry)?;
        wd.config(&at("another-password", false, "check_credentials = false"))?;
        wd.apply()?;
        wd.assert_plan_empty()?;
        assert_eq!(
            stored_password(&cluster, registry, &namespace)?.as_deref(),
            Some("another-password")
        );
        assert_eq!(
            new_requests(registry, before)?,
            Vec::<String>::new(),
            "the check ran although it is switched off"
        );

        wd.destroy()?;
        assert_eq!(stored_password(&cluster, registry, &namespace)?, None);
        Ok(())
    });
}

#[test]
fn a_refused_write_only_password_is_named_as_such() {
    let cluster = KubeCluster::start().expect("a kube-apiserver (scripts/kube-peers build)");
    let registry = Registry::shared().expect("a registry (scripts/registry build)");
    acc::run_where(
        Terraform::supports_write_only,
        "write-only attributes need Terraform 1.11",
        |tf| -> Result<(), acc::Error> {
            let namespace = namespace_for(&cluster, tf, "creds-wo")?;
            let wd = acc::Workdir::new(tf)?;
            let body = config(&cluster, registry, &namespace, "unused", true, "")
                .replace(r#"password  = "unused""#, r#"password_wo = "wrong-wo""#);
            wd.config(&body)?;
            wd.expect_error(
                Action::Apply,
                r#"Error: Registry Refused the Credentials with cvm_image_pull_secret\.team, on main\.tf line \d+, in resource "cvm_image_pull_secret" "team": \d+: password_wo = "#,
            )?;
            assert_eq!(stored_password(&cluster, registry, &namespace)?, None);
            Ok(())
        },
    );
}
