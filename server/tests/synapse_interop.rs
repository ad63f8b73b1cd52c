//! Hanse and Synapse federating: deploy/interop/synapse-federation.sh
//! starts one of each (Synapse 1.163.2 from PyPI, cached in
//! ~/.cache/hanse-interop) with TLS from a private CA, and drives both
//! through their client APIs: joins both ways, messages, redactions, power
//! levels, renames and leaves, the same members on both sides, and invites,
//! rejections and knocks both ways. Here it
//! runs on this build's `hanse` for the default room version (Synapse's,
//! 12); the script alone covers versions 3 to 12.

use std::process::Command;

#[test]
fn hanse_and_synapse_federate_both_ways() {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/interop/synapse-federation.sh"
    );
    let output = Command::new("bash")
        .arg(script)
        .env("INTEROP_HANSE_BIN", env!("CARGO_BIN_EXE_hanse"))
        .env("ROOM_VERSIONS", "default")
        .output()
        .expect("running the interop script");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("PASS"),
        "the Synapse interop script failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}
