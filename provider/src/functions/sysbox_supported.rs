//! `provider::cvm::sysbox_supported(os_image, kernel_version)`: whether a
//! node image can run Sysbox, judged from its distro and kernel alone —
//! handy in a `precondition` on a node group before anything is installed.

use std::collections::BTreeMap;

use tf_framework::function::{Function, FunctionError, Parameter, Signature};
use tf_protocol::Value;
use tf_protocol::value::Type;

use crate::sysbox::compatibility::check_os_and_kernel;

/// The `sysbox_supported` function.
#[derive(Debug, Default)]
pub struct SysboxSupported;

fn result_type() -> Type {
    Type::object([
        ("supported", Type::Bool),
        ("reasons", Type::list(Type::String)),
    ])
}

impl Function for SysboxSupported {
    fn name(&self) -> &'static str {
        "sysbox_supported"
    }

    fn signature(&self) -> Signature {
        Signature {
            parameters: vec![
                Parameter::new(
                    "os_image",
                    Type::String,
                    "The node's OS image as Kubernetes reports it in `status.nodeInfo.osImage`, \
                     such as `Ubuntu 22.04.5 LTS`.",
                ),
                Parameter::new(
                    "kernel_version",
                    Type::String,
                    "The node's kernel release (`uname -r`, `status.nodeInfo.kernelVersion`), \
                     such as `6.8.0-1021-aws`.",
                ),
            ],
            variadic: None,
            returns: result_type(),
            summary: "Tells whether a node's distro and kernel can run Sysbox.".to_owned(),
            description: "Applies Sysbox's distro and kernel rules (supported distros, minimum \
                          kernel per distro, shiftfs needs) to the two facts given and returns \
                          an object with `supported` (false when any rule blocks) and `reasons` \
                          (one sentence per finding, blocking ones and notes alike; empty when \
                          there is nothing to say). Only these two facts are checked: the \
                          architecture is assumed to be amd64 or arm64, and the container \
                          runtime, Kubernetes version and cached-CVM needs are not checked. \
                          Unreadable input gives `supported = false` with a reason, never an \
                          error."
                .to_owned(),
            deprecation: None,
        }
    }

    fn call(&self, arguments: Vec<Value>) -> Result<Value, FunctionError> {
        let mut arguments = arguments.into_iter();
        let Some(Value::String(os_image)) = arguments.next() else {
            return Err(FunctionError::argument(0, "os_image must be a string"));
        };
        let Some(Value::String(kernel_version)) = arguments.next() else {
            return Err(FunctionError::argument(
                1,
                "kernel_version must be a string",
            ));
        };
        let verdict = check_os_and_kernel(&os_image, &kernel_version, false);
        let reasons = verdict
            .reasons
            .into_iter()
            .map(|r| Value::String(r.message))
            .collect();
        Ok(Value::Object(BTreeMap::from([
            ("supported".to_owned(), Value::Bool(verdict.supported)),
            ("reasons".to_owned(), Value::List(reasons)),
        ])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(os: &str, kernel: &str) -> Value {
        SysboxSupported
            .call(vec![Value::String(os.into()), Value::String(kernel.into())])
            .expect("strings are always accepted")
    }

    #[test]
    fn supported_node_has_no_reasons() {
        let v = call("Ubuntu 22.04.5 LTS", "6.8.0-1021-aws");
        assert_eq!(v.get_attr("supported"), Some(&Value::Bool(true)));
        assert_eq!(v.get_attr("reasons"), Some(&Value::List(vec![])));
    }

    #[test]
    fn unsupported_node_explains_why() {
        let v = call("Amazon Linux 2", "5.10.225-213.878.amzn2.x86_64");
        assert_eq!(v.get_attr("supported"), Some(&Value::Bool(false)));
        let Some(Value::List(reasons)) = v.get_attr("reasons") else {
            panic!("reasons is a list: {v:?}");
        };
        assert!(reasons.contains(&Value::String(
            "Amazon Linux 2 is not supported by the Sysbox Kubernetes installer; use Ubuntu 22.04 or 24.04 nodes".into()
        )));
    }

    #[test]
    fn notes_keep_the_node_supported() {
        let v = call("Ubuntu 20.04.6 LTS", "5.4.0-1103-aws");
        assert_eq!(v.get_attr("supported"), Some(&Value::Bool(true)));
        assert!(matches!(v.get_attr("reasons"), Some(Value::List(r)) if r.len() == 1));
    }

    #[test]
    fn garbage_is_unsupported_not_an_error() {
        let v = call("", "");
        assert_eq!(v.get_attr("supported"), Some(&Value::Bool(false)));
    }

    #[test]
    fn non_strings_blame_the_argument() {
        let e = SysboxSupported
            .call(vec![Value::String("Ubuntu 22.04".into()), Value::Null])
            .expect_err("null kernel");
        assert_eq!(e.argument, Some(1));
    }
}
