fn main() {
  napi_build::setup();
  // `cargo test` links a plain executable: the Node-API symbols are resolved by the host
  // runtime only, and the unit tests never call them.
  if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
    println!("cargo:rustc-link-arg=-Wl,--unresolved-symbols=ignore-in-object-files");
  }
}
