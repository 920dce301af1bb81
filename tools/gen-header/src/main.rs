//! Writes include/mediaflow.h from crates/capi with cbindgen, or with `--check` fails
//! when the committed header differs from what the code generates.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let check = std::env::args().any(|a| a == "--check");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let crate_dir = root.join("crates/capi");
    let mut config = match cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gen-header: {e}");
            return ExitCode::FAILURE;
        }
    };
    let version = env!("CARGO_PKG_VERSION");
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor, patch) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    // The version defines follow the conventions text of cbindgen.toml's after_includes.
    let conventions = config.after_includes.take().unwrap_or_default();
    config.after_includes = Some(format!(
        "{conventions}\n#define MEDIAFLOW_VERSION \"{version}\"\n#define MEDIAFLOW_VERSION_MAJOR {major}\n#define MEDIAFLOW_VERSION_MINOR {minor}\n#define MEDIAFLOW_VERSION_PATCH {patch}"
    ));
    let bindings = match cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
    {
        Ok(b) => b,
        Err(e) => {
            eprintln!("gen-header: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let path = root.join("include/mediaflow.h");
    if check {
        let current = std::fs::read(&path).unwrap_or_default();
        if current != generated {
            eprintln!(
                "include/mediaflow.h is stale: run `cargo run -p mediaflow-gen-header` and commit it"
            );
            return ExitCode::FAILURE;
        }
        println!("include/mediaflow.h is up to date");
        return ExitCode::SUCCESS;
    }
    if let Err(e) =
        std::fs::create_dir_all(root.join("include")).and_then(|_| std::fs::write(&path, generated))
    {
        eprintln!("gen-header: {e}");
        return ExitCode::FAILURE;
    }
    println!("wrote {}", path.display());
    ExitCode::SUCCESS
}
