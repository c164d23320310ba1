//! A Hugging Face Hub lookalike on 127.0.0.1, for tests that download models without the
//! network.
//!
//! It serves the parts of the Hub's HTTP interface a model download uses, the way
//! huggingface.co answers them:
//! * `GET /api/models/OWNER/NAME/revision/REV` (`?blobs=true`): the commit and the files,
//!   with `size`, `blobId` and, for LFS files, `lfs.sha256`;
//! * `GET /OWNER/NAME/resolve/REV/PATH`: an LFS file answers `302` to a content URL
//!   (`/cdn/OWNER/NAME/SHA256`) with `X-Repo-Commit`, `X-Linked-Etag` and `X-Linked-Size`; a regular
//!   file is served directly;
//! * `Range: bytes=N-` / `bytes=N-M` on file bodies (`206`, `416`);
//! * errors with the Hub's `X-Error-Code` header: `RepoNotFound`, `RevisionNotFound`,
//!   `EntryNotFound` (404) and `GatedRepo` (401 without a token, 403 with a wrong one).
//!
//! Faults for tests: [`FakeHub::cut_transfer`] drops the connection part-way through a
//! file's body, and [`FakeFile::corrupt`] serves bytes that do not match the advertised
//! sha256. Every request is recorded ([`FakeHub::requests`]).
//!
//! One request per connection (`Connection: close`), one thread per connection: plenty
//! for tests, and no async runtime needed.
#![deny(missing_docs)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

/// A file in a fake repository.
#[derive(Debug, Clone)]
pub struct FakeFile {
    /// Path in the repository (`model-Q4_K_M.gguf`, `sub/dir/file.bin`).
    pub path: String,
    /// The content the API describes (size, sha256).
    pub data: Vec<u8>,
    /// Stored with Git LFS (served through a redirect, with `lfs.sha256` in the API).
    pub lfs: bool,
    /// What is actually served, when it differs from `data` (a corrupt transfer).
    pub served: Option<Vec<u8>>,
}

impl FakeFile {
    /// An LFS file, as every GGUF on the Hub is.
    pub fn lfs(path: &str, data: Vec<u8>) -> FakeFile {
        FakeFile {
            path: path.to_string(),
            data,
            lfs: true,
            served: None,
        }
    }

    /// A regular (non-LFS) file, such as `README.md`.
    pub fn regular(path: &str, data: Vec<u8>) -> FakeFile {
        FakeFile {
            path: path.to_string(),
            data,
            lfs: false,
            served: None,
        }
    }

    /// Serves the content with its middle byte changed: the size matches, the sha256 does
    /// not.
    pub fn corrupt(mut self) -> FakeFile {
        let mut served = self.data.clone();
        if let Some(byte) = served.get_mut(self.data.len() / 2) {
            *byte ^= 0xff;
        }
        self.served = Some(served);
        self
    }

    /// Hex sha256 of `data`.
    pub fn sha256(&self) -> String {
        hex(&Sha256::digest(&self.data))
    }

    /// A 40-hex-digit stand-in for the git blob id.
    fn blob_id(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"blob ");
        hasher.update(&self.data);
        hex(&hasher.finalize())[..40].to_string()
    }

    fn body(&self) -> &[u8] {
        self.served.as_deref().unwrap_or(&self.data)
    }
}

/// A fake model repository.
#[derive(Debug, Clone)]
pub struct FakeRepo {
    /// `owner/name`.
    pub id: String,
    /// The commit `main` points to (40 hex digits).
    pub commit: String,
    /// The files.
    pub files: Vec<FakeFile>,
    /// A gated repository: downloads need `Authorization: Bearer TOKEN`.
    pub gated_token: Option<String>,
}

impl FakeRepo {
    /// A public repository; its commit is derived from the id and the contents.
    pub fn new(id: &str, files: Vec<FakeFile>) -> FakeRepo {
        let mut hasher = Sha256::new();
        hasher.update(id.as_bytes());
        for file in &files {
            hasher.update(file.path.as_bytes());
            hasher.update(file.sha256().as_bytes());
        }
        FakeRepo {
            id: id.to_string(),
            commit: hex(&hasher.finalize())[..40].to_string(),
            files,
            gated_token: None,
        }
    }

    /// Makes the repository gated: downloads need this token.
    pub fn gated(mut self, token: &str) -> FakeRepo {
        self.gated_token = Some(token.to_string());
        self
    }
}

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `HEAD`, …
    pub method: String,
    /// The path and query.
    pub path: String,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The value of a header (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    repos: HashMap<String, FakeRepo>,
    /// File path → (bytes to send before dropping the connection, transfers left to cut).
    cuts: HashMap<String, (usize, u32)>,
    requests: Vec<Request>,
    /// (file path, request) for every request answered with a file body.
    bodies: Vec<(String, Request)>,
}

/// The running server; stopped when dropped.
pub struct FakeHub {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl FakeHub {
    /// Starts a server on a free port of 127.0.0.1.
    ///
    /// # Panics
    /// When no port can be bound (a test fixture: failing loudly is right).
    #[allow(clippy::expect_used)]
    pub fn start() -> FakeHub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("the bound address");
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let state = Arc::clone(&state);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let state = Arc::clone(&state);
                    std::thread::spawn(move || serve(stream, &state));
                }
            })
        };
        FakeHub {
            addr,
            state,
            stop,
            accept: Some(accept),
        }
    }

    /// The endpoint, for `HF_ENDPOINT`: `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds (or replaces) a repository.
    pub fn add_repo(&self, repo: FakeRepo) {
        lock(&self.state).repos.insert(repo.id.clone(), repo);
    }

    /// The next `times` transfers of the file at `path` (in any repository) send `after`
    /// bytes of the body and then drop the connection.
    pub fn cut_transfer(&self, path: &str, after: usize, times: u32) {
        lock(&self.state)
            .cuts
            .insert(path.to_string(), (after, times));
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.state).requests.clone()
    }

    /// The requests that were answered with (part of) the body of the file at `path`, in
    /// any repository: the content URL of an LFS file, the resolve URL of a regular one.
    pub fn body_requests(&self, path: &str) -> Vec<Request> {
        lock(&self.state)
            .bodies
            .iter()
            .filter(|(file, _)| file == path)
            .map(|(_, request)| request.clone())
            .collect()
    }
}

impl Drop for FakeHub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An HTTP response about to be written.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Drop the connection after this many body bytes.
    cut_after: Option<usize>,
}

impl Response {
    fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            cut_after: None,
        }
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    fn json(self, value: &serde_json::Value) -> Response {
        let mut response = self.header("Content-Type", "application/json");
        response.body = value.to_string().into_bytes();
        response
    }

    /// An error the way the Hub reports it: `X-Error-Code`, `X-Error-Message` and a JSON
    /// body.
    fn hub_error(status: u16, code: &str, message: &str) -> Response {
        Response::new(status)
            .header("X-Error-Code", code)
            .header("X-Error-Message", message)
            .json(&serde_json::json!({ "error": message }))
    }
}

fn serve(mut stream: TcpStream, state: &Mutex<State>) {
    let Some(request) = read_request(&stream) else {
        return;
    };
    let response = route(&request, &mut lock(state));
    let head_only = request.method == "HEAD";
    let _ = write_response(&mut stream, &response, head_only);
    let _ = stream.shutdown(Shutdown::Both);
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    Some(Request {
        method,
        path,
        headers,
    })
}

fn write_response(
    stream: &mut TcpStream,
    response: &Response,
    head_only: bool,
) -> std::io::Result<()> {
    let reason = match response.status {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        _ => "Error",
    };
    let mut head = format!("HTTP/1.1 {} {reason}\r\n", response.status);
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        response.body.len()
    ));
    stream.write_all(head.as_bytes())?;
    if head_only {
        return stream.flush();
    }
    match response.cut_after {
        Some(n) => stream.write_all(&response.body[..n.min(response.body.len())])?,
        None => stream.write_all(&response.body)?,
    }
    stream.flush()
}

fn route(request: &Request, state: &mut State) -> Response {
    state.requests.push(request.clone());
    let path = request.path.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["api", "models", owner, name, "revision", rev] => {
            model_info(state, &format!("{owner}/{name}"), rev)
        }
        [owner, name, "resolve", rev, file @ ..] if !file.is_empty() => {
            let file = file.join("/");
            resolve(request, state, &format!("{owner}/{name}"), rev, &file)
        }
        ["cdn", owner, name, sha] => content(request, state, &format!("{owner}/{name}"), sha),
        _ => Response::hub_error(404, "EntryNotFound", "no such route"),
    }
}

fn find_repo<'a>(state: &'a State, id: &str, rev: &str) -> Result<&'a FakeRepo, Response> {
    let Some(repo) = state.repos.get(id) else {
        return Err(Response::hub_error(
            404,
            "RepoNotFound",
            "Repository not found",
        ));
    };
    if rev != "main" && rev != repo.commit {
        return Err(Response::hub_error(
            404,
            "RevisionNotFound",
            &format!("Invalid rev id: {rev}"),
        ));
    }
    Ok(repo)
}

fn model_info(state: &State, id: &str, rev: &str) -> Response {
    let repo = match find_repo(state, id, rev) {
        Ok(repo) => repo,
        Err(response) => return response,
    };
    let siblings: Vec<serde_json::Value> = repo
        .files
        .iter()
        .map(|file| {
            let mut sibling = serde_json::json!({
                "rfilename": file.path,
                "size": file.data.len(),
                "blobId": file.blob_id(),
            });
            if file.lfs {
                sibling["lfs"] = serde_json::json!({
                    "sha256": file.sha256(),
                    "size": file.data.len(),
                    "pointerSize": 134,
                });
            }
            sibling
        })
        .collect();
    Response::new(200).json(&serde_json::json!({
        "_id": format!("fake-{}", repo.commit),
        "id": repo.id,
        "modelId": repo.id,
        "sha": repo.commit,
        "private": false,
        "gated": if repo.gated_token.is_some() { serde_json::json!("manual") } else { serde_json::json!(false) },
        "siblings": siblings,
    }))
}

fn resolve(request: &Request, state: &mut State, id: &str, rev: &str, path: &str) -> Response {
    let repo = match find_repo(state, id, rev) {
        Ok(repo) => repo,
        Err(response) => return response,
    };
    if let Some(token) = &repo.gated_token {
        let message = format!(
            "Access to model {id} is restricted. You must have access to it and be authenticated to access it. Please log in."
        );
        match request.header("authorization") {
            None => return Response::hub_error(401, "GatedRepo", &message),
            Some(auth) if auth != format!("Bearer {token}") => {
                return Response::hub_error(403, "GatedRepo", &message);
            }
            Some(_) => {}
        }
    }
    let Some(file) = repo.files.iter().find(|f| f.path == path) else {
        return Response::hub_error(404, "EntryNotFound", &format!("Entry not found: {path}"));
    };
    let commit = repo.commit.clone();
    if file.lfs {
        return Response::new(302)
            .header("Location", format!("/cdn/{id}/{}", file.sha256()))
            .header("X-Repo-Commit", commit)
            .header("X-Linked-Etag", format!("\"{}\"", file.sha256()))
            .header("X-Linked-Size", file.data.len().to_string())
            .header("ETag", format!("\"{}\"", file.blob_id()));
    }
    let file = file.clone();
    body(request, state, &file)
        .header("X-Repo-Commit", commit)
        .header("ETag", format!("\"{}\"", file.blob_id()))
}

fn content(request: &Request, state: &mut State, id: &str, sha: &str) -> Response {
    let file = state
        .repos
        .get(id)
        .into_iter()
        .flat_map(|repo| repo.files.iter())
        .find(|file| file.lfs && file.sha256() == sha)
        .cloned();
    match file {
        Some(file) => body(request, state, &file),
        None => Response::hub_error(404, "EntryNotFound", "no such object"),
    }
}

/// The body of `file`, honouring `Range` and any cut set for it.
fn body(request: &Request, state: &mut State, file: &FakeFile) -> Response {
    state.bodies.push((file.path.clone(), request.clone()));
    let data = file.body();
    let len = data.len();
    let (status, start, end) = match request.header("range").and_then(parse_range) {
        None => (200, 0, len),
        Some((start, _)) if start >= len => {
            return Response::new(416).header("Content-Range", format!("bytes */{len}"));
        }
        Some((start, end)) => (206, start, end.map_or(len, |e| (e + 1).min(len))),
    };
    let mut response = Response::new(status).header("Accept-Ranges", "bytes");
    if status == 206 {
        response = response.header(
            "Content-Range",
            format!("bytes {start}-{}/{len}", end.saturating_sub(1)),
        );
    }
    response.body = data[start..end].to_vec();
    if let Some((after, times)) = state.cuts.get_mut(&file.path)
        && *times > 0
    {
        *times -= 1;
        response.cut_after = Some(*after);
    }
    response
}

/// `bytes=N-` or `bytes=N-M` (inclusive end).
fn parse_range(value: &str) -> Option<(usize, Option<usize>)> {
    let spec = value.strip_prefix("bytes=")?;
    let (start, end) = spec.split_once('-')?;
    let start = start.trim().parse().ok()?;
    let end = match end.trim() {
        "" => None,
        end => Some(end.parse().ok()?),
    };
    Some((start, end))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn get(hub: &FakeHub, path: &str, headers: &[(&str, &str)]) -> (String, Vec<u8>) {
        use std::io::Read;
        let mut stream = TcpStream::connect(hub.addr).unwrap();
        let mut request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        (
            String::from_utf8_lossy(&response[..split]).into_owned(),
            response[split + 4..].to_vec(),
        )
    }

    #[test]
    fn serves_info_redirects_ranges_and_errors() {
        let hub = FakeHub::start();
        let file = FakeFile::lfs("m.gguf", b"0123456789".to_vec());
        let sha = file.sha256();
        hub.add_repo(FakeRepo::new("o/r", vec![file]));

        let (head, body) = get(&hub, "/api/models/o/r/revision/main?blobs=true", &[]);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let info: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(info["siblings"][0]["lfs"]["sha256"], sha);

        let (head, _) = get(&hub, "/o/r/resolve/main/m.gguf", &[]);
        assert!(head.starts_with("HTTP/1.1 302"), "{head}");
        assert!(
            head.contains(&format!("Location: /cdn/o/r/{sha}")),
            "{head}"
        );

        let (head, body) = get(&hub, &format!("/cdn/o/r/{sha}"), &[("Range", "bytes=4-")]);
        assert!(head.starts_with("HTTP/1.1 206"), "{head}");
        assert!(head.contains("Content-Range: bytes 4-9/10"), "{head}");
        assert_eq!(body, b"456789");

        let (head, _) = get(&hub, &format!("/cdn/o/r/{sha}"), &[("Range", "bytes=10-")]);
        assert!(head.starts_with("HTTP/1.1 416"), "{head}");

        hub.cut_transfer("m.gguf", 3, 1);
        let (_, body) = get(&hub, &format!("/cdn/o/r/{sha}"), &[]);
        assert_eq!(body, b"012");
        let (_, body) = get(&hub, &format!("/cdn/o/r/{sha}"), &[]);
        assert_eq!(body, b"0123456789");
        assert_eq!(hub.body_requests("m.gguf").len(), 4);

        let (head, _) = get(&hub, "/api/models/o/missing/revision/main", &[]);
        assert!(head.starts_with("HTTP/1.1 404"), "{head}");
        assert!(head.contains("X-Error-Code: RepoNotFound"), "{head}");
    }

    #[test]
    fn gated_repos_need_the_token() {
        let hub = FakeHub::start();
        hub.add_repo(
            FakeRepo::new("o/g", vec![FakeFile::regular("a.txt", b"hi".to_vec())]).gated("tok"),
        );
        let (head, _) = get(&hub, "/o/g/resolve/main/a.txt", &[]);
        assert!(head.starts_with("HTTP/1.1 401"), "{head}");
        assert!(head.contains("X-Error-Code: GatedRepo"), "{head}");
        let (head, _) = get(
            &hub,
            "/o/g/resolve/main/a.txt",
            &[("Authorization", "Bearer no")],
        );
        assert!(head.starts_with("HTTP/1.1 403"), "{head}");
        let (head, body) = get(
            &hub,
            "/o/g/resolve/main/a.txt",
            &[("Authorization", "Bearer tok")],
        );
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert_eq!(body, b"hi");
    }
}
