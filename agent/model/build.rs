//! Marks the tests that need a llama-server binary as ignored when `OSSA_LLAMA_SERVER` is
//! not set, so `cargo test` lists them as ignored (with the reason) instead of passing
//! them silently. Setting or changing the variable rebuilds the tests.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(ossa_llama_server)");
    println!("cargo::rerun-if-env-changed=OSSA_LLAMA_SERVER");
    if std::env::var_os("OSSA_LLAMA_SERVER").is_some_and(|path| !path.is_empty()) {
        println!("cargo::rustc-cfg=ossa_llama_server");
    }
}
