// A build script makes cargo take the `[build-dependencies]` into account.
fn main() {}
