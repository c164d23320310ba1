//! The tasks ossa-nano learns: small coding-agent requests over the native tools, with
//! random names and contents the model has to copy, and the exact completions it should
//! write for them.
//!
//! Every name and word is made of random syllables. A word belongs to the held-out pool
//! when its hash says so ([`Split`]), so held-out tasks use names training never saw, and
//! held-out requests use wordings training never saw.

use ossa_tiny_gguf::numeric::Rng;
use serde::{Deserialize, Serialize};

/// Which pool names and wordings come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// Training data.
    Train,
    /// Evaluation and end-to-end tests: names and wordings training never contained.
    Heldout,
}

/// What the user asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// "What does FILE say?": open_file, then quote it.
    Read,
    /// "Create FILE containing TEXT": apply_patch with an Add File, then confirm.
    Create,
    /// "Where is WORD used?": search, then name the file.
    Search,
    /// "Show me the line with WORD": search, open the hit, quote the line.
    SearchOpen,
    /// "Run SCRIPT and tell me what it prints": container.exec, then report the output.
    Exec,
}

impl Kind {
    /// Every kind, in the order episodes cycle through them.
    pub const ALL: [Kind; 5] = [
        Kind::Read,
        Kind::Create,
        Kind::Search,
        Kind::SearchOpen,
        Kind::Exec,
    ];
}

/// One task: the workspace to start from, the request, and what a correct run leaves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// What kind of task.
    pub kind: Kind,
    /// Files to create before the run: (relative path, content).
    pub files: Vec<(String, String)>,
    /// The user's request.
    pub request: String,
    /// Texts a correct final answer contains.
    pub answer_contains: Vec<String>,
    /// A file a correct run leaves, with its content.
    pub creates: Option<(String, String)>,
    /// The file, word or script the task is about.
    subject: String,
    /// The text to quote, write or expect (file line, new content, script output).
    text: String,
}

const CONSONANTS: &[u8] = b"bdfgklmnprstvz";
const VOWELS: &[u8] = b"aeiou";
const EXTENSIONS: [&str; 5] = ["txt", "md", "log", "cfg", "ini"];

/// FNV-1a, to assign words to a split without a table.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Random choices for one split.
pub struct Generator {
    rng: Rng,
    split: Split,
}

impl Generator {
    /// A generator of `split` tasks from `seed`.
    pub fn new(seed: u64, split: Split) -> Generator {
        let stream = match split {
            Split::Train => "train",
            Split::Heldout => "heldout",
        };
        Generator {
            rng: Rng::new(seed, stream),
            split,
        }
    }

    fn below(&mut self, n: usize) -> usize {
        (self.rng.next_u64() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// A random word of 2 or 3 syllables from this split's pool.
    pub fn word(&mut self) -> String {
        loop {
            let syllables = 2 + self.below(2);
            let mut word = String::new();
            for _ in 0..syllables {
                word.push(char::from(CONSONANTS[self.below(CONSONANTS.len())]));
                word.push(char::from(VOWELS[self.below(VOWELS.len())]));
            }
            let heldout = fnv(&word).is_multiple_of(5);
            if heldout == (self.split == Split::Heldout) {
                return word;
            }
        }
    }

    /// `least` to `least + spread - 1` random words joined by spaces.
    fn words(&mut self, least: usize, spread: usize) -> String {
        let n = least + self.below(spread);
        (0..n).map(|_| self.word()).collect::<Vec<_>>().join(" ")
    }

    /// A relative file path: `name.ext` or `dir/name.ext`.
    fn path(&mut self, ext: Option<&str>) -> String {
        let ext = ext.map_or_else(|| self.pick(&EXTENSIONS).to_string(), str::to_string);
        let name = self.word();
        if self.below(2) == 0 {
            format!("{name}.{ext}")
        } else {
            format!("{}/{name}.{ext}", self.word())
        }
    }

    /// Files that have nothing to do with the task, none at `avoid` or containing `word`.
    fn filler(&mut self, avoid: &[&str], word: &str) -> Vec<(String, String)> {
        let mut files = Vec::new();
        for _ in 0..1 + self.below(2) {
            let path = self.path(None);
            let content = format!("{}\n", self.words(2, 4));
            if avoid.contains(&path.as_str()) || content.contains(word) {
                continue;
            }
            files.push((path, content));
        }
        files
    }

    /// The request's wording, `{s}` standing for the subject and `{t}` for the text.
    ///
    /// A request is a frame ("Can you {v}?") around what to do ("read {s}"). Frames are
    /// shared by every kind, so what tells the kinds apart is what is asked (read, create,
    /// find, quote a line, run) and about what (a file, a file and a text, a word, a
    /// script), not a memorised sentence. A held-out request has a frame or a phrasing of
    /// what to do that training never contained, so the whole sentence is new.
    fn wording(&mut self, kind: Kind) -> String {
        let (train, heldout): (&[&str], &str) = match kind {
            Kind::Read => (
                &[
                    "read {s}",
                    "open {s}",
                    "show me {s}",
                    "tell me what {s} says",
                    "show me what is in {s}",
                    "print the contents of {s}",
                    "tell me what is written in {s}",
                    "look at {s} and tell me what it says",
                ],
                "open {s} and show me what it says",
            ),
            Kind::Create => (
                &[
                    "create {s} containing {t}",
                    "create a file {s} with the text {t}",
                    "make a new file {s} that says {t}",
                    "add a file {s} containing {t}",
                    "write a new file {s} with the content {t}",
                    "add {s} with the text {t}",
                    "write {s} containing {t}",
                ],
                "make a file {s} with the content {t}",
            ),
            Kind::Search => (
                &[
                    "find where {s} is used",
                    "tell me which file mentions {s}",
                    "search the repository for {s}",
                    "tell me which file contains {s}",
                    "look for {s} in the repo",
                    "find the file that uses {s}",
                    "locate {s} in the workspace",
                    "find {s}",
                ],
                "search for the file that mentions {s}",
            ),
            Kind::SearchOpen => (
                &[
                    "show me the line that mentions {s}",
                    "find {s} and quote the line it is on",
                    "quote the line containing {s}",
                    "print the line with {s}",
                    "search for {s}, open the file and show me that line",
                    "find the line mentioning {s}",
                    "give me the line where {s} is used",
                    "show me the whole line that contains {s}",
                ],
                "quote the line where {s} is mentioned",
            ),
            Kind::Exec => (
                &[
                    "run {s} and tell me what it prints",
                    "execute {s} and report its output",
                    "run the script {s} and show me the output",
                    "run {s}",
                    "execute {s}",
                    "tell me what {s} prints",
                    "start {s} and tell me the result",
                    "try running {s}",
                ],
                "run {s} and report what it prints",
            ),
        };
        const FRAMES: [&str; 10] = [
            "{V}.",
            "Please {v}.",
            "Can you {v}?",
            "Could you {v}?",
            "I want you to {v}.",
            "{V}, please.",
            "Hi! {V}.",
            "Quick question: can you {v}?",
            "Go ahead and {v}.",
            "I need you to {v}.",
        ];
        const HELDOUT_FRAMES: [&str; 2] = ["Would you {v}?", "Kindly {v}."];
        let coin = self.below(2);
        let (frame, phrase) = match self.split {
            Split::Train => (self.pick(&FRAMES), train[self.below(train.len())]),
            // Half of the held-out requests put a known phrasing in a new frame, half a
            // new phrasing in a known frame.
            Split::Heldout if coin == 0 => {
                (self.pick(&HELDOUT_FRAMES), train[self.below(train.len())])
            }
            Split::Heldout => (self.pick(&FRAMES), heldout),
        };
        let mut capitalised = phrase.to_string();
        capitalised[..1].make_ascii_uppercase();
        frame.replace("{V}", &capitalised).replace("{v}", phrase)
    }

    /// A random task of `kind`.
    pub fn task(&mut self, kind: Kind) -> Task {
        let wording = self.wording(kind);
        let (subject, text, mut files, answer_contains, creates) = match kind {
            Kind::Read => {
                let path = self.path(None);
                let text = self.words(3, 4);
                let mut files = self.filler(&[&path], "");
                files.push((path.clone(), format!("{text}\n")));
                (path, text.clone(), files, vec![text], None)
            }
            Kind::Create => {
                let path = self.path(None);
                let text = self.words(2, 4);
                let files = self.filler(&[&path], "");
                let creates = Some((path.clone(), format!("{text}\n")));
                (path.clone(), text, files, vec![path], creates)
            }
            Kind::Search | Kind::SearchOpen => {
                let word = self.word();
                let path = self.path(None);
                let before = self.words(1, 2);
                let after = self.words(1, 2);
                let line = format!("{before} {word} {after}");
                let mut lines: Vec<String> = (0..self.below(3))
                    .map(|_| self.words(2, 3))
                    .filter(|l| !l.contains(&word))
                    .collect();
                let at = self.below(lines.len() + 1);
                lines.insert(at, line.clone());
                let mut files = self.filler(&[&path], &word);
                files.push((path.clone(), format!("{}\n", lines.join("\n"))));
                let expect = match kind {
                    Kind::Search => vec![path],
                    _ => vec![line.clone()],
                };
                (word, line, files, expect, None)
            }
            Kind::Exec => {
                let script = self.path(Some("sh"));
                let text = self.words(2, 4);
                let mut files = self.filler(&[&script], "");
                files.push((script.clone(), format!("echo {text}\n")));
                (script, text.clone(), files, vec![text], None)
            }
        };
        // The file the task is about is not always the last one created.
        if !files.is_empty() {
            let n = files.len();
            files.swap(n - 1, self.below(n));
        }
        let request = wording.replace("{s}", &subject).replace("{t}", &text);
        Task {
            kind,
            files,
            request,
            answer_contains,
            creates,
            subject,
            text,
        }
    }

    /// A random date between 2025-01-01 and 2027-12-28, as the system message writes it.
    pub fn date(&mut self) -> String {
        format!(
            "{}-{:02}-{:02}",
            2025 + self.below(3),
            1 + self.below(12),
            1 + self.below(28)
        )
    }

    /// A random absolute workspace path, as users' repositories are named.
    pub fn workspace(&mut self) -> String {
        let user = self.word();
        let project = self.word();
        match self.below(5) {
            0 => format!("/home/{user}/{project}"),
            1 => format!("/home/{user}/src/{project}"),
            2 => format!("/Users/{user}/code/{project}"),
            3 => format!("/tmp/{project}"),
            _ => format!("/work/{project}"),
        }
    }
}

/// The first `path:line:text` hit of a search result: (path, line number).
fn first_hit(output: &str) -> Option<(&str, &str)> {
    let line = output.lines().next()?;
    let mut parts = line.splitn(3, ':');
    Some((parts.next()?, parts.next()?))
}

impl Task {
    /// Creates the task's files under `root`, the workspace a run starts from.
    pub fn write_files(&self, root: &std::path::Path) -> std::io::Result<()> {
        for (path, content) in &self.files {
            let file = root.join(path);
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&file, content)?;
        }
        Ok(())
    }

    /// What the model should write at `step` (0-based) of the run, given the output of the
    /// previous tool call: harmony text with special tokens written out. `None` when the
    /// previous output is not what this task expects (the episode is then unusable).
    pub fn completion(&self, step: usize, last_output: Option<&str>) -> Option<String> {
        let call = |thought: String, recipient: &str, arguments: serde_json::Value| {
            format!(
                "<|channel|>analysis<|message|>{thought}<|end|><|start|>assistant to={recipient}<|channel|>analysis code<|message|>{arguments}<|call|>"
            )
        };
        let answer = |text: String| format!("<|channel|>final<|message|>{text}<|return|>");
        let subject = &self.subject;
        let text = &self.text;
        Some(match (self.kind, step) {
            (Kind::Read, 0) => call(
                format!("I need to read {subject}."),
                "repo_browser.open_file",
                serde_json::json!({ "path": subject }),
            ),
            (Kind::Read, 1) => answer(format!("{subject} says: {text}")),
            (Kind::Create, 0) => call(
                format!("I will add {subject}."),
                "repo_browser.apply_patch",
                serde_json::json!({
                    "patch": format!("*** Begin Patch\n*** Add File: {subject}\n+{text}\n*** End Patch")
                }),
            ),
            (Kind::Create, 1) => answer(format!("Created {subject}.")),
            (Kind::Search | Kind::SearchOpen, 0) => call(
                format!("I should search for {subject}."),
                "repo_browser.search",
                serde_json::json!({ "path": "", "query": subject }),
            ),
            (Kind::Search, 1) => {
                let (path, _) = first_hit(last_output?)?;
                answer(format!("{subject} is used in {path}."))
            }
            (Kind::SearchOpen, 1) => {
                let (path, _) = first_hit(last_output?)?;
                call(
                    format!("It is in {path}. Open it."),
                    "repo_browser.open_file",
                    serde_json::json!({ "path": path }),
                )
            }
            (Kind::SearchOpen, 2) => answer(format!("The line is: {text}")),
            (Kind::Exec, 0) => call(
                format!("I will run {subject}."),
                "container.exec",
                serde_json::json!({ "command": ["bash", "-lc", format!("sh {subject}")] }),
            ),
            (Kind::Exec, 1) => answer(format!("It prints: {text}")),
            _ => return None,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn splits_never_share_a_word() {
        let mut train = Generator::new(1, Split::Train);
        let mut heldout = Generator::new(1, Split::Heldout);
        let a: std::collections::HashSet<String> = (0..2000).map(|_| train.word()).collect();
        let b: std::collections::HashSet<String> = (0..2000).map(|_| heldout.word()).collect();
        assert!(a.len() > 500 && b.len() > 300);
        assert!(a.is_disjoint(&b));
    }

    #[test]
    fn tasks_are_deterministic_and_complete() {
        for kind in Kind::ALL {
            let a = Generator::new(3, Split::Train).task(kind);
            let b = Generator::new(3, Split::Train).task(kind);
            assert_eq!(a, b);
            assert!(
                a.files.iter().any(|(p, _)| a.request.contains(p.as_str()))
                    || kind == Kind::Create
                    || matches!(kind, Kind::Search | Kind::SearchOpen)
            );
            assert!(a.completion(0, None).unwrap().ends_with("<|call|>"));
        }
    }

    #[test]
    fn heldout_requests_are_worded_as_training_never_is() {
        let mut train = Generator::new(1, Split::Train);
        let mut heldout = Generator::new(1, Split::Heldout);
        for kind in Kind::ALL {
            let seen: std::collections::HashSet<String> =
                (0..5000).map(|_| train.wording(kind)).collect();
            let phrasings = if kind == Kind::Create { 7 } else { 8 };
            assert_eq!(
                seen.len(),
                10 * phrasings,
                "{kind:?}: every combination appears"
            );
            for _ in 0..50 {
                let request = heldout.wording(kind);
                assert!(!seen.contains(&request), "{request}");
            }
        }
    }

    #[test]
    fn search_answers_name_the_first_hit() {
        let task = Generator::new(5, Split::Train).task(Kind::Search);
        let answer = task
            .completion(1, Some("a/b.txt:2:x y\nc.txt:1:z"))
            .unwrap();
        assert!(answer.contains("is used in a/b.txt."), "{answer}");
        assert!(task.completion(1, Some("")).is_none());
    }
}
