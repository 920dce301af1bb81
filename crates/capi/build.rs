//! Writes a pkg-config file and a CMake package config next to the built libraries
//! (target/<profile>/), so C and C++ hosts can find mediaflow after `cargo build`:
//! `PKG_CONFIG_PATH=target/release pkg-config --libs --static mediaflow`, or
//! `find_package(mediaflow)` with `-Dmediaflow_DIR=target/release/cmake`.

use std::path::{Path, PathBuf};

/// What the static library needs from the system (`--print native-static-libs`).
const NATIVE_LIBS: &str = "-lvpx -lstdc++ -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let Some(out_dir) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return;
    };
    // OUT_DIR is target/<profile>/build/<crate>-<hash>/out.
    let Some(profile_dir) = out_dir.ancestors().nth(3).map(Path::to_path_buf) else {
        return;
    };
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let include = manifest.join("../../include");
    let include = include.canonicalize().unwrap_or(include);
    let lib = profile_dir.canonicalize().unwrap_or(profile_dir.clone());
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let pc = format!(
        "prefix={lib}\nincludedir={include}\nlibdir={lib}\n\nName: mediaflow\nDescription: Embeddable WebRTC media engine (Kurento's MediaPipeline in-process)\nVersion: {version}\nCflags: -I${{includedir}}\nLibs: -L${{libdir}} -lmediaflow_capi\nLibs.private: {NATIVE_LIBS}\n",
        lib = lib.display(),
        include = include.display(),
    );
    let cmake = format!(
        "# mediaflow's CMake package: find_package(mediaflow) then link mediaflow::mediaflow\n\
         # (static) or mediaflow::shared.\n\
         set(mediaflow_VERSION \"{version}\")\n\
         if(NOT TARGET mediaflow::mediaflow)\n\
         \x20 add_library(mediaflow::mediaflow STATIC IMPORTED)\n\
         \x20 set_target_properties(mediaflow::mediaflow PROPERTIES\n\
         \x20   IMPORTED_LOCATION \"{lib}/libmediaflow_capi.a\"\n\
         \x20   INTERFACE_INCLUDE_DIRECTORIES \"{include}\"\n\
         \x20   INTERFACE_LINK_LIBRARIES \"{cmake_libs}\")\n\
         \x20 add_library(mediaflow::shared SHARED IMPORTED)\n\
         \x20 set_target_properties(mediaflow::shared PROPERTIES\n\
         \x20   IMPORTED_LOCATION \"{lib}/libmediaflow_capi.so\"\n\
         \x20   INTERFACE_INCLUDE_DIRECTORIES \"{include}\")\n\
         endif()\n",
        lib = lib.display(),
        include = include.display(),
        cmake_libs = NATIVE_LIBS
            .split_whitespace()
            .map(|l| l.trim_start_matches("-l"))
            .collect::<Vec<_>>()
            .join(";"),
    );
    let _ = std::fs::write(profile_dir.join("mediaflow.pc"), pc);
    let cmake_dir = profile_dir.join("cmake");
    let _ = std::fs::create_dir_all(&cmake_dir);
    let _ = std::fs::write(cmake_dir.join("mediaflowConfig.cmake"), cmake);
    let _ = std::fs::write(
        cmake_dir.join("mediaflowConfigVersion.cmake"),
        format!(
            "set(PACKAGE_VERSION \"{version}\")\nif(PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION)\n  set(PACKAGE_VERSION_COMPATIBLE FALSE)\nelse()\n  set(PACKAGE_VERSION_COMPATIBLE TRUE)\nendif()\n"
        ),
    );
}
