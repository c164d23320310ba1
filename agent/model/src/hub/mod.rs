//! Models from the Hugging Face Hub, kept in the Hub's shared cache.
//!
//! [`Hub::pull`] turns `REPO[:QUANT|FILE]` ([`HubRef`]) into local GGUF paths: it asks the
//! Hub's API which files the repository has at its current commit (with their LFS
//! sha256), picks the model ([`HubRef`] explains how), downloads what the cache lacks with
//! resume and checksum ([`download`]), and returns the snapshot paths. A split model
//! (`NAME-00001-of-00003.gguf`, …) is fetched whole; llama.cpp loads it from the first
//! part. The cache is the one `huggingface_hub` and llama.cpp use ([`cache`]), so models
//! are shared with other tools.
//!
//! The environment is read the way `huggingface_hub` reads it ([`HubOptions::from_env`]):
//! `HF_ENDPOINT`, `HF_TOKEN` (or the token file `huggingface-cli login` writes),
//! `HF_HUB_CACHE` / `HF_HOME`, and `HF_HUB_OFFLINE`, under which only the cache is used.
//!
//! Built on reqwest against the Hub's documented HTTP interface rather than the `hf-hub`
//! crate: hf-hub 1.0 pulls in the Xet client and a second reqwest and TLS stack, and
//! neither 1.0 nor 0.4 checks the sha256 of what it downloads or honours
//! `HF_HUB_OFFLINE` (1.0 also restarts interrupted plain-HTTP downloads from zero), so
//! those would have to be written here anyway.

mod api;
mod cache;
mod download;
mod progress;
mod reference;
mod select;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use progress::{NoProgress, Progress, TerminalProgress};
pub use reference::{HubRef, RepoId};

/// The Hub's public endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
/// gpt-oss-20b in MXFP4, as published by ggml-org (one 12 GiB file).
pub const GPT_OSS_20B: &str = "ggml-org/gpt-oss-20b-GGUF";
/// gpt-oss-120b in MXFP4, as published by ggml-org (three parts).
pub const GPT_OSS_120B: &str = "ggml-org/gpt-oss-120b-GGUF";

/// What can go wrong getting a model from the Hub. Every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The `REPO[:QUANT|FILE]` text is malformed.
    #[error("'{input}' is not a Hub model reference: {reason}")]
    BadReference {
        /// What was given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `HF_ENDPOINT` is not a usable URL.
    #[error("HF_ENDPOINT '{endpoint}' is not a usable URL: {reason}")]
    BadEndpoint {
        /// The endpoint.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// No cache folder can be found.
    #[error(
        "cannot find the Hugging Face cache: set HF_HOME (or HF_HUB_CACHE, or HOME) to where models may be kept"
    )]
    NoCacheDir,
    /// The repository does not exist (or is private and the token cannot see it).
    #[error("{}", repo_not_found(repo, endpoint, *authenticated))]
    RepoNotFound {
        /// The repository.
        repo: RepoId,
        /// The endpoint asked.
        endpoint: String,
        /// Whether a token was sent.
        authenticated: bool,
    },
    /// The repository is gated and the token (if any) has no access.
    #[error("{}", gated(repo, page, *authenticated))]
    Gated {
        /// The repository.
        repo: RepoId,
        /// Its page, where access is requested.
        page: String,
        /// Whether a token was sent.
        authenticated: bool,
    },
    /// The Hub refused the request (401/403) for another reason.
    #[error("{}", unauthorized(repo, *authenticated, message))]
    Unauthorized {
        /// The repository.
        repo: RepoId,
        /// Whether a token was sent.
        authenticated: bool,
        /// The Hub's message.
        message: String,
    },
    /// A file is not in the repository.
    #[error("{repo} has no file '{file}'")]
    FileNotFound {
        /// The repository.
        repo: RepoId,
        /// The file.
        file: String,
    },
    /// The repository has no GGUF file.
    #[error("{repo} has no GGUF model file (ossa runs GGUF models; try ggml-org/gpt-oss-20b-GGUF)")]
    NoGguf {
        /// The repository.
        repo: RepoId,
    },
    /// Nothing matches the quantisation tag or file name.
    #[error(
        "no GGUF in {repo} matches '{selector}'; it has:\n{}\npick one with {repo}:QUANT or {repo}:FILE",
        list(choices)
    )]
    NoMatch {
        /// The repository.
        repo: RepoId,
        /// What was asked for.
        selector: String,
        /// The models there are.
        choices: Vec<String>,
    },
    /// Several models match (or none was named and there are several).
    #[error(
        "{} in {repo}:\n{}\npick one with {repo}:QUANT (e.g. :Q4_K_M) or {repo}:FILE",
        match selector { Some(s) => format!("'{s}' matches several models"), None => "there are several models".to_string() },
        list(choices)
    )]
    Ambiguous {
        /// The repository.
        repo: RepoId,
        /// What was asked for, if anything.
        selector: Option<String>,
        /// The candidates.
        choices: Vec<String>,
    },
    /// Parts of a split model are missing from the repository (or the cache).
    #[error(
        "the split model {model} in {repo} lacks part(s) {}",
        missing.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
    )]
    IncompleteSplit {
        /// The repository.
        repo: RepoId,
        /// The model (file name without the part suffix).
        model: String,
        /// The missing part numbers (1-based).
        missing: Vec<u32>,
    },
    /// The downloaded bytes do not have the sha256 the Hub published. Nothing was kept.
    #[error(
        "the download of '{file}' is corrupt: its sha256 is {actual}, the Hub says {expected}; \
         the bad copy was deleted, run the command again to download it afresh"
    )]
    Checksum {
        /// The file.
        file: String,
        /// The Hub's sha256.
        expected: String,
        /// The sha256 of what arrived.
        actual: String,
    },
    /// The download has another size than the Hub published. Nothing was kept.
    #[error(
        "the download of '{file}' has {actual} bytes, the Hub says {expected}; the bad copy was deleted, run the command again"
    )]
    SizeMismatch {
        /// The file.
        file: String,
        /// The Hub's size.
        expected: u64,
        /// What arrived.
        actual: u64,
    },
    /// The transfer broke off; what arrived is kept and the next run resumes after it.
    #[error(
        "the download of '{file}' broke off after {received} bytes ({reason}); run the command again to resume it"
    )]
    Interrupted {
        /// The file.
        file: String,
        /// Bytes on disk.
        received: u64,
        /// What happened.
        reason: String,
    },
    /// `HF_HUB_OFFLINE` is set and the model is not in the cache.
    #[error(
        "HF_HUB_OFFLINE is set and {reference} is not in the cache ({cache}): {reason}; \
         download it first with `ossa pull {reference}` while online"
    )]
    NotCached {
        /// What was asked for.
        reference: String,
        /// The cache folder searched.
        cache: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// The Hub could not be reached.
    #[error(
        "cannot reach the Hugging Face Hub at {url} (check the network, or set HF_ENDPOINT to a \
         mirror; with HF_HUB_OFFLINE=1 only cached models are used)"
    )]
    Network {
        /// The URL asked.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// Another HTTP error.
    #[error("the Hub answered {status} for {url}: {message}")]
    Http {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The Hub's message.
        message: String,
    },
    /// The Hub's answer is not what its API documents.
    #[error("unexpected answer from {url}: {reason}")]
    Protocol {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A file in the cache could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl HubError {
    fn network(url: &reqwest::Url, source: reqwest::Error) -> HubError {
        HubError::Network {
            url: url.to_string(),
            source,
        }
    }
}

fn list(choices: &[String]) -> String {
    choices
        .iter()
        .map(|c| format!("  {c}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn repo_not_found(repo: &RepoId, endpoint: &str, authenticated: bool) -> String {
    let hint = if authenticated {
        "check the name, and that HF_TOKEN's account can see it if it is private"
    } else {
        "check the name; a private repository needs HF_TOKEN"
    };
    format!("the repository {repo} was not found on {endpoint} ({hint})")
}

fn gated(repo: &RepoId, page: &str, authenticated: bool) -> String {
    if authenticated {
        format!(
            "{repo} is gated and HF_TOKEN's account has no access yet: accept its terms at {page}, then run again"
        )
    } else {
        format!(
            "{repo} is gated: accept its terms at {page} and set HF_TOKEN to a token of that account (https://huggingface.co/settings/tokens)"
        )
    }
}

fn unauthorized(repo: &RepoId, authenticated: bool, message: &str) -> String {
    if authenticated {
        format!("the Hub refused HF_TOKEN for {repo} ({message}): check that the token is valid")
    } else {
        format!("the Hub wants a token for {repo} ({message}): set HF_TOKEN")
    }
}

/// Where and how to reach the Hub.
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// The Hub's URL (`HF_ENDPOINT`, default [`DEFAULT_ENDPOINT`]).
    pub endpoint: String,
    /// Sent as `Authorization: Bearer` (`HF_TOKEN`).
    pub token: Option<String>,
    /// The cache folder (`HF_HUB_CACHE`, `$HF_HOME/hub`, `~/.cache/huggingface/hub`).
    pub cache_dir: PathBuf,
    /// Use only the cache (`HF_HUB_OFFLINE`).
    pub offline: bool,
    /// Further attempts after a transfer breaks off (each resumes).
    pub retries: u32,
    /// The wait before the first retry; it doubles each time.
    pub retry_delay: Duration,
}

impl HubOptions {
    /// The options the process environment describes.
    pub fn from_env() -> Result<HubOptions, HubError> {
        HubOptions::from_lookup(|name| std::env::var(name).ok())
    }

    /// The options the variables `var` returns describe (for tests: no process
    /// environment).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<HubOptions, HubError> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let hf_home = var("HF_HOME").map(PathBuf::from).or_else(|| {
            var("XDG_CACHE_HOME")
                .map(|xdg| PathBuf::from(xdg).join("huggingface"))
                .or_else(|| var("HOME").map(|home| PathBuf::from(home).join(".cache/huggingface")))
        });
        let cache_dir = var("HF_HUB_CACHE")
            .map(PathBuf::from)
            .or_else(|| hf_home.as_ref().map(|home| home.join("hub")))
            .ok_or(HubError::NoCacheDir)?;
        let token_file = var("HF_TOKEN_PATH")
            .map(PathBuf::from)
            .or_else(|| hf_home.as_ref().map(|home| home.join("token")));
        let token = var("HF_TOKEN")
            .or_else(|| var("HUGGING_FACE_HUB_TOKEN"))
            .or_else(|| {
                token_file
                    .and_then(|path| std::fs::read_to_string(path).ok())
                    .map(|text| text.trim().to_string())
                    .filter(|text| !text.is_empty())
            })
            .map(|token| token.trim().to_string());
        let offline = var("HF_HUB_OFFLINE").is_some_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        });
        Ok(HubOptions {
            endpoint: var("HF_ENDPOINT")
                .map(|e| e.trim().trim_end_matches('/').to_string())
                .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string()),
            token,
            cache_dir,
            offline,
            retries: 3,
            retry_delay: Duration::from_secs(1),
        })
    }
}

/// A model in the cache, ready to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulledModel {
    /// The repository.
    pub repo: RepoId,
    /// The commit the files come from.
    pub commit: String,
    /// The snapshot paths of the model's files, first part first.
    pub files: Vec<PathBuf>,
    /// True when the Hub was not asked (offline) or could not be reached and the cache
    /// answered instead.
    pub from_cache_only: bool,
}

impl PulledModel {
    /// The path to load: the file, or the first part of a split model.
    pub fn model_path(&self) -> &Path {
        self.files.first().map_or(Path::new(""), PathBuf::as_path)
    }
}

/// A client of the Hub with its cache.
#[derive(Debug, Clone)]
pub struct Hub {
    options: HubOptions,
    client: reqwest::Client,
}

impl Hub {
    /// A client for `options`.
    pub fn new(options: HubOptions) -> Result<Hub, HubError> {
        url(&options.endpoint)?;
        let client = reqwest::Client::builder()
            .user_agent(concat!("ossa/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            // A stalled transfer fails (and resumes) instead of hanging.
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|source| HubError::Network {
                url: options.endpoint.clone(),
                source,
            })?;
        Ok(Hub { options, client })
    }

    /// A client configured from the environment ([`HubOptions::from_env`]).
    pub fn from_env() -> Result<Hub, HubError> {
        Hub::new(HubOptions::from_env()?)
    }

    /// The options in use.
    pub fn options(&self) -> &HubOptions {
        &self.options
    }

    /// Makes the model `reference` names available in the cache, downloading what is
    /// missing, and returns its files. Offline, or when the Hub cannot be reached, the
    /// cache alone answers.
    pub async fn pull(
        &self,
        reference: &HubRef,
        progress: &mut dyn Progress,
    ) -> Result<PulledModel, HubError> {
        if self.options.offline {
            return self.cached(reference);
        }
        let listing =
            match api::list_files(&self.client, &self.options, &reference.repo, "main").await {
                Ok(listing) => listing,
                Err(err @ HubError::Network { .. }) => {
                    return match self.cached(reference) {
                        Ok(model) => {
                            tracing::warn!("{err}; using the cached copy of {reference}");
                            Ok(model)
                        }
                        Err(_) => Err(err),
                    };
                }
                Err(err) => return Err(err),
            };
        let chosen = select::choose(
            &reference.repo,
            listing.files.iter().map(|f| f.path.as_str()),
            reference.selector.as_deref(),
        )?;
        let cache = cache::RepoCache::new(&self.options.cache_dir, &reference.repo);
        let mut files = Vec::with_capacity(chosen.len());
        for path in &chosen {
            let Some(file) = listing.files.iter().find(|f| &f.path == path) else {
                continue;
            };
            files.push(
                download::fetch_file(
                    &self.client,
                    &self.options,
                    &cache,
                    &reference.repo,
                    &listing.commit,
                    file,
                    progress,
                )
                .await?,
            );
        }
        cache.write_ref("main", &listing.commit)?;
        Ok(PulledModel {
            repo: reference.repo.clone(),
            commit: listing.commit,
            files,
            from_cache_only: false,
        })
    }

    /// The model `reference` names as the cache holds it (the commit `refs/main` records),
    /// without asking the Hub.
    pub fn cached(&self, reference: &HubRef) -> Result<PulledModel, HubError> {
        let cache = cache::RepoCache::new(&self.options.cache_dir, &reference.repo);
        let not_cached = |reason: String| HubError::NotCached {
            reference: reference.to_string(),
            cache: self.options.cache_dir.clone(),
            reason,
        };
        let Some(commit) = cache.read_ref("main") else {
            return Err(not_cached(format!(
                "{} has never been downloaded",
                reference.repo
            )));
        };
        let paths = cache.snapshot_files(&commit);
        let chosen = select::choose(
            &reference.repo,
            paths.iter().map(String::as_str),
            reference.selector.as_deref(),
        )
        .map_err(|err| not_cached(err.to_string()))?;
        Ok(PulledModel {
            repo: reference.repo.clone(),
            files: chosen
                .iter()
                .map(|path| cache.snapshot(&commit, path))
                .collect(),
            commit,
            from_cache_only: true,
        })
    }
}

fn url(endpoint: &str) -> Result<reqwest::Url, HubError> {
    api::url(endpoint, &[])
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn options(vars: &[(&str, &str)]) -> Result<HubOptions, HubError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        HubOptions::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn environment_follows_huggingface_hub() {
        let o = options(&[("HOME", "/home/u")]).unwrap();
        assert_eq!(o.endpoint, DEFAULT_ENDPOINT);
        assert_eq!(o.cache_dir, Path::new("/home/u/.cache/huggingface/hub"));
        assert_eq!(o.token, None);
        assert!(!o.offline);

        let o = options(&[
            ("HOME", "/home/u"),
            ("XDG_CACHE_HOME", "/xdg"),
            ("HF_ENDPOINT", "http://127.0.0.1:9/"),
            ("HF_TOKEN", " hf_abc \n"),
            ("HF_HUB_OFFLINE", "1"),
        ])
        .unwrap();
        assert_eq!(o.cache_dir, Path::new("/xdg/huggingface/hub"));
        assert_eq!(o.endpoint, "http://127.0.0.1:9");
        assert_eq!(o.token.as_deref(), Some("hf_abc"));
        assert!(o.offline);

        let o = options(&[("HF_HOME", "/hf"), ("HF_HUB_OFFLINE", "0")]).unwrap();
        assert_eq!(o.cache_dir, Path::new("/hf/hub"));
        assert!(!o.offline);
        let o = options(&[("HF_HOME", "/hf"), ("HF_HUB_CACHE", "/c")]).unwrap();
        assert_eq!(o.cache_dir, Path::new("/c"));

        // The token `huggingface-cli login` saved.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "hf_saved\n").unwrap();
        let o = options(&[("HF_HOME", dir.path().to_str().unwrap())]).unwrap();
        assert_eq!(o.token.as_deref(), Some("hf_saved"));

        assert!(matches!(options(&[]), Err(HubError::NoCacheDir)));
    }

    #[test]
    fn a_bad_endpoint_is_refused_up_front() {
        for endpoint in ["localhost:8080", "ftp://mirror", "not a url"] {
            let o = HubOptions {
                endpoint: endpoint.into(),
                ..options(&[("HOME", "/h")]).unwrap()
            };
            let err = Hub::new(o).unwrap_err().to_string();
            assert!(
                err.contains("HF_ENDPOINT") && err.contains(endpoint),
                "{err}"
            );
        }
    }
}
