//! Which GGUF files of a repository make the model the user asked for.
//!
//! A repository holds models: a single `.gguf`, or the parts of a split one
//! (`NAME-00001-of-00003.gguf`, …, as llama.cpp's `gguf-split` writes them). Multimodal
//! projectors (`mmproj-*.gguf`) are not language models and are never chosen.

use std::collections::BTreeMap;

use super::{HubError, RepoId};

/// One model in a repository: its parts in order (one for an unsplit file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModelFiles {
    /// What the user sees in lists and matches a quantisation tag against: the file path,
    /// or for a split model the path without the `-0000i-of-0000n.gguf` suffix.
    pub name: String,
    /// The paths of the parts, first part first.
    pub parts: Vec<String>,
    /// How many parts the names announce (1 for an unsplit file).
    pub expected_parts: u32,
}

impl ModelFiles {
    fn label(&self) -> String {
        if self.expected_parts > 1 {
            format!("{} ({} parts)", self.parts[0], self.expected_parts)
        } else {
            self.name.clone()
        }
    }
}

/// `(prefix, index, count)` of a split part name `PREFIX-00002-of-00003.gguf`.
pub(crate) fn split_part(path: &str) -> Option<(&str, u32, u32)> {
    let stem = path.strip_suffix(".gguf")?;
    let (rest, count) = stem.rsplit_once("-of-")?;
    let (prefix, index) = rest.rsplit_once('-')?;
    let digits = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(index) || !digits(count) {
        return None;
    }
    let (index, count) = (index.parse().ok()?, count.parse().ok()?);
    (index >= 1 && index <= count && !prefix.is_empty()).then_some((prefix, index, count))
}

/// The models among a repository's files.
pub(crate) fn models<'a>(paths: impl IntoIterator<Item = &'a str>) -> Vec<ModelFiles> {
    let mut singles = Vec::new();
    let mut splits: BTreeMap<(String, u32), Vec<(u32, String)>> = BTreeMap::new();
    for path in paths {
        let base = path.rsplit('/').next().unwrap_or(path);
        if !path.to_ascii_lowercase().ends_with(".gguf")
            || base.to_ascii_lowercase().starts_with("mmproj")
        {
            continue;
        }
        match split_part(path) {
            Some((prefix, index, count)) if count > 1 => splits
                .entry((prefix.to_string(), count))
                .or_default()
                .push((index, path.to_string())),
            _ => singles.push(ModelFiles {
                name: path.to_string(),
                parts: vec![path.to_string()],
                expected_parts: 1,
            }),
        }
    }
    let mut all = singles;
    for ((prefix, count), mut parts) in splits {
        parts.sort();
        parts.dedup_by_key(|(index, _)| *index);
        all.push(ModelFiles {
            name: prefix,
            parts: parts.into_iter().map(|(_, path)| path).collect(),
            expected_parts: count,
        });
    }
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all
}

/// Does `tag` occur in `name` as a whole field: after the start or `-` `_` `.` `/`, and
/// before the end or `-` `.` `/`? (`Q4_K` is a whole field of `m-Q4_K.gguf`, not of
/// `m-Q4_K_M.gguf`.)
fn whole_field(name: &str, tag: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let tag = tag.to_ascii_lowercase();
    name.match_indices(&tag).any(|(at, _)| {
        let before = name[..at].chars().next_back();
        let after = name[at + tag.len()..].chars().next();
        before.is_none_or(|c| "-_./".contains(c)) && after.is_none_or(|c| "-./".contains(c))
    })
}

/// The parts of the model `selector` names among `paths` (see [`super::HubRef`]).
pub(crate) fn choose<'a>(
    repo: &RepoId,
    paths: impl IntoIterator<Item = &'a str>,
    selector: Option<&str>,
) -> Result<Vec<String>, HubError> {
    let models = models(paths);
    let choices = || models.iter().map(ModelFiles::label).collect::<Vec<_>>();
    let chosen = match selector {
        None => match models.as_slice() {
            [] => return Err(HubError::NoGguf { repo: repo.clone() }),
            [one] => one,
            _ => {
                return Err(HubError::Ambiguous {
                    repo: repo.clone(),
                    selector: None,
                    choices: choices(),
                });
            }
        },
        Some(selector) => {
            let exact = models
                .iter()
                .find(|m| m.parts.iter().any(|part| part == selector));
            match exact {
                Some(model) => model,
                None => {
                    let lower = selector.to_ascii_lowercase();
                    let containing: Vec<&ModelFiles> = models
                        .iter()
                        .filter(|m| m.name.to_ascii_lowercase().contains(&lower))
                        .collect();
                    let whole: Vec<&ModelFiles> = containing
                        .iter()
                        .copied()
                        .filter(|m| whole_field(&m.name, selector))
                        .collect();
                    match (whole.as_slice(), containing.as_slice()) {
                        ([one], _) | ([], [one]) => *one,
                        (_, []) => {
                            return Err(HubError::NoMatch {
                                repo: repo.clone(),
                                selector: selector.to_string(),
                                choices: choices(),
                            });
                        }
                        (many, all) => {
                            let many = if many.is_empty() { all } else { many };
                            return Err(HubError::Ambiguous {
                                repo: repo.clone(),
                                selector: Some(selector.to_string()),
                                choices: many.iter().map(|m| m.label()).collect(),
                            });
                        }
                    }
                }
            }
        }
    };
    if chosen.parts.len() as u32 != chosen.expected_parts {
        let missing = (1..=chosen.expected_parts)
            .filter(|i| {
                !chosen
                    .parts
                    .iter()
                    .any(|p| split_part(p).is_some_and(|(_, index, _)| index == *i))
            })
            .collect();
        return Err(HubError::IncompleteSplit {
            repo: repo.clone(),
            model: chosen.name.clone(),
            missing,
        });
    }
    Ok(chosen.parts.clone())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn repo() -> RepoId {
        "o/r".parse().unwrap()
    }

    const UNSLOTH_LIKE: &[&str] = &[
        "README.md",
        ".gitattributes",
        "gpt-oss-20b-Q4_K_M.gguf",
        "gpt-oss-20b-Q4_K.gguf",
        "gpt-oss-20b-Q8_0.gguf",
        "gpt-oss-20b-F16.gguf",
        "mmproj-F16.gguf",
        "BF16/gpt-oss-20b-BF16-00001-of-00002.gguf",
        "BF16/gpt-oss-20b-BF16-00002-of-00002.gguf",
    ];

    #[test]
    fn a_single_gguf_needs_no_selector() {
        let files = ["README.md", "gpt-oss-20b-mxfp4.gguf"];
        assert_eq!(
            choose(&repo(), files, None).unwrap(),
            ["gpt-oss-20b-mxfp4.gguf"]
        );
        assert_eq!(
            choose(&repo(), files, Some("MXFP4")).unwrap(),
            ["gpt-oss-20b-mxfp4.gguf"]
        );
    }

    #[test]
    fn split_parts_are_one_model_fetched_together() {
        let files = [
            "gpt-oss-120b-mxfp4-00002-of-00003.gguf",
            "gpt-oss-120b-mxfp4-00001-of-00003.gguf",
            "gpt-oss-120b-mxfp4-00003-of-00003.gguf",
        ];
        let expected = [
            "gpt-oss-120b-mxfp4-00001-of-00003.gguf",
            "gpt-oss-120b-mxfp4-00002-of-00003.gguf",
            "gpt-oss-120b-mxfp4-00003-of-00003.gguf",
        ];
        assert_eq!(choose(&repo(), files, None).unwrap(), expected);
        assert_eq!(choose(&repo(), files, Some("mxfp4")).unwrap(), expected);
        // Naming any part selects the whole model.
        assert_eq!(choose(&repo(), files, Some(files[0])).unwrap(), expected);

        let err = choose(&repo(), files[..2].iter().copied(), None).unwrap_err();
        assert!(
            matches!(&err, HubError::IncompleteSplit { missing, .. } if missing == &[3]),
            "{err}"
        );
    }

    #[test]
    fn quant_tags_match_whole_fields_first_then_substrings() {
        let pick = |s| choose(&repo(), UNSLOTH_LIKE.iter().copied(), Some(s));
        assert_eq!(pick("q4_k_m").unwrap(), ["gpt-oss-20b-Q4_K_M.gguf"]);
        // Q4_K is a whole field of one name and a substring of another: the field wins.
        assert_eq!(pick("Q4_K").unwrap(), ["gpt-oss-20b-Q4_K.gguf"]);
        assert_eq!(
            pick("bf16").unwrap(),
            [
                "BF16/gpt-oss-20b-BF16-00001-of-00002.gguf",
                "BF16/gpt-oss-20b-BF16-00002-of-00002.gguf"
            ]
        );
        assert_eq!(
            pick("gpt-oss-20b-Q8_0.gguf").unwrap(),
            ["gpt-oss-20b-Q8_0.gguf"]
        );
        // The projector is never a candidate.
        assert!(matches!(pick("F16"), Ok(parts) if parts == ["gpt-oss-20b-F16.gguf"]));

        let err = pick("Q5_K_M").unwrap_err().to_string();
        assert!(
            err.contains("Q5_K_M") && err.contains("gpt-oss-20b-Q8_0.gguf"),
            "{err}"
        );
        assert!(!err.contains("mmproj"), "{err}");
        let err = pick("Q").unwrap_err();
        assert!(matches!(err, HubError::Ambiguous { .. }), "{err}");
    }

    #[test]
    fn several_models_and_no_selector_list_the_choices() {
        let err = choose(&repo(), UNSLOTH_LIKE.iter().copied(), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("gpt-oss-20b-Q4_K_M.gguf"), "{err}");
        assert!(
            err.contains("BF16/gpt-oss-20b-BF16-00001-of-00002.gguf (2 parts)"),
            "{err}"
        );
        let err = choose(&repo(), ["README.md"], None).unwrap_err();
        assert!(matches!(err, HubError::NoGguf { .. }), "{err}");
    }

    #[test]
    fn split_names_follow_llama_cpp() {
        assert_eq!(split_part("a-00001-of-00003.gguf"), Some(("a", 1, 3)));
        assert_eq!(
            split_part("d/a-b-00003-of-00003.gguf"),
            Some(("d/a-b", 3, 3))
        );
        assert_eq!(split_part("a-0001-of-0003.gguf"), None);
        assert_eq!(split_part("a-00004-of-00003.gguf"), None);
        assert_eq!(split_part("a.gguf"), None);
    }
}
