//! Runner labels: the sanitiser S(x), the label set each pool's runners carry,
//! and the `runs-on:` line that selects a pool.

/// The label every Pacer runner carries and every job of ours asks for.
pub const SELF_HOSTED: &str = "self-hosted";

/// S(x): lowercase; each run of characters outside `[a-z0-9_]` becomes one `-`; no leading or
/// trailing `-`. `Octocat/Hello.World` → `octocat-hello-world`.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_dash = false;
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
            if pending_dash && !out.is_empty() {
                out.push('-');
            }
            pending_dash = false;
            out.push(c);
        } else {
            pending_dash = true;
        }
    }
    out
}

/// The labels a runner of a pool carries, in order, without duplicates:
/// `[self-hosted, S(project), S(pool), S(owner/repo) (repo scope only), S(extra)…]`.
pub fn runner_labels(project: &str, pool: &str, repo: Option<&str>, extra_labels: &[String]) -> Vec<String> {
    let mut labels = vec![SELF_HOSTED.to_owned()];
    let candidates = [sanitize(project), sanitize(pool)]
        .into_iter()
        .chain(repo.map(sanitize))
        .chain(extra_labels.iter().map(|l| sanitize(l)));
    for label in candidates {
        if !label.is_empty() && !labels.contains(&label) {
            labels.push(label);
        }
    }
    labels
}

/// The `runs-on:` line a workflow uses to land on a pool: its labels without the repo label.
pub fn runs_on_line(project: &str, pool: &str, extra_labels: &[String]) -> String {
    let labels = runner_labels(project, pool, None, extra_labels);
    format!("runs-on: [{}]", labels.join(", "))
}

/// Whether a workflow's requested labels include `self-hosted` (case-insensitive).
pub fn wants_self_hosted(labels: &[String]) -> bool {
    labels.iter().any(|l| l.eq_ignore_ascii_case(SELF_HOSTED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitises_like_the_spec() {
        assert_eq!(sanitize("Octocat/Hello.World"), "octocat-hello-world");
        assert_eq!(sanitize("--A  b__c--"), "a-b__c");
        assert_eq!(sanitize("GPU.Large!!"), "gpu-large");
        assert_eq!(sanitize("../"), "");
        assert_eq!(sanitize("self-hosted"), "self-hosted");
        assert_eq!(sanitize("ÄrgerLich"), "rgerlich");
    }

    #[test]
    fn runner_labels_are_ordered_and_unique() {
        let extra = vec!["GPU".to_owned(), "gpu".to_owned(), "self-hosted".to_owned()];
        assert_eq!(
            runner_labels("Platform", "Big Pool", Some("Octocat/Hello.World"), &extra),
            ["self-hosted", "platform", "big-pool", "octocat-hello-world", "gpu"]
        );
        assert_eq!(runs_on_line("Platform", "default", &[]), "runs-on: [self-hosted, platform, default]");
    }
}
