//! Acceptance tests for `cvm_image_pull_secret` against a real
//! kube-apiserver, on every available Terraform: what is asserted is the
//! Secret as the API server stores it.

use acceptance_tests::kube::{self, KubeCluster};
use acceptance_tests::{self as acc, Action, Terraform};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

fn config(cluster: &KubeCluster, body: &str) -> String {
    format!("{}{body}", acc::provider_config(&cluster.provider_block()))
}

/// A namespace of the test's own for each client (they share one cluster).
fn namespace_for(cluster: &KubeCluster, tf: &Terraform, test: &str) -> Result<String, acc::Error> {
    let name = format!("{test}-{}", tf.tag().replace('.', "-"));
    cluster.create_namespace(&name, &[])?;
    Ok(name)
}

fn secret_body(namespace: &str, password_line: &str) -> String {
    format!(
        r#"
resource "cvm_image_pull_secret" "team" {{
  namespace = "{namespace}"
  name      = "team-registry"
  registry  = "registry.test:5000"
  username  = "robot"
  {password_line}
  # No registry answers here: tests/pull_secret_credentials.rs tests the check.
  check_credentials = false
}}
"#
    )
}

/// The Secret as stored, and its decoded `.dockerconfigjson`.
fn stored(cluster: &KubeCluster, namespace: &str) -> Result<(Value, Value), acc::Error> {
    let secret = cluster.get(&format!(
        "/api/v1/namespaces/{namespace}/secrets/team-registry"
    ))?;
    let encoded = secret["data"][".dockerconfigjson"]
        .as_str()
        .ok_or_else(|| acc::Error::Assertion(format!("no .dockerconfigjson in {secret}")))?;
    let decoded = BASE64
        .decode(encoded)
        .map_err(|e| acc::Error::Assertion(e.to_string()))?;
    let content =
        serde_json::from_slice(&decoded).map_err(|e| acc::Error::Assertion(e.to_string()))?;
    Ok((secret, content))
}

fn credentials(password: &str) -> Value {
    json!({ "auths": { "registry.test:5000": {
        "username": "robot",
        "password": password,
        "auth": BASE64.encode(format!("robot:{password}")),
    } } })
}

fn secret_is_gone(cluster: &KubeCluster, namespace: &str) -> bool {
    matches!(
        cluster.get(&format!(
            "/api/v1/namespaces/{namespace}/secrets/team-registry"
        )),
        Err(kube::Error::Api { status: 404, .. })
    )
}

#[test]
fn create_drift_import_and_destroy() {
    let cluster = KubeCluster::start().expect("a kube-apiserver (scripts/kube-peers build)");
    acc::run(|tf| -> Result<(), acc::Error> {
        let namespace = namespace_for(&cluster, tf, "pull")?;
        let wd = acc::Workdir::new(tf)?;
        wd.config(&config(
            &cluster,
            &secret_body(&namespace, r#"password = "s3cret-1""#),
        ))?;
        wd.apply()?;
        wd.assert_plan_empty()?;
        let (secret, content) = stored(&cluster, &namespace)?;
        assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
        assert_eq!(
            secret["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "terraform-provider-cvm"
        );
        assert_eq!(content, credentials("s3cret-1"));
        let state = wd.show()?;
        let main = state.resource("cvm_image_pull_secret.team")?;
        assert_eq!(main.str("id")?, format!("{namespace}/team-registry"));
        let first_hash = main.str("content_hash")?;
        assert_eq!(first_hash.len(), 64);

        // A new password: an in-place update, and the Secret holds it.
        wd.config(&config(
            &cluster,
            &secret_body(&namespace, r#"password = "s3cret-2""#),
        ))?;
        assert_eq!(
            wd.plan()?.actions("cvm_image_pull_secret.team")?,
            vec!["update"]
        );
        wd.apply()?;
        wd.assert_plan_empty()?;
        assert_eq!(stored(&cluster, &namespace)?.1, credentials("s3cret-2"));

        // Changed outside Terraform: seen through the hash, and written again.
        let tampered = BASE64.encode(credentials("someone-else").to_string());
        cluster.merge_patch(
            &format!("/api/v1/namespaces/{namespace}/secrets/team-registry"),
            json!({ "data": { ".dockerconfigjson": tampered } }),
        )?;
        assert_eq!(
            wd.plan()?.actions("cvm_image_pull_secret.team")?,
            vec!["update"]
        );
        wd.apply()?;
        wd.assert_plan_empty()?;
        assert_eq!(stored(&cluster, &namespace)?.1, credentials("s3cret-2"));

        // Deleted outside Terraform: created again.
        cluster.delete(&format!(
            "/api/v1/namespaces/{namespace}/secrets/team-registry"
        ))?;
        assert_eq!(
            wd.plan()?.actions("cvm_image_pull_secret.team")?,
            vec!["create"]
        );
        wd.apply()?;
        wd.assert_plan_empty()?;
        assert_eq!(stored(&cluster, &namespace)?.1, credentials("s3cret-2"));

        // Replaced outside by a Secret of another type (Kubernetes keeps the
        // type immutable, so an update in place would be refused): replaced.
        let path = format!("/api/v1/namespaces/{namespace}/secrets/team-registry");
        cluster.delete(&path)?;
        cluster.request(
            "POST",
            &format!("/api/v1/namespaces/{namespace}/secrets"),
            Some(json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": { "name": "team-registry" },
                "type": "Opaque",
                "data": { "token": BASE64.encode("theirs") },
            })),
        )?;
        assert_eq!(
            wd.plan()?.actions("cvm_image_pull_secret.team")?,
            vec!["update"]
        );
        wd.apply()?;
        wd.assert_plan_empty()?;
        let (secret, content) = stored(&cluster, &namespace)?;
        assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
        assert_eq!(secret["data"].as_object().map(|d| d.len()), Some(1));
        assert_eq!(content, credentials("s3cret-2"));

        // Import by namespace/name reads the same state back, but the
        // password, which only the configuration holds.
        wd.import_and_compare(
            "cvm_image_pull_secret.team",
            &format!("{namespace}/team-registry"),
            &[
                "password",
                "password_wo_version",
                "check_credentials",
                "timeouts",
            ],
        )?;

        wd.destroy()?;
        assert!(secret_is_gone(&cluster, &namespace), "the Secret is left");
        Ok(())
    });
}

#[test]
fn an_existing_secret_is_not_taken_over() {
    let cluster = KubeCluster::start().expect("a kube-apiserver (scripts/kube-peers build)");
    acc::run(|tf| -> Result<(), acc::Error> {
        let namespace = namespace_for(&cluster, tf, "taken")?;
        cluster.request(
            "POST",
            &format!("/api/v1/namespaces/{namespace}/secrets"),
            Some(json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": { "name": "team-registry" },
                "type": "Opaque",
                "data": { "token": BASE64.encode("theirs") },
            })),
        )?;
        let wd = acc::Workdir::new(tf)?;
        wd.config(&config(
            &cluster,
            &secret_body(&namespace, r#"password = "s3cret""#),
        ))?;
        wd.expect_error(
            Action::Apply,
            &format!("Secret {namespace}/team-registry already exists.*terraform import"),
        )?;
        let untouched = cluster.get(&format!(
            "/api/v1/namespaces/{namespace}/secrets/team-registry"
        ))?;
        assert_eq!(untouched["type"], "Opaque");
        assert_eq!(untouched["data"]["token"], json!(BASE64.encode("theirs")));
        Ok(())
    });
}

#[test]
fn write_only_password_stays_out_of_state_and_a_new_one_is_seen() {
    let cluster = KubeCluster::start().expect("a kube-apiserver (scripts/kube-peers build)");
    acc::run_where(
        Terraform::supports_write_only,
        "write-only attributes need Terraform 1.11",
        |tf| -> Result<(), acc::Error> {
            let namespace = namespace_for(&cluster, tf, "wo")?;
            let wd = acc::Workdir::new(tf)?;
            let body = |password: &str| {
                config(
                    &cluster,
                    &secret_body(&namespace, &format!(r#"password_wo = "{password}""#)),
                )
            };
            wd.config(&body("wo-secret-1"))?;
            wd.apply()?;
            wd.assert_plan_empty()?;
            assert_eq!(stored(&cluster, &namespace)?.1, credentials("wo-secret-1"));
            let state_file = std::fs::read_to_string(wd.path().join("terraform.tfstate"))
                .map_err(|e| acc::Error::Assertion(e.to_string()))?;
            assert!(
                !state_file.contains("wo-secret-1"),
                "the password is in state"
            );

            // A new write-only password changes the planned hash.
            wd.config(&body("wo-secret-2"))?;
            assert_eq!(
                wd.plan()?.actions("cvm_image_pull_secret.team")?,
                vec!["update"]
            );
            wd.apply()?;
            wd.assert_plan_empty()?;
            assert_eq!(stored(&cluster, &namespace)?.1, credentials("wo-secret-2"));
            let state_file = std::fs::read_to_string(wd.path().join("terraform.tfstate"))
                .map_err(|e| acc::Error::Assertion(e.to_string()))?;
            assert!(!state_file.contains("wo-secret-2"));
            wd.destroy()?;
            assert!(secret_is_gone(&cluster, &namespace));
            Ok(())
        },
    );
}

/// Inside a pod (as Coder's provisioner usually runs), with no `kubernetes`
/// block and no kubeconfig, the provider authenticates as the pod's service
/// account: the test mounts one as the kubelet would (a token issued by the
/// API server's TokenRequest for a ServiceAccount allowed to manage the
/// namespace, the cluster CA, the namespace) and sets the kubelet's
/// `KUBERNETES_SERVICE_*` variables.
#[test]
fn in_a_pod_the_service_account_is_used() {
    let cluster = KubeCluster::start().expect("a kube-apiserver (scripts/kube-peers build)");
    acc::run(|tf| -> Result<(), acc::Error> {
        let namespace = namespace_for(&cluster, tf, "pod")?;
        cluster.request(
            "POST",
            &format!("/api/v1/namespaces/{namespace}/serviceaccounts"),
            Some(json!({ "metadata": { "name": "provisioner" } })),
        )?;
        cluster.request(
            "POST",
            &format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings"),
            Some(json!({
                "metadata": { "name": "provisioner-admin" },
                "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin" },
                "subjects": [{ "kind": "ServiceAccount", "name": "provisioner", "namespace": namespace }],
            })),
        )?;
        let issued = cluster.request(
            "POST",
            &format!("/api/v1/namespaces/{namespace}/serviceaccounts/provisioner/token"),
            Some(json!({ "spec": { "expirationSeconds": 3600 } })),
        )?;
        let token = issued["status"]["token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(!token.is_empty(), "no token issued: {issued}");

        let mut wd = acc::Workdir::new(tf)?;
        let mount = wd.path().join("serviceaccount");
        let write = |name: &str, text: &str| {
            std::fs::create_dir_all(&mount)
                .and_then(|()| std::fs::write(mount.join(name), text))
                .map_err(|e| acc::Error::Assertion(e.to_string()))
        };
        write("token", &token)?;
        write("namespace", &namespace)?;
        let ca = std::fs::read_to_string(cluster.ca_path())
            .map_err(|e| acc::Error::Assertion(e.to_string()))?;
        write("ca.crt", &ca)?;
        let port = cluster
            .server_url()
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .to_owned();
        let home = wd.path().join("home");
        std::fs::create_dir_all(&home).map_err(|e| acc::Error::Assertion(e.to_string()))?;
        wd.env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
            .env("KUBERNETES_SERVICE_PORT", &port)
            .env("CVM_KUBE_SERVICE_ACCOUNT_DIR", &mount.display().to_string())
            .env("HOME", &home.display().to_string())
            // An empty KUBECONFIG counts as unset: the caller's must not be used.
            .env("KUBECONFIG", "");
        wd.config(&format!(
            "{}{}",
            acc::provider_config(""),
            secret_body(&namespace, r#"password = "from-a-pod""#)
        ))?;
        wd.apply()?;
        wd.assert_plan_empty()?;
        let (secret, content) = stored(&cluster, &namespace)?;
        assert_eq!(content, credentials("from-a-pod"));
        // The API server recorded who wrote it: the pod's service account.
        let managers = secret["metadata"]["managedFields"].to_string();
        assert!(managers.contains("terraform-provider-cvm"), "{managers}");

        // The service account may not touch another namespace: the
        // provider really is that account (the admin would be allowed).
        let other = namespace_for(&cluster, tf, "pod-other")?;
        wd.config(&format!(
            "{}{}",
            acc::provider_config(""),
            secret_body(&other, r#"password = "from-a-pod""#)
        ))?;
        wd.expect_error(
            Action::Apply,
            "system:serviceaccount:[a-z0-9-]+:provisioner.*cannot",
        )?;
        Ok(())
    });
}

/// Neither the password nor the Secret's content (as the API server gets it:
/// base64 of the `.dockerconfigjson`, or its `auth` field) reaches a TRACE log
/// of Terraform and the provider.
#[test]
fn a_trace_log_holds_no_password_or_secret_content() {
    let cluster = KubeCluster::start().expect("a kube-apiserver (scripts/kube-peers build)");
    acc::run(|tf| -> Result<(), acc::Error> {
        let namespace = namespace_for(&cluster, tf, "log")?;
        let mut wd = acc::Workdir::new(tf)?;
        wd.capture_log("TRACE");
        let password = "trace-pass-5c2a";
        wd.config(&config(
            &cluster,
            &secret_body(&namespace, &format!(r#"password = "{password}""#)),
        ))?;
        wd.apply()?;
        wd.destroy()?;
        let log = wd.log()?;
        assert!(
            log.contains("provider.terraform-provider-cvm"),
            "no provider lines in the log"
        );
        let content = BASE64.encode(credentials(password).to_string());
        let auth = BASE64.encode(format!("robot:{password}"));
        for secret in [password, content.as_str(), auth.as_str()] {
            if let Some(line) = log.lines().find(|l| l.contains(secret)) {
                panic!("{secret} appears in the TRACE log: {line}");
            }
        }
        Ok(())
    });
}
