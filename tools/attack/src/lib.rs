//! A deliberately malicious tool: each `attack` tries one way out of the sandbox, the
//! way hostile tool code would, without the SDK's path checks. The attack suite in
//! `sandbox/tests/attacks.rs` runs every one and checks the typed error and that
//! nothing outside the grants changed.

use std::hint::black_box;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ossa_tool_sdk::{Tool, ToolError};
use schemars::JsonSchema;
use serde::Deserialize;

/// Arguments of the attack tool.
#[derive(Deserialize, JsonSchema)]
struct Args {
    /// Which attack to run.
    attack: String,
    /// A path, address or variable name, depending on the attack.
    target: Option<String>,
    /// A second path (the link name for `symlink`) or data to write.
    extra: Option<String>,
    /// A size in MiB or a count, depending on the attack.
    amount: Option<u64>,
}

struct Attack;

impl Tool for Attack {
    type Args = Args;
    const NAME: &'static str = "attack";
    const DESCRIPTION: &'static str = "Tries to escape the sandbox. For tests only.";

    fn call(args: Args) -> Result<String, ToolError> {
        let target = args.target.unwrap_or_default();
        let amount = args.amount.unwrap_or(1);
        match args.attack.as_str() {
            "read" => std::fs::read_to_string(&target).map_err(|err| ToolError::io(&target, &err)),
            "write" => std::fs::write(&target, args.extra.unwrap_or_default())
                .map(|()| format!("wrote {target}"))
                .map_err(|err| ToolError::io(&target, &err)),
            "symlink" => {
                let link = args.extra.unwrap_or_default();
                plant_symlink(&target, &link).map_err(|err| ToolError::io(&link, &err))?;
                std::fs::read_to_string(&link).map_err(|err| ToolError::io(&link, &err))
            }
            "env" => std::env::var(&target)
                .map_err(|_| ToolError::Failed(format!("{target} is not set"))),
            "env_all" => Ok(std::env::vars()
                .map(|(name, _)| name)
                .collect::<Vec<_>>()
                .join(",")),
            "connect" => std::net::TcpStream::connect(&target)
                .map(|_| format!("connected to {target}"))
                .map_err(|err| ToolError::io(&target, &err)),
            "loop" => {
                let mut counter = 0u64;
                loop {
                    counter = black_box(counter.wrapping_add(1));
                }
            }
            "sleep" => {
                std::thread::sleep(Duration::from_secs(3600));
                Ok("woke up".to_owned())
            }
            "alloc" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                for _ in 0..amount {
                    hoard.push(vec![1u8; 1 << 20]);
                }
                Ok(format!("allocated {} MiB", black_box(hoard).len()))
            }
            "recurse" => Ok(format!("depth {}", recurse(black_box(amount)))),
            "stdout" => {
                let mut stdout = std::io::stdout();
                loop {
                    if writeln!(
                        stdout,
                        "flooding stdout with text, flooding stdout with text"
                    )
                    .is_err()
                    {
                        return Err(ToolError::Failed("stdout refused more output".to_owned()));
                    }
                }
            }
            "big_file" => {
                let chunk = vec![b'x'; 1 << 20];
                let mut file =
                    std::fs::File::create(&target).map_err(|err| ToolError::io(&target, &err))?;
                for _ in 0..amount {
                    file.write_all(&chunk)
                        .map_err(|err| ToolError::io(&target, &err))?;
                }
                Ok(format!("wrote {amount} MiB"))
            }
            "big_output" => Ok("y".repeat((amount as usize) << 20)),
            "remember" => Ok(remember(args.extra.unwrap_or_default(), amount)),
            "panic" => panic!("the attack tool panicked on purpose"),
            "exit" => std::process::exit(3),
            other => Err(ToolError::InvalidArgs(format!("unknown attack {other}"))),
        }
    }
}

/// `symlink(2)` from wasi-libc (the standard library's version is unstable on WASI).
fn plant_symlink(target: &str, link: &str) -> std::io::Result<()> {
    use std::ffi::{CString, c_char, c_int};
    unsafe extern "C" {
        fn symlink(target: *const c_char, link: *const c_char) -> c_int;
    }
    let target = CString::new(target).map_err(std::io::Error::other)?;
    let link = CString::new(link).map_err(std::io::Error::other)?;
    // SAFETY: both arguments are valid NUL-terminated strings that outlive the call.
    if unsafe { symlink(target.as_ptr(), link.as_ptr()) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Leaves `secret` behind in static memory and `amount` MiB of heap, and reports what
/// an earlier call left: a call must start from the component's initial memory, not
/// from what the last call of the same pooled slot wrote.
fn remember(secret: String, amount: u64) -> String {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    static LAST: Mutex<String> = Mutex::new(String::new());
    let calls = CALLS.fetch_add(1, Ordering::SeqCst);
    let mut last = LAST.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let before = std::mem::replace(&mut *last, secret.clone());
    // Heap pages full of the secret, never freed.
    let heap = secret.repeat(((amount as usize) << 20) / secret.len().max(1));
    std::mem::forget(black_box(heap));
    format!("calls before this one: {calls}; secret left before: {before:?}")
}

/// Recursion that the optimiser cannot turn into a loop.
fn recurse(depth: u64) -> u64 {
    if depth == 0 {
        return 0;
    }
    let frame = black_box([depth; 16]);
    1 + recurse(black_box(frame[3] - 1)) + black_box(frame[0]) - depth
}

ossa_tool_sdk::export_tool!(Attack);
