//! What the account holds for the pool editor's pickers: AMIs by owner and name, subnets with
//! their zone and VPC, security groups (of one VPC or all) and instance profiles, each listing
//! bounded in size. [`ImageQuery`] and [`check_vpc_id`] refuse, before any call, input EC2
//! would refuse; [`name_matches`] is EC2's wildcard match of a `name` filter.

use pacer_domain::{FieldError, Timestamp};

/// Most AMIs one listing answers (the newest).
pub const MAX_IMAGES: usize = 100;
/// Most subnets, security groups or instance profiles one listing answers.
pub const MAX_LISTED: usize = 1000;
/// Most owners one AMI listing names.
pub const MAX_OWNERS: usize = 10;
/// The owners an AMI listing names when it names none: the account's own AMIs and Amazon's.
pub const DEFAULT_OWNERS: [&str; 2] = ["self", "amazon"];
/// The longest owner (an account id, `self`, `amazon`, `aws-marketplace` or an alias).
const MAX_OWNER_LEN: usize = 64;
/// The longest AMI name (EC2's limit), wildcards included.
const MAX_NAME_LEN: usize = 128;

/// One AMI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSummary {
    /// `ami-…`.
    pub image_id: String,
    /// Its name (empty when it has none).
    pub name: String,
    /// The account that owns it.
    pub owner_id: String,
    /// `x86_64`, `arm64`, … (empty when EC2 does not say).
    pub architecture: String,
    /// When it was created, when EC2 says.
    pub created_at: Option<Timestamp>,
}

/// One subnet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubnetSummary {
    /// `subnet-…`.
    pub subnet_id: String,
    /// Its VPC.
    pub vpc_id: String,
    /// Its availability zone, e.g. `us-east-1a`.
    pub availability_zone: String,
    /// Its IPv4 range (empty for an IPv6-only subnet).
    pub cidr_block: String,
    /// Its `Name` tag.
    pub name: Option<String>,
}

/// One security group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityGroupSummary {
    /// `sg-…`.
    pub group_id: String,
    /// Its name.
    pub group_name: String,
    /// Its VPC.
    pub vpc_id: String,
    /// Its description.
    pub description: String,
}

/// One IAM instance profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceProfileSummary {
    /// Its name (what a pool names).
    pub name: String,
    /// Its ARN.
    pub arn: String,
}

/// Which AMIs to list: their owners and, optionally, a name pattern (`*` and `?` as
/// wildcards, as EC2's `name` filter takes them; without one, the exact name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageQuery {
    owners: Vec<String>,
    name: Option<String>,
}

impl Default for ImageQuery {
    /// Every AMI of [`DEFAULT_OWNERS`].
    fn default() -> Self {
        Self { owners: DEFAULT_OWNERS.map(String::from).to_vec(), name: None }
    }
}

impl ImageQuery {
    /// A query for `owners` ([`DEFAULT_OWNERS`] when none; at most [`MAX_OWNERS`], each 1 to 64
    /// letters, digits and `-`) and `name` (none when blank; at most 128 of the characters EC2
    /// allows in an AMI name, plus `*` and `?`). The field errors name `owners`, `owners[i]`
    /// or `name`.
    pub fn new(owners: Option<Vec<String>>, name: Option<String>) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let owners = owners.unwrap_or_default();
        if owners.len() > MAX_OWNERS {
            errors.push(FieldError::new("owners", format!("takes at most {MAX_OWNERS} items")));
        }
        let mut kept: Vec<String> = Vec::new();
        for (i, owner) in owners.iter().enumerate().take(MAX_OWNERS) {
            let owner = owner.trim();
            let ok = owner.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if owner.is_empty() || owner.len() > MAX_OWNER_LEN || !ok {
                errors.push(FieldError::new(
                    format!("owners[{i}]"),
                    "must be an account id, self, amazon, aws-marketplace or an owner alias (1 to 64 letters, digits and -)",
                ));
            } else if !kept.iter().any(|k| k == owner) {
                kept.push(owner.to_owned());
            }
        }
        let name = name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
        if let Some(name) = &name {
            let allowed = |c: char| c.is_ascii_alphanumeric() || " ()[]./-'@_*?".contains(c);
            if name.len() > MAX_NAME_LEN || !name.chars().all(allowed) {
                errors.push(FieldError::new(
                    "name",
                    "must be at most 128 letters, digits, spaces and ( ) [ ] . / - ' @ _, with * and ? as wildcards",
                ));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        if kept.is_empty() {
            kept = DEFAULT_OWNERS.map(String::from).to_vec();
        }
        Ok(Self { owners: kept, name })
    }

    /// The owners, as EC2's `Owners` parameter takes them.
    pub fn owners(&self) -> &[String] {
        &self.owners
    }

    /// The name pattern, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

/// Refuses a VPC id that is not `vpc-` and 8 to 17 lower-case hex digits (field `vpc_id`).
pub fn check_vpc_id(vpc_id: &str) -> Result<(), FieldError> {
    let hex = vpc_id.strip_prefix("vpc-").unwrap_or_default();
    if (8..=17).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(FieldError::new("vpc_id", "must look like vpc-0123456789abcdef0"))
    }
}

/// Whether `name` matches `pattern` as EC2 matches a filter value: `*` is any run of
/// characters, `?` any one character, everything else itself (case-sensitive).
pub fn name_matches(pattern: &str, name: &str) -> bool {
    let (pattern, name): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Greedy match with backtracking to the last `*`.
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(c) if *c == '?' || *c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// Sorts AMIs newest first (undated ones last, then by name) and keeps [`MAX_IMAGES`].
pub(crate) fn newest_images(mut images: Vec<ImageSummary>) -> Vec<ImageSummary> {
    images.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.name.cmp(&b.name)));
    images.truncate(MAX_IMAGES);
    images
}

/// Sorts subnets by VPC, zone and range.
pub(crate) fn sort_subnets(subnets: &mut [SubnetSummary]) {
    subnets.sort_by(|a, b| {
        (&a.vpc_id, &a.availability_zone, &a.cidr_block, &a.subnet_id).cmp(&(
            &b.vpc_id,
            &b.availability_zone,
            &b.cidr_block,
            &b.subnet_id,
        ))
    });
}

/// Sorts security groups by VPC and name.
pub(crate) fn sort_security_groups(groups: &mut [SecurityGroupSummary]) {
    groups.sort_by(|a, b| {
        (&a.vpc_id, &a.group_name, &a.group_id).cmp(&(&b.vpc_id, &b.group_name, &b.group_id))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_default_to_self_and_amazon() {
        let query = ImageQuery::new(None, Some("  ".into())).expect("valid");
        assert_eq!(query, ImageQuery::default());
        assert_eq!(query.owners(), ["self", "amazon"]);
        let query = ImageQuery::new(
            Some(vec!["099720109477".into(), " self ".into(), "self".into()]),
            Some("ubuntu/images/hvm-ssd/*24.04*".into()),
        )
        .expect("valid");
        assert_eq!(query.owners(), ["099720109477", "self"]);
        assert_eq!(query.name(), Some("ubuntu/images/hvm-ssd/*24.04*"));
        assert_eq!(ImageQuery::new(Some(Vec::new()), None).expect("valid").owners(), DEFAULT_OWNERS);
    }

    #[test]
    fn bad_queries_name_their_fields() {
        let fields = |owners: Vec<&str>, name: Option<&str>| -> Vec<String> {
            let owners = owners.into_iter().map(String::from).collect();
            ImageQuery::new(Some(owners), name.map(String::from))
                .expect_err("refused")
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert_eq!(fields(vec!["self"; 11], None), ["owners"]);
        assert_eq!(fields(vec!["self", "", "a b"], None), ["owners[1]", "owners[2]"]);
        assert_eq!(fields(vec![&"x".repeat(65)], None), ["owners[0]"]);
        assert_eq!(fields(vec!["amazon"], Some(&"a".repeat(129))), ["name"]);
        assert_eq!(fields(vec!["amazon"], Some("al2023;drop")), ["name"]);
        assert_eq!(fields(vec!["amazon"], Some("bad\nline")), ["name"]);
        assert!(ImageQuery::new(None, Some("a".repeat(128))).is_ok());
    }

    #[test]
    fn vpc_ids_are_checked() {
        assert!(check_vpc_id("vpc-0a1b2c3d4e5f60718").is_ok());
        assert!(check_vpc_id("vpc-12345678").is_ok());
        for bad in ["", "vpc-", "vpc-XYZ12345", "subnet-12345678", "vpc-0123456789abcdef01"] {
            assert_eq!(check_vpc_id(bad).map_err(|e| e.field), Err("vpc_id".to_owned()), "{bad}");
        }
    }

    #[test]
    fn wildcards_match_as_ec2_matches_them() {
        assert!(name_matches("*", ""));
        assert!(name_matches("al2023-ami-*", "al2023-ami-2023.6.20250101.0-kernel-6.1-x86_64"));
        assert!(name_matches("*arm64*", "pacer-runner-arm64-2026-01-02"));
        assert!(name_matches("ubuntu-??.04", "ubuntu-24.04"));
        assert!(name_matches("exact", "exact"));
        assert!(!name_matches("exact", "exactly"));
        assert!(!name_matches("*ARM64*", "pacer-runner-arm64"), "case-sensitive");
        assert!(!name_matches("a*b*c", "a-b"));
        assert!(name_matches("a*b*c", "a-xb-b-c"));
    }

    #[test]
    fn images_come_newest_first_and_bounded() {
        let image = |n: usize, at: Option<i64>| ImageSummary {
            image_id: format!("ami-{n:08x}"),
            name: format!("image-{n:03}"),
            owner_id: "self".into(),
            architecture: "x86_64".into(),
            created_at: at.map(Timestamp::from_millis),
        };
        let mut images: Vec<ImageSummary> = (0..150).map(|n| image(n, Some(n as i64 * 1000))).collect();
        images.push(image(999, None));
        let newest = newest_images(images);
        assert_eq!(newest.len(), MAX_IMAGES);
        assert_eq!(newest[0].name, "image-149");
        assert_eq!(newest[99].name, "image-050");
        let undated = newest_images(vec![image(2, None), image(1, Some(5))]);
        assert_eq!(undated[1].name, "image-002", "undated last");
    }
}
