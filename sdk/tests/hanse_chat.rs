//! hanse-chat, the built binary, against a real server: two users chat in
//! an encrypted room one command at a time, a new device restores the
//! history from the key backup, and mistakes get clear messages.
//!
//! Needs the shared test PostgreSQL: run with `cargo hanse-test -p
//! hanse-sdk`.

use std::path::Path;
use std::process::Output;

use hanse_sdk::Client;
use hanse_server::testing::TestServer;

const PASSWORD: &str = "a long and winding password";

/// Runs hanse-chat with the store `store` and `args`.
async fn chat(store: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_hanse-chat"))
        .arg("--store")
        .arg(store)
        .args(args)
        .env_remove("HANSE_CHAT_PASSWORD")
        .env_remove("HANSE_CHAT_STORE")
        .output()
        .await
        .expect("running hanse-chat")
}

/// Runs hanse-chat, which must succeed; returns its standard output.
async fn chat_ok(store: &Path, args: &[&str]) -> String {
    let output = chat(store, args).await;
    assert!(
        output.status.success(),
        "hanse-chat {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// Runs hanse-chat, which must fail; returns its standard error.
async fn chat_fails(store: &Path, args: &[&str]) -> String {
    let output = chat(store, args).await;
    assert!(!output.status.success(), "hanse-chat {args:?} succeeded");
    String::from_utf8(output.stderr).expect("UTF-8 output")
}

#[tokio::test(flavor = "multi_thread")]
async fn two_users_chat_encrypted_and_a_new_device_restores_the_history() {
    let server = TestServer::start().await;
    let url = server.client_url.as_str();
    let anonymous = Client::new(url);
    let alice = anonymous.register("alice", PASSWORD, None).await.unwrap();
    anonymous.register("bob", PASSWORD, None).await.unwrap();
    let dirs = tempfile::tempdir().unwrap();
    let (alice_store, bob_store, laptop_store) = (
        dirs.path().join("alice"),
        dirs.path().join("bob"),
        dirs.path().join("alice-laptop"),
    );

    for (store, name) in [(&alice_store, "alice"), (&bob_store, "bob")] {
        chat_ok(
            store,
            &[
                "login",
                "--url",
                url,
                "--user",
                name,
                "--password",
                PASSWORD,
            ],
        )
        .await;
    }
    let room = chat_ok(&alice_store, &["create", "--encrypted", "--public"]).await;
    let room = room.trim();
    assert!(room.starts_with('!'), "{room}");
    assert_eq!(chat_ok(&bob_store, &["join", room]).await.trim(), room);

    chat_ok(&alice_store, &["send", room, "the ship sails at noon"]).await;
    chat_ok(&bob_store, &["send", room, "I will be on board"]).await;
    let alice_id = &alice.user_id;
    let bob_id = alice_id.replace("@alice", "@bob");
    let expected = format!("{alice_id}: the ship sails at noon\n{bob_id}: I will be on board\n");
    assert_eq!(chat_ok(&bob_store, &["read", room]).await, expected);
    assert_eq!(chat_ok(&alice_store, &["read", room]).await, expected);
    assert_eq!(
        chat_ok(&bob_store, &["read", room, "--limit", "1"]).await,
        format!("{bob_id}: I will be on board\n")
    );

    // A new device of alice's reads nothing until it restores the backup.
    let recovery_key = chat_ok(&alice_store, &["backup-create"]).await;
    chat_ok(
        &laptop_store,
        &[
            "login",
            "--url",
            url,
            "--user",
            "alice",
            "--password",
            PASSWORD,
        ],
    )
    .await;
    let unreadable = chat_ok(&laptop_store, &["read", room]).await;
    assert_eq!(
        unreadable.matches("[cannot decrypt:").count(),
        2,
        "{unreadable}"
    );
    let restored = chat_ok(&laptop_store, &["backup-restore", recovery_key.trim()]).await;
    assert!(
        restored.starts_with("restored 2 new room keys"),
        "{restored}"
    );
    assert_eq!(chat_ok(&laptop_store, &["read", room]).await, expected);

    // Mistakes are explained.
    let error = chat_fails(&dirs.path().join("nobody"), &["read", room]).await;
    assert!(error.contains("run `hanse-chat login` first"), "{error}");
    let error = chat_fails(
        &alice_store,
        &[
            "login",
            "--url",
            url,
            "--user",
            "alice",
            "--password",
            PASSWORD,
        ],
    )
    .await;
    assert!(error.contains("is not empty"), "{error}");
    let error = chat_fails(&bob_store, &["send", "!nowhere:example.org", "hello"]).await;
    assert!(error.contains("join it first"), "{error}");
    let error = chat_fails(&laptop_store, &["backup-restore", "EsTc LW2K PGiF"]).await;
    assert!(error.contains("not a recovery key"), "{error}");
    let error = chat_fails(
        &dirs.path().join("wrong"),
        &[
            "login",
            "--url",
            url,
            "--user",
            "alice",
            "--password",
            "wrong",
        ],
    )
    .await;
    assert!(error.contains("M_FORBIDDEN"), "{error}");
    server.stop().await;
}
