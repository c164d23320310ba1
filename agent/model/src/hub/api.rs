//! The Hub's HTTP interface: the model-info API and the errors it reports.
//!
//! `GET {endpoint}/api/models/{repo}/revision/{rev}?blobs=true` answers the commit the
//! revision points to and every file with its size and, for LFS files, its sha256
//! (`siblings[].lfs.sha256`). Errors carry an `X-Error-Code` header (`RepoNotFound`,
//! `GatedRepo`, `EntryNotFound`, `RevisionNotFound`) and an `X-Error-Message`.

use reqwest::header::AUTHORIZATION;
use serde::Deserialize;

use super::cache::{is_commit, is_safe_repo_path, is_sha256};
use super::{HubError, HubOptions, RepoId};

/// A file of a repository at one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RepoFile {
    /// Path in the repository.
    pub path: String,
    /// Size in bytes, when the API gave it.
    pub size: Option<u64>,
    /// The LFS sha256 (hex): the content's checksum and its blob name in the cache.
    pub sha256: Option<String>,
    /// The git blob id: the blob name of a file stored without LFS.
    pub blob_id: Option<String>,
}

/// A repository at one commit.
#[derive(Debug, Clone)]
pub(crate) struct RepoListing {
    pub commit: String,
    pub files: Vec<RepoFile>,
}

#[derive(Deserialize)]
struct ModelInfo {
    sha: Option<String>,
    #[serde(default)]
    siblings: Vec<Sibling>,
}

#[derive(Deserialize)]
struct Sibling {
    rfilename: String,
    size: Option<u64>,
    #[serde(rename = "blobId")]
    blob_id: Option<String>,
    lfs: Option<Lfs>,
}

#[derive(Deserialize)]
struct Lfs {
    sha256: String,
    size: u64,
}

/// Adds the token, when there is one.
pub(crate) fn authorized(
    request: reqwest::RequestBuilder,
    options: &HubOptions,
) -> reqwest::RequestBuilder {
    match &options.token {
        Some(token) => request.header(AUTHORIZATION, format!("Bearer {token}")),
        None => request,
    }
}

/// `endpoint` with `segments` appended, each percent-encoded.
pub(crate) fn url(endpoint: &str, segments: &[&str]) -> Result<reqwest::Url, HubError> {
    let mut url = reqwest::Url::parse(endpoint).map_err(|err| HubError::BadEndpoint {
        endpoint: endpoint.to_string(),
        reason: err.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(HubError::BadEndpoint {
            endpoint: endpoint.to_string(),
            reason: "it must start with https:// (or http://)".into(),
        });
    }
    url.path_segments_mut()
        .map_err(|()| HubError::BadEndpoint {
            endpoint: endpoint.to_string(),
            reason: "it cannot have a path".into(),
        })?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// The files of `repo` at `revision`.
pub(crate) async fn list_files(
    client: &reqwest::Client,
    options: &HubOptions,
    repo: &RepoId,
    revision: &str,
) -> Result<RepoListing, HubError> {
    let mut url = url(
        &options.endpoint,
        &[
            "api",
            "models",
            repo.owner(),
            repo.name(),
            "revision",
            revision,
        ],
    )?;
    url.set_query(Some("blobs=true"));
    let response = authorized(client.get(url.clone()), options)
        .send()
        .await
        .map_err(|source| HubError::network(&url, source))?;
    if !response.status().is_success() {
        return Err(error_for(response, options, repo, None).await);
    }
    let info: ModelInfo = response.json().await.map_err(|err| HubError::Protocol {
        url: url.to_string(),
        reason: format!("the model info is not the JSON the Hub sends ({err})"),
    })?;
    let protocol = |reason: String| HubError::Protocol {
        url: url.to_string(),
        reason,
    };
    let commit = info
        .sha
        .filter(|sha| is_commit(sha))
        .ok_or_else(|| protocol("the model info has no commit id ('sha')".into()))?;
    let mut files = Vec::with_capacity(info.siblings.len());
    for sibling in info.siblings {
        if !is_safe_repo_path(&sibling.rfilename) {
            return Err(protocol(format!(
                "the file name '{}' would leave the cache folder",
                sibling.rfilename
            )));
        }
        let (sha256, size) = match sibling.lfs {
            Some(lfs) if is_sha256(&lfs.sha256) => (Some(lfs.sha256), Some(lfs.size)),
            Some(lfs) => {
                return Err(protocol(format!(
                    "'{}' has a malformed LFS sha256 '{}'",
                    sibling.rfilename, lfs.sha256
                )));
            }
            None => (None, sibling.size),
        };
        files.push(RepoFile {
            path: sibling.rfilename,
            size,
            sha256,
            blob_id: sibling
                .blob_id
                .filter(|id| id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit())),
        });
    }
    Ok(RepoListing { commit, files })
}

/// The error a failed Hub response stands for. `file` is the file being downloaded, if
/// any.
pub(crate) async fn error_for(
    response: reqwest::Response,
    options: &HubOptions,
    repo: &RepoId,
    file: Option<&str>,
) -> HubError {
    let status = response.status().as_u16();
    let url = response.url().to_string();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let code = header("x-error-code").unwrap_or_default();
    let header_message = header("x-error-message");
    let body = response.text().await.unwrap_or_default();
    let message = header_message.unwrap_or_else(|| {
        serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or_else(|| body.chars().take(300).collect())
    });
    let authenticated = options.token.is_some();
    match (code.as_str(), status) {
        ("GatedRepo", _) => HubError::Gated {
            repo: repo.clone(),
            page: format!("{}/{repo}", options.endpoint.trim_end_matches('/')),
            authenticated,
        },
        ("RepoNotFound", _) => HubError::RepoNotFound {
            repo: repo.clone(),
            endpoint: options.endpoint.clone(),
            authenticated,
        },
        ("EntryNotFound", _) => HubError::FileNotFound {
            repo: repo.clone(),
            file: file.unwrap_or_default().to_string(),
        },
        (_, 401 | 403) => HubError::Unauthorized {
            repo: repo.clone(),
            authenticated,
            message,
        },
        (_, 404) if file.is_none() => HubError::RepoNotFound {
            repo: repo.clone(),
            endpoint: options.endpoint.clone(),
            authenticated,
        },
        (_, 404) => HubError::FileNotFound {
            repo: repo.clone(),
            file: file.unwrap_or_default().to_string(),
        },
        _ => HubError::Http {
            url,
            status,
            message,
        },
    }
}
