//! EC2 launch templates: the AMI, root disk, instance metadata settings and
//! bootstrap user data of a node group's nodes.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{
    LaunchTemplateBlockDeviceMappingRequest, LaunchTemplateEbsBlockDeviceRequest,
    LaunchTemplateHttpTokensState, LaunchTemplateInstanceMetadataOptionsRequest,
    RequestLaunchTemplateData, ResourceType, ResponseLaunchTemplateData, Tag, TagSpecification,
    VolumeType,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::error::AwsError;

/// Root device of Canonical's Ubuntu AMIs.
pub const UBUNTU_ROOT_DEVICE: &str = "/dev/sda1";

/// What a node group's launch template says about its nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LaunchTemplateData {
    /// AMI id.
    pub image_id: String,
    /// User data, as plain text (base64-encoded on the wire).
    pub user_data: String,
    /// Root volume size in GiB.
    pub disk_size_gib: i32,
}

impl LaunchTemplateData {
    /// The request form: gp3 root volume (encrypted, deleted with the
    /// instance), IMDSv2 required with a hop limit of 2 so pods can reach
    /// it. No subnet, instance profile or instance type: EKS manages those.
    pub fn to_request(&self) -> RequestLaunchTemplateData {
        RequestLaunchTemplateData::builder()
            .image_id(&self.image_id)
            .user_data(BASE64.encode(&self.user_data))
            .block_device_mappings(
                LaunchTemplateBlockDeviceMappingRequest::builder()
                    .device_name(UBUNTU_ROOT_DEVICE)
                    .ebs(
                        LaunchTemplateEbsBlockDeviceRequest::builder()
                            .volume_size(self.disk_size_gib)
                            .volume_type(VolumeType::Gp3)
                            .delete_on_termination(true)
                            .encrypted(true)
                            .build(),
                    )
                    .build(),
            )
            .metadata_options(
                LaunchTemplateInstanceMetadataOptionsRequest::builder()
                    .http_tokens(LaunchTemplateHttpTokensState::Required)
                    .http_put_response_hop_limit(2)
                    .build(),
            )
            .build()
    }

    /// Reads the response form (user data decoded; missing parts empty).
    pub fn from_response(data: &ResponseLaunchTemplateData) -> Self {
        let user_data = data
            .user_data()
            .and_then(|b64| BASE64.decode(b64).ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default();
        let disk_size_gib = data
            .block_device_mappings()
            .iter()
            .find(|m| m.device_name() == Some(UBUNTU_ROOT_DEVICE))
            .or_else(|| data.block_device_mappings().first())
            .and_then(|m| m.ebs())
            .and_then(|ebs| ebs.volume_size())
            .unwrap_or_default();
        Self {
            image_id: data.image_id().unwrap_or_default().to_owned(),
            user_data,
            disk_size_gib,
        }
    }
}

/// A launch template version, as a node group refers to it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LaunchTemplateRef {
    /// Template id (`lt-…`).
    pub id: String,
    /// Template name.
    pub name: String,
    /// Version number.
    pub version: i64,
}

fn target(id_or_name: &str) -> String {
    format!("EC2 launch template {id_or_name}")
}

/// The EC2 API, as the provider uses it.
#[derive(Clone, Debug)]
pub struct Ec2Client {
    inner: aws_sdk_ec2::Client,
}

impl Ec2Client {
    /// Wraps an SDK client.
    pub fn new(inner: aws_sdk_ec2::Client) -> Self {
        Self { inner }
    }

    /// The SDK client.
    pub fn sdk(&self) -> &aws_sdk_ec2::Client {
        &self.inner
    }

    /// CreateLaunchTemplate (version 1), tagged with `tags`.
    pub async fn create_launch_template(
        &self,
        name: &str,
        data: &LaunchTemplateData,
        tags: &BTreeMap<String, String>,
    ) -> Result<LaunchTemplateRef, AwsError> {
        let mut request = self
            .inner
            .create_launch_template()
            .launch_template_name(name)
            .version_description("cvm_nodegroup")
            .launch_template_data(data.to_request());
        if !tags.is_empty() {
            request = request.tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::LaunchTemplate)
                    .set_tags(Some(
                        tags.iter()
                            .map(|(k, v)| Tag::builder().key(k).value(v).build())
                            .collect(),
                    ))
                    .build(),
            );
        }
        let out = request
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("CreateLaunchTemplate", target(name), e))?;
        let template = out.launch_template.ok_or(AwsError::MissingField {
            operation: "CreateLaunchTemplate",
            field: "launchTemplate",
        })?;
        Ok(LaunchTemplateRef {
            id: template
                .launch_template_id()
                .ok_or(AwsError::MissingField {
                    operation: "CreateLaunchTemplate",
                    field: "launchTemplate.launchTemplateId",
                })?
                .to_owned(),
            name: template.launch_template_name().unwrap_or(name).to_owned(),
            version: template.latest_version_number().unwrap_or(1),
        })
    }

    /// DescribeLaunchTemplates by name: the template's id, latest version
    /// and tags; `None` when there is none.
    pub async fn find_launch_template_by_name(
        &self,
        name: &str,
    ) -> Result<Option<(LaunchTemplateRef, BTreeMap<String, String>)>, AwsError> {
        let result = self
            .inner
            .describe_launch_templates()
            .launch_template_names(name)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e) => {
                let error = AwsError::from_sdk("DescribeLaunchTemplates", target(name), e);
                return if error.is_not_found() {
                    Ok(None)
                } else {
                    Err(error)
                };
            }
        };
        Ok(out.launch_templates().first().and_then(|template| {
            let id = template.launch_template_id()?.to_owned();
            let tags = template
                .tags()
                .iter()
                .filter_map(|t| {
                    Some((
                        t.key()?.to_owned(),
                        t.value().unwrap_or_default().to_owned(),
                    ))
                })
                .collect();
            Some((
                LaunchTemplateRef {
                    id,
                    name: template.launch_template_name().unwrap_or(name).to_owned(),
                    version: template.latest_version_number().unwrap_or(1),
                },
                tags,
            ))
        }))
    }

    /// CreateLaunchTemplateVersion; returns the new version's number.
    pub async fn create_launch_template_version(
        &self,
        id: &str,
        data: &LaunchTemplateData,
    ) -> Result<i64, AwsError> {
        let out = self
            .inner
            .create_launch_template_version()
            .launch_template_id(id)
            .version_description("cvm_nodegroup")
            .launch_template_data(data.to_request())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("CreateLaunchTemplateVersion", target(id), e))?;
        out.launch_template_version
            .and_then(|v| v.version_number())
            .ok_or(AwsError::MissingField {
                operation: "CreateLaunchTemplateVersion",
                field: "launchTemplateVersion.versionNumber",
            })
    }

    /// DescribeLaunchTemplateVersions of one version; `None` when the
    /// template or version does not exist.
    pub async fn find_launch_template_version(
        &self,
        id: &str,
        version: i64,
    ) -> Result<Option<LaunchTemplateData>, AwsError> {
        let result = self
            .inner
            .describe_launch_template_versions()
            .launch_template_id(id)
            .versions(version.to_string())
            .send()
            .await;
        match result {
            Ok(out) => Ok(out
                .launch_template_versions()
                .first()
                .and_then(|v| v.launch_template_data())
                .map(LaunchTemplateData::from_response)),
            Err(e) => {
                let error = AwsError::from_sdk("DescribeLaunchTemplateVersions", target(id), e);
                if error.is_not_found() {
                    Ok(None)
                } else {
                    Err(error)
                }
            }
        }
    }

    /// DeleteLaunchTemplate; `false` when it was already gone.
    pub async fn delete_launch_template(&self, id: &str) -> Result<bool, AwsError> {
        let result = self
            .inner
            .delete_launch_template()
            .launch_template_id(id)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) => {
                let error = AwsError::from_sdk("DeleteLaunchTemplate", target(id), e);
                if error.is_not_found() {
                    Ok(false)
                } else {
                    Err(error)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_ec2::types::{LaunchTemplateBlockDeviceMapping, LaunchTemplateEbsBlockDevice};

    use super::*;

    #[test]
    fn request_has_ami_disk_imds_and_encoded_user_data() {
        let data = LaunchTemplateData {
            image_id: "ami-0123".into(),
            user_data: "#!/bin/bash\necho hi\n".into(),
            disk_size_gib: 80,
        };
        let request = data.to_request();
        assert_eq!(request.image_id(), Some("ami-0123"));
        assert_eq!(
            BASE64.decode(request.user_data().unwrap()).unwrap(),
            data.user_data.as_bytes()
        );
        let mapping = &request.block_device_mappings()[0];
        assert_eq!(mapping.device_name(), Some(UBUNTU_ROOT_DEVICE));
        let ebs = mapping.ebs().unwrap();
        assert_eq!(ebs.volume_size(), Some(80));
        assert_eq!(ebs.volume_type(), Some(&VolumeType::Gp3));
        let imds = request.metadata_options().unwrap();
        assert_eq!(imds.http_put_response_hop_limit(), Some(2));
        assert!(request.instance_type().is_none());
        assert!(request.iam_instance_profile().is_none());
        assert!(request.network_interfaces().is_empty());
    }

    #[test]
    fn response_is_read_back() {
        let response = ResponseLaunchTemplateData::builder()
            .image_id("ami-0123")
            .user_data(BASE64.encode("boot"))
            .block_device_mappings(
                LaunchTemplateBlockDeviceMapping::builder()
                    .device_name(UBUNTU_ROOT_DEVICE)
                    .ebs(
                        LaunchTemplateEbsBlockDevice::builder()
                            .volume_size(60)
                            .build(),
                    )
                    .build(),
            )
            .build();
        assert_eq!(
            LaunchTemplateData::from_response(&response),
            LaunchTemplateData {
                image_id: "ami-0123".into(),
                user_data: "boot".into(),
                disk_size_gib: 60,
            }
        );
    }
}
