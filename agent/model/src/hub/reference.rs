//! `REPO[:QUANT|FILE]`: which model of which Hub repository.

use std::fmt;
use std::str::FromStr;

use super::HubError;

/// A model repository on the Hub, `owner/name`.
///
/// Both parts follow the Hub's rules for repository ids (letters, digits, `-`, `_`, `.`;
/// starting and ending with a letter, digit or `_`; no `--` or `..`), which also keeps
/// them safe to use in cache folder names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepoId {
    owner: String,
    name: String,
}

impl RepoId {
    /// The owner (user or organisation).
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The repository name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The repository's folder in the Hub cache: `models--owner--name`.
    pub fn cache_folder(&self) -> String {
        format!("models--{}--{}", self.owner, self.name)
    }
}

impl fmt::Display for RepoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

impl FromStr for RepoId {
    type Err = HubError;

    fn from_str(text: &str) -> Result<RepoId, HubError> {
        let bad = |reason: &str| HubError::BadReference {
            input: text.to_string(),
            reason: reason.to_string(),
        };
        let Some((owner, name)) = text.split_once('/') else {
            return Err(bad(
                "a repository is OWNER/NAME, e.g. ggml-org/gpt-oss-20b-GGUF",
            ));
        };
        for part in [owner, name] {
            check_id_part(part).map_err(|reason| bad(&reason))?;
        }
        Ok(RepoId {
            owner: owner.to_string(),
            name: name.to_string(),
        })
    }
}

fn check_id_part(part: &str) -> Result<(), String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if part.is_empty() || part.len() > 96 {
        return Err(format!("'{part}' must be 1 to 96 characters long"));
    }
    if let Some(c) = part.chars().find(|c| !(word(*c) || *c == '-' || *c == '.')) {
        return Err(format!(
            "'{part}' contains '{c}'; only letters, digits, '-', '_' and '.' are allowed"
        ));
    }
    if !part.starts_with(word) || !part.ends_with(word) {
        return Err(format!(
            "'{part}' must start and end with a letter, a digit or '_'"
        ));
    }
    if part.contains("--") || part.contains("..") {
        return Err(format!("'{part}' must not contain '--' or '..'"));
    }
    Ok(())
}

/// `REPO[:QUANT|FILE]`: a repository and, optionally, which GGUF in it.
///
/// The selector is an exact file path in the repository (`gpt-oss-20b-mxfp4.gguf`) or a
/// quantisation tag matched case-insensitively against the GGUF file names (`mxfp4`,
/// `Q4_K_M`). Without one, the repository must hold a single model. A leading
/// `https://huggingface.co/`, `huggingface.co/` or `hf.co/` is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubRef {
    /// The repository.
    pub repo: RepoId,
    /// The quantisation tag or file, when given.
    pub selector: Option<String>,
}

impl fmt::Display for HubRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.selector {
            Some(selector) => write!(f, "{}:{selector}", self.repo),
            None => write!(f, "{}", self.repo),
        }
    }
}

impl FromStr for HubRef {
    type Err = HubError;

    fn from_str(text: &str) -> Result<HubRef, HubError> {
        let trimmed = text.trim();
        let without_host = ["https://huggingface.co/", "huggingface.co/", "hf.co/"]
            .iter()
            .find_map(|prefix| trimmed.strip_prefix(prefix))
            .unwrap_or(trimmed);
        let (repo, selector) = match without_host.split_once(':') {
            Some((repo, selector)) => (repo, Some(selector)),
            None => (without_host, None),
        };
        let repo: RepoId = repo.parse().map_err(|err| match err {
            HubError::BadReference { reason, .. } => HubError::BadReference {
                input: text.to_string(),
                reason,
            },
            other => other,
        })?;
        let selector = match selector {
            None => None,
            Some("") => {
                return Err(HubError::BadReference {
                    input: text.to_string(),
                    reason: "nothing after ':'; give a quantisation (e.g. :Q4_K_M) or a file name"
                        .into(),
                });
            }
            Some(selector) => {
                if selector
                    .split('/')
                    .any(|part| part.is_empty() || part == "." || part == "..")
                {
                    return Err(HubError::BadReference {
                        input: text.to_string(),
                        reason: format!("'{selector}' is not a file path inside the repository"),
                    });
                }
                Some(selector.to_string())
            }
        };
        Ok(HubRef { repo, selector })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_repo_quant_and_file() {
        let r: HubRef = "ggml-org/gpt-oss-20b-GGUF".parse().unwrap();
        assert_eq!(r.repo.to_string(), "ggml-org/gpt-oss-20b-GGUF");
        assert_eq!(r.selector, None);
        assert_eq!(r.repo.cache_folder(), "models--ggml-org--gpt-oss-20b-GGUF");

        let r: HubRef = "unsloth/gpt-oss-20b-GGUF:Q4_K_M".parse().unwrap();
        assert_eq!(r.selector.as_deref(), Some("Q4_K_M"));
        assert_eq!(r.to_string(), "unsloth/gpt-oss-20b-GGUF:Q4_K_M");

        let r: HubRef = "https://huggingface.co/o/r:sub/m.gguf".parse().unwrap();
        assert_eq!(r.repo.to_string(), "o/r");
        assert_eq!(r.selector.as_deref(), Some("sub/m.gguf"));
        let r: HubRef = "hf.co/o/r".parse().unwrap();
        assert_eq!(r.repo.to_string(), "o/r");
    }

    #[test]
    fn rejects_what_could_escape_the_cache_or_is_not_a_repo() {
        for bad in [
            "gpt-oss-20b",
            "o/r/x",
            "../r",
            "o/..",
            "o/a..b",
            "o/a--b",
            "o/-r",
            "o/r.",
            "o/r b",
            "o/r:",
            "o/r:../x.gguf",
            "o/r:a//b",
            "/r",
        ] {
            let err = bad.parse::<HubRef>().unwrap_err().to_string();
            assert!(err.contains(bad.trim()), "{bad}: {err}");
        }
    }
}
