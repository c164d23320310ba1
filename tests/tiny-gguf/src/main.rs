//! `tiny-gguf`: writes a tiny random gpt-oss GGUF.
//!
//! `tiny-gguf [--vocab tiny|o200k] [--seed N] [--expert-type mxfp4|f16|f32] --out PATH`

use std::path::PathBuf;
use std::process::ExitCode;

use ossa_tiny_gguf::gguf::TensorType;
use ossa_tiny_gguf::{Spec, write};

const USAGE: &str =
    "usage: tiny-gguf [--vocab tiny|o200k] [--seed N] [--expert-type mxfp4|f16|f32] --out PATH";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(path) => {
            println!("{}", path.display());
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("error: {msg}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<PathBuf, String> {
    let mut spec = Spec::tiny();
    let mut out = None;
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--vocab" => {
                spec.vocab = match value()?.as_str() {
                    "tiny" => Spec::tiny().vocab,
                    "o200k" => Spec::o200k().vocab,
                    other => return Err(format!("unknown vocabulary '{other}'")),
                }
            }
            "--seed" => {
                let v = value()?;
                spec.seed = v
                    .parse()
                    .map_err(|_| format!("--seed: '{v}' is not a number"))?;
            }
            "--expert-type" => {
                spec.expert_type = match value()?.as_str() {
                    "mxfp4" => TensorType::Mxfp4,
                    "f16" => TensorType::F16,
                    "f32" => TensorType::F32,
                    other => return Err(format!("unknown expert type '{other}'")),
                }
            }
            "--out" => out = Some(PathBuf::from(value()?)),
            "-h" | "--help" => return Err("help requested".into()),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    let out = out.ok_or("--out is required")?;
    write(&spec, &out).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    Ok(out)
}
