//! What an EC2 instance type's name says about its CPU architecture.
//!
//! A type is `<family>.<size>`; a family is a series (`m`, `c`, `r`, `t`,
//! `im`, `hpc`, …), a generation digit and attribute letters. Graviton
//! (arm64) families have a `g` right after the generation (`m6g`, `m7gd`,
//! `c7gn`, `t4g`, `im4gn`, `hpc7g`), and the first Graviton family is
//! `a1`; every other family of the known series is x86_64. Series this
//! table does not know (e.g. `mac`, whose `mac2` is arm64 without a `g`)
//! give [`Architecture::Unknown`], which callers accept with a warning.

/// The CPU architecture of an instance family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    /// x86_64, which Canonical's images call `amd64`.
    Amd64,
    /// Graviton, `arm64`.
    Arm64,
    /// A family the naming rules here do not cover.
    Unknown,
}

impl Architecture {
    /// The name Canonical's image parameters use, if known.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Self::Amd64 => Some("amd64"),
            Self::Arm64 => Some("arm64"),
            Self::Unknown => None,
        }
    }
}

/// Instance series whose families follow the `g`-after-generation rule.
const KNOWN_SERIES: &[&str] = &[
    "a", "c", "d", "dl", "f", "g", "gr", "h", "hpc", "i", "im", "inf", "is", "m", "p", "r", "t",
    "trn", "u", "vt", "x", "z",
];

/// Whether `name` has the shape of an instance type, `<family>.<size>`.
pub fn is_instance_type(name: &str) -> bool {
    let Some((family, size)) = name.split_once('.') else {
        return false;
    };
    let word = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    word(family) && word(size) && family.starts_with(|c: char| c.is_ascii_lowercase())
}

/// The architecture of instance type (or family) `name`.
pub fn architecture_of(name: &str) -> Architecture {
    let family = name.split('.').next().unwrap_or_default();
    if family == "a1" {
        return Architecture::Arm64;
    }
    let series_end = family
        .find(|c: char| !c.is_ascii_lowercase())
        .unwrap_or(family.len());
    let (series, rest) = family.split_at(series_end);
    let generation_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (generation, attributes) = rest.split_at(generation_end);
    if !KNOWN_SERIES.contains(&series) || generation.is_empty() {
        return Architecture::Unknown;
    }
    if attributes.starts_with('g') {
        Architecture::Arm64
    } else {
        Architecture::Amd64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graviton_families_have_a_g_after_the_generation() {
        for arm in [
            "m6g.large",
            "m6gd.xlarge",
            "m7g.2xlarge",
            "c7gn.large",
            "c6gn.medium",
            "t4g.small",
            "r8g.large",
            "x2gd.xlarge",
            "im4gn.large",
            "is4gen.large",
            "hpc7g.4xlarge",
            "g5g.xlarge",
            "a1.large",
        ] {
            assert_eq!(architecture_of(arm), Architecture::Arm64, "{arm}");
        }
        for x86 in [
            "m6i.xlarge",
            "m5.large",
            "m7a.large",
            "c5n.large",
            "t3.micro",
            "t3a.micro",
            "r6id.large",
            "g5.xlarge",
            "p4d.24xlarge",
            "inf2.xlarge",
            "trn1.2xlarge",
            "x2idn.16xlarge",
            "hpc6a.48xlarge",
            "u-6tb1.metal",
        ] {
            // `u-6tb1` has series `u` and no generation before the dash.
            let expected = if x86.starts_with("u-") {
                Architecture::Unknown
            } else {
                Architecture::Amd64
            };
            assert_eq!(architecture_of(x86), expected, "{x86}");
        }
        assert_eq!(architecture_of("mac2.metal"), Architecture::Unknown);
        assert_eq!(architecture_of("zz9.large"), Architecture::Unknown);
    }

    #[test]
    fn instance_types_are_family_dot_size() {
        assert!(is_instance_type("m6i.xlarge"));
        assert!(is_instance_type("u-6tb1.metal"));
        assert!(!is_instance_type("m6i"));
        assert!(!is_instance_type("M6i.xlarge"));
        assert!(!is_instance_type("m6i.x large"));
        assert!(!is_instance_type(".xlarge"));
    }
}
