//! Bootstrap user data for Canonical's Ubuntu EKS AMIs.
//!
//! With a custom AMI in the launch template EKS merges no user data of its
//! own, so the node must be told how to join: a MIME multipart document
//! whose shell part runs the image's `/etc/eks/bootstrap.sh` with the
//! cluster name, API server endpoint, base64 CA bundle and cluster DNS IP
//! from DescribeCluster, and passes the node group's labels and taints to
//! the kubelet (`--node-labels`, `--register-with-taints`) so nodes carry
//! them from their first moment; EKS applies API taints only later.

use std::collections::BTreeMap;

use super::eks::{ClusterAccess, TaintSpec};

/// The MIME boundary; it cannot occur in the script (base64, URLs, labels
/// and taints never contain `=` twice in a row followed by `CVM`).
const BOUNDARY: &str = "==CVM-BOUNDARY==";

/// The path of the bootstrap script in Canonical's EKS images.
pub const BOOTSTRAP_SCRIPT: &str = "/etc/eks/bootstrap.sh";

/// The kubelet's spelling of an EKS taint effect (`NO_SCHEDULE` →
/// `NoSchedule`); `None` for an unknown effect.
pub fn kubelet_effect(effect: &str) -> Option<&'static str> {
    match effect {
        "NO_SCHEDULE" | "NoSchedule" => Some("NoSchedule"),
        "NO_EXECUTE" | "NoExecute" => Some("NoExecute"),
        "PREFER_NO_SCHEDULE" | "PreferNoSchedule" => Some("PreferNoSchedule"),
        _ => None,
    }
}

/// The kubelet arguments for labels and taints, e.g.
/// `--node-labels=a=b,c=d --register-with-taints=k=v:NoSchedule`.
pub fn kubelet_extra_args(labels: &BTreeMap<String, String>, taints: &[TaintSpec]) -> String {
    let mut args = Vec::new();
    if !labels.is_empty() {
        let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        args.push(format!("--node-labels={}", pairs.join(",")));
    }
    let taints: Vec<String> = taints
        .iter()
        .filter_map(|t| {
            let effect = kubelet_effect(&t.effect)?;
            Some(match t.value.as_deref().filter(|v| !v.is_empty()) {
                Some(value) => format!("{}={value}:{effect}", t.key),
                None => format!("{}:{effect}", t.key),
            })
        })
        .collect();
    if !taints.is_empty() {
        args.push(format!("--register-with-taints={}", taints.join(",")));
    }
    args.join(" ")
}

/// `text` as one single-quoted shell word.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The bootstrap command line.
pub fn bootstrap_command(
    cluster: &ClusterAccess,
    labels: &BTreeMap<String, String>,
    taints: &[TaintSpec],
) -> String {
    let mut command = format!(
        "{BOOTSTRAP_SCRIPT} {} --apiserver-endpoint {} --b64-cluster-ca {}",
        shell_quote(&cluster.name),
        shell_quote(&cluster.endpoint),
        shell_quote(&cluster.certificate_authority),
    );
    if let Some(ip) = &cluster.dns_cluster_ip {
        command.push_str(&format!(" --dns-cluster-ip {}", shell_quote(ip)));
    }
    let extra = kubelet_extra_args(labels, taints);
    if !extra.is_empty() {
        command.push_str(&format!(" --kubelet-extra-args {}", shell_quote(&extra)));
    }
    command
}

/// The whole user data: a MIME multipart document with one shell part.
pub fn bootstrap_user_data(
    cluster: &ClusterAccess,
    labels: &BTreeMap<String, String>,
    taints: &[TaintSpec],
) -> String {
    let command = bootstrap_command(cluster, labels, taints);
    format!(
        "MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"{BOUNDARY}\"\r\n\
         \r\n\
         --{BOUNDARY}\r\n\
         Content-Type: text/x-shellscript; charset=\"us-ascii\"\r\n\
         \r\n\
         #!/bin/bash\n\
         set -o errexit -o nounset -o pipefail\n\
         {command}\n\
         \r\n\
         --{BOUNDARY}--\r\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> ClusterAccess {
        ClusterAccess {
            name: "demo".into(),
            version: "1.31".into(),
            endpoint: "https://ABC.gr7.eu-west-1.eks.amazonaws.com".into(),
            certificate_authority: "LS0tLS1CRUdJTg==".into(),
            dns_cluster_ip: Some("10.100.0.10".into()),
        }
    }

    fn taint(key: &str, value: Option<&str>, effect: &str) -> TaintSpec {
        TaintSpec {
            key: key.into(),
            value: value.map(Into::into),
            effect: effect.into(),
        }
    }

    #[test]
    fn labels_and_taints_become_kubelet_arguments() {
        let labels = BTreeMap::from([
            ("sysbox-install".to_owned(), "yes".to_owned()),
            ("team".to_owned(), "cvm".to_owned()),
        ]);
        let taints = [
            taint("dedicated", Some("cvm"), "NO_SCHEDULE"),
            taint("spot", None, "PREFER_NO_SCHEDULE"),
        ];
        assert_eq!(
            kubelet_extra_args(&labels, &taints),
            "--node-labels=sysbox-install=yes,team=cvm \
             --register-with-taints=dedicated=cvm:NoSchedule,spot:PreferNoSchedule"
        );
        assert_eq!(kubelet_extra_args(&BTreeMap::new(), &[]), "");
        assert_eq!(kubelet_effect("NO_EXECUTE"), Some("NoExecute"));
        assert_eq!(kubelet_effect("sometimes"), None);
    }

    #[test]
    fn command_passes_cluster_endpoint_ca_and_dns_ip() {
        let labels = BTreeMap::from([("sysbox-install".to_owned(), "yes".to_owned())]);
        let command = bootstrap_command(&cluster(), &labels, &[]);
        assert_eq!(
            command,
            "/etc/eks/bootstrap.sh 'demo' \
             --apiserver-endpoint 'https://ABC.gr7.eu-west-1.eks.amazonaws.com' \
             --b64-cluster-ca 'LS0tLS1CRUdJTg==' --dns-cluster-ip '10.100.0.10' \
             --kubelet-extra-args '--node-labels=sysbox-install=yes'"
        );
        let mut no_dns = cluster();
        no_dns.dns_cluster_ip = None;
        let command = bootstrap_command(&no_dns, &BTreeMap::new(), &[]);
        assert!(!command.contains("--dns-cluster-ip"), "{command}");
        assert!(!command.contains("--kubelet-extra-args"), "{command}");
    }

    #[test]
    fn user_data_is_mime_multipart_with_a_shell_part() {
        let text = bootstrap_user_data(&cluster(), &BTreeMap::new(), &[]);
        assert!(text.starts_with("MIME-Version: 1.0\r\n"), "{text}");
        assert!(text.contains("boundary=\"==CVM-BOUNDARY==\""), "{text}");
        assert!(text.contains("Content-Type: text/x-shellscript"), "{text}");
        assert!(text.contains("#!/bin/bash\n"), "{text}");
        assert!(text.trim_end().ends_with("--==CVM-BOUNDARY==--"), "{text}");
        assert_eq!(text.matches("--==CVM-BOUNDARY==").count(), 2);
    }

    #[test]
    fn quotes_cannot_break_out_of_the_shell_word() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        let mut odd = cluster();
        odd.name = "a'; rm -rf /; '".into();
        let command = bootstrap_command(&odd, &BTreeMap::new(), &[]);
        assert!(
            command.starts_with(r"/etc/eks/bootstrap.sh 'a'\''; rm -rf /; '\'''"),
            "{command}"
        );
    }
}
